"""Deletion throughput of `promote cleanup` on a real MLflow server, against a MlflowClient loop.

Usage: python benchmarks/cleanup_mlflow.py [--runs 3] [--versions 1000] [--shapes 1 8] [--parallel 8]

Starts a real ``mlflow server`` (``--workers 1``, as the tests run it) on 127.0.0.1. For each
shape (the deletions spread over 1 model, or over 8), every run creates a fresh set of models
with ``versions / models + 1`` versions each (outside the timing), then times one whole process
deleting all but the newest version of each:

* A: ``promote cleanup -p POLICY --registry URI --max-deletions N --parallel P`` (``keep_last: 0``):
  plan, then batches of up to 50 versions per model under the model's lock: re-read, every audit
  record written ahead in one request, then per version its aliases re-read and the delete, then
  one chain-head write (docs/backends/mlflow.md, "Deleting in batches");
* B: ``cleanup_mlflow_client.py`` in MLflow's own virtualenv: list, then a sequential
  ``MlflowClient.delete_model_version`` loop (no alias re-check, no lock, no audit).

A and B alternate (A B A B ...) after one warm-up pair. Prints Markdown for benchmarks/README.md:
medians of wall time and deletions per second, and the median of per-pair ratios B/A
(above 1: promote is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from common import Sample, load, run_once  # noqa: E402
from tests.servers.mlflow_server import MlflowServer, ensure_mlflow  # noqa: E402

CLIENT = Path(__file__).with_name("cleanup_mlflow_client.py")


def environment(work: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMOTE_", "GITHUB_", "MLFLOW_"))}
    env.update(HOME=str(work), MLFLOW_TRACKING_URI=url, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


def create(server: MlflowServer, models: int, per_model: int) -> list[str]:
    """Fresh models (four creations at a time: MLflow numbers versions safely under concurrency)."""
    names = [f"c{uuid.uuid4().hex[:8]}-{i}" for i in range(models)]
    for name in names:
        server.api("POST", "registered-models/create", {"name": name})
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda name: server.api(
                    "POST", "model-versions/create", {"name": name, "source": "s3://bench/model"}
                ),
                [name for name in names for _ in range(per_model + 1)],
            )
        )
    return names


def remaining(server: MlflowServer, names: list[str]) -> int:
    n = 0
    for name in names:
        found = server.api(
            "GET", "model-versions/search", params={"filter": f"name='{name}'", "max_results": "10000"}
        )
        n += len(found.get("model_versions", []))
    return n


def one(
    server: MlflowServer,
    cmd: list[str],
    models: int,
    per_model: int,
    env: dict[str, str],
    work: Path,
    *,
    ours: bool,
) -> Sample:
    """Fresh models, then one timed process that deletes all but the newest version of each."""
    names = create(server, models, per_model)
    if ours:
        policy = work / "retention.yaml"
        policy.write_text(
            "version: 1\nretention:\n" + "".join(f"  - {{model: {n}, keep_last: 0}}\n" for n in names)
        )
        full = [*cmd, "-p", str(policy)]
    else:
        full = [*cmd, *names]
    sample = run_once(full, env=env, cwd=str(work))
    if sample.returncode != 0 or remaining(server, names) != models:
        raise SystemExit(f"{full[:2]} failed (exit {sample.returncode})")
    return sample


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--shapes", type=int, nargs="+", default=[1, 8], help="numbers of models")
    ap.add_argument("--parallel", type=int, default=8, help="promote cleanup --parallel")
    ap.add_argument("--promote", default=str(Path(sys.executable).with_name("promote")))
    args = ap.parse_args()
    mlflow_python = str(ensure_mlflow())
    work = Path(tempfile.mkdtemp(prefix="aliasgate-cleanup-bench-"))
    server = MlflowServer(work / "server", python=Path(mlflow_python)).start()
    env = environment(work, server.url)
    a_cmd = [args.promote, "cleanup", "--registry", server.registry_uri,
             "--max-deletions", str(args.versions), "--parallel", str(args.parallel)]  # fmt: skip
    b_cmd = [mlflow_python, str(CLIENT)]
    print(f"<!-- {load()}; promote: {args.promote} -->")
    print(f"| deletions | A: `promote cleanup --parallel {args.parallel}` | A deletions/s | B: MlflowClient loop "
          "| B deletions/s | B/A wall (median of pairs) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    try:
        for models in args.shapes:
            per_model = args.versions // models
            one(server, a_cmd, models, per_model, env, work, ours=True)  # warm-up pair
            one(server, b_cmd, models, per_model, env, work, ours=False)
            a: list[Sample] = []
            b: list[Sample] = []
            for _ in range(args.runs):
                a.append(one(server, a_cmd, models, per_model, env, work, ours=True))
                b.append(one(server, b_cmd, models, per_model, env, work, ours=False))
            n = models * per_model
            ratio = statistics.median(y.wall / x.wall for x, y in zip(a, b, strict=True))
            (aw, ar), (bw, br) = cell(a, n), cell(b, n)
            print(f"| {n:,} in {models} model(s) | {aw} | {ar} | {bw} | {br} | {ratio:.2f}x |", flush=True)
    finally:
        server.stop()


def cell(samples: list[Sample], n: int) -> tuple[str, str]:
    walls = [s.wall for s in samples]
    med = statistics.median(walls)
    return f"{med:.1f} s ({min(walls):.1f}–{max(walls):.1f})", f"{n / med:.1f}"


if __name__ == "__main__":
    main()
