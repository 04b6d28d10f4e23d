"""`promote plan` over an embedded registry of 1,000 models x 100 versions with 1,000 rules.

Usage: python benchmarks/plan_scale.py [--models 1000] [--versions 100] [--runs 5]
Builds the registry with bulk SQL (fast to set up; the same schema aliasgate writes),
then times whole `promote plan` processes: wall time and peak RSS, median of runs.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load, run_once

from aliasgate.model import iso, utcnow
from aliasgate.registry.local import LocalRegistry


def build(db: Path, models: int, versions: int) -> None:
    LocalRegistry(db, create=True)
    rnd = random.Random(7)
    now = utcnow().timestamp()
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO models(id, name, created_at, next_version) VALUES (?, ?, ?, ?)",
            [(m + 1, f"model-{m:04d}", iso(utcnow()), versions + 1) for m in range(models)],
        )
        rows = []
        for m in range(models):
            for v in range(1, versions + 1):
                created = iso(utcnow().fromtimestamp(now - (versions - v) * 3600, utcnow().tzinfo))
                metrics = json.dumps(
                    {"val_f1": round(0.80 + v / 1000 + rnd.random() / 100, 4), "val_loss": 0.3}
                )
                metadata = json.dumps({"git_commit": f"{m:04d}{v:03d}", "framework": "pytorch"})
                rows.append((m + 1, v, created, "trainer", metadata, metrics))
        conn.executemany(
            "INSERT INTO versions(model_id, number, created_at, created_by, metadata, metrics) VALUES (?,?,?,?,?,?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO aliases(model_id, alias, number) VALUES (?, ?, ?)",
            [
                (m + 1, a, n)
                for m in range(models)
                for a, n in (("production", versions // 2), ("staging", versions))
            ],
        )
    conn.close()


def policy(path: Path, models: int) -> None:
    lines = ["version: 1", "promotions:"]
    for m in range(models):
        lines += [
            f"  - name: ship-{m:04d}",
            f"    model: model-{m:04d}",
            "    from: staging",
            "    to: production",
            "    gates:",
            "      - {metric: val_f1, min: 0.85}",
            "      - {metric: val_f1, beats: production, by: 0.001}",
            "      - {metadata: [git_commit, framework]}",
            "      - {max_age: 30d}",
        ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aliasgate-scale-"))
    db, pol = work / "big.db", work / "big.yaml"
    t = time.perf_counter()
    build(db, args.models, args.versions)
    policy(pol, args.models)
    setup = time.perf_counter() - t
    promote = str(Path(sys.executable).with_name("promote"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMOTE_", "GITHUB_"))}
    env["HOME"] = str(work)
    cmd = [promote, "plan", "-p", str(pol), "--registry", f"local:{db}", "--json"]
    first = run_once(cmd, env=env)  # validates the policy (jsonschema) and remembers the verdict
    samples = [run_once(cmd, env=env) for _ in range(args.runs)]
    codes = {s.returncode for s in [*samples, first]}
    if not codes <= {0, 3}:
        raise SystemExit(f"plan failed: {codes}")
    walls = [s.wall for s in samples]
    rss = statistics.median(s.max_rss_kib for s in samples) / 1024
    print(f"<!-- {load()}; setup {setup:.1f} s; db {db.stat().st_size / 2**20:.0f} MiB -->")
    print("| registry | rules | first run (validates policy) | wall, median of runs (min–max) | peak RSS |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.models:,} models x {args.versions} versions | {args.models:,} | {first.wall:.3f} s "
        f"| {statistics.median(walls):.3f} s ({min(walls):.3f}–{max(walls):.3f}) | {rss:.0f} MiB |"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
