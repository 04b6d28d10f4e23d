"""Cleanup planning over an embedded registry of 100,000 versions.

Usage: python benchmarks/cleanup_plan_scale.py [--models 100] [--versions 1000] [--runs 5]

Builds the registry with bulk SQL (the schema aliasgate writes): ``--models`` models of
``--versions`` versions each, ages spread over 0-60 days, two aliases per model, metrics, and
lineage (every version derived from a version of ``base``, which has no retention rule, so
lineage protection walks across models). The policy has one rule for ``model-*`` with ttl,
keep_last and ``keep_if: top 5 by val_f1``.

Times (a) whole ``promote cleanup --dry-run --json`` processes (read, decide, render 100,000
verdicts as JSON) and (b) in one process, the two halves of planning: reading every version
(``read_snapshot``) and deciding (``decide``, pure). Medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load, run_once

from aliasgate import retention
from aliasgate.model import Principal, iso, utcnow
from aliasgate.policy import load_text
from aliasgate.registry.local import LocalRegistry

POLICY = """version: 1
retention:
  - name: models
    model: "model-*"
    ttl: 30d
    keep_last: 10
    keep_if:
      - {metric: val_f1, top: 5}
"""


def build(db: Path, models: int, versions: int) -> None:
    LocalRegistry(db, create=True)
    rnd = random.Random(11)
    now = utcnow()
    base_versions = 50
    conn = sqlite3.connect(db)
    with conn:
        names = ["base", *(f"model-{m:03d}" for m in range(models))]
        conn.executemany(
            "INSERT INTO models(id, name, created_at, next_version) VALUES (?, ?, ?, ?)",
            [
                (i + 1, n, iso(now), (base_versions if n == "base" else versions) + 1)
                for i, n in enumerate(names)
            ],
        )
        rows = [
            (1, v, iso(now - timedelta(days=90 - v)), "trainer", "{}", "{}")
            for v in range(1, base_versions + 1)
        ]
        lineage = []
        for m in range(models):
            mid = m + 2
            for v in range(1, versions + 1):
                created = iso(now - timedelta(days=60 * (versions - v) / versions, minutes=5))
                metrics = json.dumps({"val_f1": round(rnd.uniform(0.7, 0.95), 5)})
                rows.append(
                    (mid, v, created, "trainer", json.dumps({"git_commit": f"{m:03d}{v:05d}"}), metrics)
                )
                lineage.append((mid, v, "base", 1 + (v * base_versions) // (versions + 1)))
        conn.executemany(
            "INSERT INTO versions(model_id, number, created_at, created_by, metadata, metrics) VALUES (?,?,?,?,?,?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO lineage(model_id, number, input_model, input_number) VALUES (?, ?, ?, ?)", lineage
        )
        conn.executemany(
            "INSERT INTO aliases(model_id, alias, number) VALUES (?, ?, ?)",
            [
                (m + 2, a, n)
                for m in range(models)
                for a, n in (("production", versions // 3), ("staging", versions - 1))
            ],
        )
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aliasgate-cleanup-scale-"))
    db, pol = work / "big.db", work / "retention.yaml"
    t = time.perf_counter()
    build(db, args.models, args.versions)
    pol.write_text(POLICY, encoding="utf-8")
    setup = time.perf_counter() - t
    total = args.models * args.versions

    promote = str(Path(sys.executable).with_name("promote"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMOTE_", "GITHUB_"))}
    env["HOME"] = str(work)
    cmd = [promote, "cleanup", "-p", str(pol), "--registry", f"local:{db}", "--dry-run", "--json",
           "--max-deletions", str(total)]  # fmt: skip
    run_once(cmd, env=env)  # warm-up: page cache, policy cache
    samples = [run_once(cmd, env=env) for _ in range(args.runs)]
    if {s.returncode for s in samples} != {0}:
        raise SystemExit(f"cleanup failed: {[s.returncode for s in samples]}")

    rules = load_text(POLICY, str(pol)).retention
    reg = LocalRegistry(db)
    me = Principal("bench", False, "bench")
    reads, decides, deleted = [], [], 0
    for _ in range(args.runs):
        t0 = time.perf_counter()
        snap = retention.read_snapshot(reg, rules)
        t1 = time.perf_counter()
        plan = retention.decide(
            rules, snap, now=utcnow(), principal=me, registry=reg.uri, lineage_recorded=True
        )
        t2 = time.perf_counter()
        reads.append(t1 - t0)
        decides.append(t2 - t1)
        deleted = len(plan.deletions)

    walls = [s.wall for s in samples]
    rss = statistics.median(s.max_rss_kib for s in samples) / 1024
    print(f"<!-- {load()}; setup {setup:.1f} s; db {db.stat().st_size / 2**20:.0f} MiB -->")
    print("| registry | planned deletions | `cleanup --dry-run --json`, whole process (min–max) | peak RSS "
          "| read every version | decide (pure) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.models} models x {args.versions:,} versions (+ base) | {deleted:,} "
        f"| {statistics.median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f}) | {rss:.0f} MiB "
        f"| {statistics.median(reads):.2f} s | {statistics.median(decides):.2f} s |"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
