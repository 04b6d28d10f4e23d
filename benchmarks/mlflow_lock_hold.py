"""How long an MLflow move holds its model's lock, against the lease that guards it.

Usage: python benchmarks/mlflow_lock_hold.py [--moves 40] [--workers 1 4]

Starts a real ``mlflow server`` on 127.0.0.1, seeds the demo registry, then makes ``--moves``
alias moves in one process (``MlflowRegistry.apply``), timing each from the lock's create to its
release (the lock is held in between) and the whole call. The lease (``PROMOTE_MLFLOW_LOCK_TTL``,
60 s) is what a job killed while holding the lock costs the next one; the hold time is what a
shorter lease must cover with margin, so the ratio says how much shorter it could be without
renewal. Prints Markdown for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.servers import mlflow_seed  # noqa: E402
from tests.servers.mlflow_server import MlflowServer, ensure_mlflow  # noqa: E402

from aliasgate.model import AliasOp  # noqa: E402
from aliasgate.registry.mlflow import MlflowRegistry  # noqa: E402
from aliasgate.registry.mlflow.lock import Locks  # noqa: E402


def measure(server: MlflowServer, moves: int) -> tuple[list[float], list[float]]:
    model = mlflow_seed.load(server, ROOT / "examples" / "demo-registry.yaml", prefix="hold-")[
        "bert-classifier"
    ]
    held: list[float] = []
    acquired: dict[str, float] = {}
    acquire, release = Locks._acquire, Locks.release

    def timed_acquire(self: Locks, model: str, gen: int):  # type: ignore[no-untyped-def]
        lease, crashed = acquire(self, model, gen)
        acquired[lease.token] = time.perf_counter()
        return lease, crashed

    def timed_release(self: Locks, lease):  # type: ignore[no-untyped-def]
        release(self, lease)
        held.append(time.perf_counter() - acquired.pop(lease.token))

    Locks._acquire, Locks.release = timed_acquire, timed_release  # type: ignore[method-assign]
    reg = MlflowRegistry(server.url)
    whole: list[float] = []
    current = 4
    try:
        for i in range(moves):
            target = 3 if current == 4 else 4
            op = AliasOp(model, "staging", current, target)
            body = {"kind": "promote", "model": model, "alias": "staging", "from": current, "to": target,
                    "at": "2026-11-27T12:00:00.000000Z", "principal": {"name": "bench", "authenticated": False,
                    "source": "benchmark"}, "n": i}  # fmt: skip
            started = time.perf_counter()
            reg.apply([op], [body])
            whole.append(time.perf_counter() - started)
            current = target
    finally:
        Locks._acquire, Locks.release = acquire, release  # type: ignore[method-assign]
        reg.close()
    return held, whole


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    python = ensure_mlflow()
    print("| server | moves | lock held: median (min–max) | whole move: median | 60 s lease ÷ median hold |")
    print("|---|---|---|---|---|")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            server = MlflowServer(Path(tmp), python=python, workers=workers)
            server.start()
            try:
                held, whole = measure(server, args.moves)
            finally:
                server.stop()
        med = statistics.median(held)
        print(
            f"| `--workers {workers}` | {len(held)} | {med * 1000:.0f} ms ({min(held) * 1000:.0f}–"
            f"{max(held) * 1000:.0f} ms) | {statistics.median(whole) * 1000:.0f} ms | {60 / med:.0f}× |"
        )


if __name__ == "__main__":
    main()
