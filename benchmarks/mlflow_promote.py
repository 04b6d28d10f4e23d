"""One MLflow promotion, whole process: `promote apply` against the same done with MlflowClient.

Usage: python benchmarks/mlflow_promote.py [--runs 10] [--workers 1 4]

Starts real MLflow servers on 127.0.0.1 (``--workers 1`` as the tests run it, and MLflow's default
of 4), seeds the demo registry twice per server (one model for each side), then alternates
A = ``promote apply -p POLICY`` and B = ``mlflow_client_promote.py`` (MlflowClient, in the MLflow
virtualenv), resetting ``production`` to v2 before every run, outside the timing. Also counts
each side's HTTP requests through the recording proxy, and the import time of the ``promote``
process (``-X importtime``). Prints Markdown for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from common import Sample, load, run_once  # noqa: E402
from tests.servers import mlflow_seed  # noqa: E402
from tests.servers.mlflow_proxy import RecordingProxy  # noqa: E402
from tests.servers.mlflow_server import MlflowServer, ensure_mlflow  # noqa: E402

CLIENT = Path(__file__).with_name("mlflow_client_promote.py")
POLICY = """version: 1
promotions:
  - name: ship
    model: {model}
    from: staging
    to: production
    gates:
      - {{metric: val_f1, min: 0.89}}
      - {{metric: val_loss, max: 0.35}}
      - {{metric: val_f1, beats: production, by: 0.005}}
"""


def environment(work: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMOTE_", "GITHUB_", "MLFLOW_"))}
    env.update(HOME=str(work), MLFLOW_TRACKING_URI=url, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


def reset(server: MlflowServer, model: str) -> None:
    server.api("POST", "registered-models/alias", {"name": model, "alias": "production", "version": "2"})


def measure(
    server: MlflowServer, promote: str, mlflow_python: str, runs: int, work: Path
) -> dict[str, object]:
    ours = mlflow_seed.load(server, ROOT / "examples" / "demo-registry.yaml", prefix="ag-")["bert-classifier"]
    theirs = mlflow_seed.load(server, ROOT / "examples" / "demo-registry.yaml", prefix="mc-")[
        "bert-classifier"
    ]
    policy = work / f"policy-{server.port}.yaml"
    policy.write_text(POLICY.format(model=ours), encoding="utf-8")
    env = environment(work, server.url)
    a_cmd = [promote, "apply", "-p", str(policy), "--registry", server.registry_uri]
    b_cmd = [mlflow_python, str(CLIENT), theirs]

    def one(cmd: list[str], model: str) -> Sample:
        reset(server, model)
        sample = run_once(cmd, env=env, cwd=str(work))
        moved = server.api("GET", "registered-models/alias", params={"name": model, "alias": "production"})
        if sample.returncode != 0 or moved["model_version"]["version"] != "4":
            raise SystemExit(f"{cmd[:2]} failed (exit {sample.returncode})")
        return sample

    for _ in range(2):  # warm-up: page cache, .pyc files, the server's first requests
        one(a_cmd, ours)
        one(b_cmd, theirs)
    a: list[Sample] = []
    b: list[Sample] = []
    for _ in range(runs):
        a.append(one(a_cmd, ours))
        b.append(one(b_cmd, theirs))

    with RecordingProxy(server.url) as proxy:
        reset(server, ours)
        subprocess.run([*a_cmd[:-1], proxy.registry_uri], env=env, cwd=work, check=True, capture_output=True)
        ours_calls = proxy.calls()
        proxy.clear()
        reset(server, theirs)
        subprocess.run(
            b_cmd, env={**env, "MLFLOW_TRACKING_URI": proxy.url}, cwd=work, check=True, capture_output=True
        )
        theirs_calls = proxy.calls()
    return {"a": a, "b": b, "ours_calls": ours_calls, "theirs_calls": theirs_calls}


def import_time(promote: str, server: MlflowServer, work: Path) -> tuple[float, list[tuple[float, str]]]:
    """Total self time of every import in one `promote apply` process, and the top packages."""
    model = mlflow_seed.load(server, ROOT / "examples" / "demo-registry.yaml", prefix="it-")[
        "bert-classifier"
    ]
    policy = work / "policy-import.yaml"
    policy.write_text(POLICY.format(model=model), encoding="utf-8")
    totals: list[float] = []
    per_package: dict[str, list[float]] = {}
    for _ in range(5):
        reset(server, model)
        env = {**environment(work, server.url), "PYTHONPROFILEIMPORTTIME": "1"}
        out = subprocess.run(
            [promote, "apply", "-p", str(policy), "--registry", server.registry_uri],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        run_total = 0.0
        run_pkgs: dict[str, float] = {}
        for line in out.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if not m:
                continue
            self_us = int(m.group(1))
            run_total += self_us
            top = m.group(4).split(".")[0]
            run_pkgs[top] = run_pkgs.get(top, 0.0) + self_us
        totals.append(run_total / 1e6)
        for k, v in run_pkgs.items():
            per_package.setdefault(k, []).append(v / 1e6)
    top = sorted(((statistics.median(v), k) for k, v in per_package.items()), reverse=True)[:6]
    return statistics.median(totals), top


def mlflow_import(mlflow_python: str, work: Path) -> float:
    env = environment(work, "http://127.0.0.1:9")
    walls = [
        run_once([mlflow_python, "-c", "from mlflow import MlflowClient"], env=env).wall for _ in range(5)
    ]
    return statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--promote", default=str(Path(sys.executable).with_name("promote")))
    args = ap.parse_args()
    mlflow_python = str(ensure_mlflow())
    work = Path(tempfile.mkdtemp(prefix="aliasgate-mlflow-bench-"))
    print(f"<!-- {load()}; promote: {args.promote} -->")
    print(
        "| server | A: `promote apply` | B: MlflowClient script | B/A (median of pairs) | A requests | B requests |"
    )
    print("|---|---|---|---|---|---|")
    details = []
    for workers in args.workers:
        server = MlflowServer(work / f"server-{workers}", workers=workers, python=Path(mlflow_python)).start()
        try:
            r = measure(server, args.promote, mlflow_python, args.runs, work)
            if workers == args.workers[0]:
                imports = import_time(args.promote, server, work)
        finally:
            server.stop()
        a, b = r["a"], r["b"]
        assert isinstance(a, list) and isinstance(b, list)

        def rng(samples: list[Sample]) -> str:
            walls = [s.wall for s in samples]
            rss = statistics.median(s.max_rss_kib for s in samples) / 1024
            return f"{statistics.median(walls):.3f} s ({min(walls):.3f}–{max(walls):.3f}), {rss:.0f} MiB"

        ratio = statistics.median(y.wall / x.wall for x, y in zip(a, b, strict=True))
        ours, theirs = r["ours_calls"], r["theirs_calls"]
        assert isinstance(ours, list) and isinstance(theirs, list)
        print(f"| `--workers {workers}` | {rng(a)} | {rng(b)} | {ratio:.2f}x | {len(ours)} | {len(theirs)} |")
        details.append((workers, ours, theirs))
    for workers, ours, theirs in details[:1]:
        print(f"\nRequests of `promote apply` (`--workers {workers}`): " + ", ".join(f"`{c}`" for c in ours))
        print("\nRequests of the MlflowClient script: " + ", ".join(f"`{c}`" for c in theirs))
    total, top = imports
    print(
        f"\nImport time of the `promote apply` process (sum of `-X importtime` self times, median of 5): {total:.3f} s;"
    )
    print("largest: " + ", ".join(f"{name} {t * 1000:.0f} ms" for t, name in top))
    print(
        f"\n`from mlflow import MlflowClient` alone, whole process (median of 5): {mlflow_import(mlflow_python, work):.3f} s"
    )


if __name__ == "__main__":
    main()
