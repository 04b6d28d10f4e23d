"""Per-request latency of MLflow's server on a reused (keep-alive) vs a fresh connection.

Usage: python benchmarks/mlflow_latency.py [--calls 30] [--workers 1 4]

Why: the MLflow backend sends ``Connection: close`` on plain http and keeps connections on
https (src/aliasgate/registry/mlflow/settings.py, ``Settings``). This measures the reason on real
servers: median milliseconds per request of one ``requests.Session``, alternating keep-alive
and ``Connection: close`` rounds (A B A B), for a read and a write, plus the basic-auth app
with ``auth_cache_ttl_seconds`` set (as the tests run it). Prints Markdown.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.servers.mlflow_server import MlflowServer, ensure_mlflow  # noqa: E402


def per_request_ms(server: MlflowServer, *, close: bool, write: bool, calls: int) -> float:
    session = requests.Session()
    if server.admin is not None:
        session.auth = (server.admin.username, server.admin.password)
    headers = {"Connection": "close"} if close else {}
    base = f"{server.url}/api/2.0/mlflow"
    times = []
    for i in range(calls):
        start = time.perf_counter()
        if write:
            r = session.post(
                f"{base}/registered-models/set-tag",
                json={"name": "latency", "key": "k", "value": str(i)},
                headers=headers,
                timeout=30,
            )
        else:
            r = session.get(
                f"{base}/registered-models/get", params={"name": "latency"}, headers=headers, timeout=30
            )
        times.append(time.perf_counter() - start)
        r.raise_for_status()
    session.close()
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    args = ap.parse_args()
    python = ensure_mlflow()
    work = Path(tempfile.mkdtemp(prefix="aliasgate-latency-"))
    print("| server | request | keep-alive (ms/request) | `Connection: close` (ms/request) |")
    print("|---|---|---|---|")
    configs = [(w, False) for w in args.workers] + [(1, True)]
    for workers, auth in configs:
        server = MlflowServer(
            work / f"w{workers}{'a' if auth else ''}", auth=auth, workers=workers, python=python
        )
        server.start()
        try:
            if workers > 1:
                time.sleep(15)  # /health answers once the first worker is up; let the others boot
            server.api("POST", "registered-models/create", {"name": "latency"})
            for write in (False, True):
                keep, close = [], []
                for _ in range(args.rounds):  # A B A B ...
                    keep.append(per_request_ms(server, close=False, write=write, calls=args.calls))
                    close.append(per_request_ms(server, close=True, write=write, calls=args.calls))
                label = f"`--workers {workers}`" + (" basic-auth (cache on)" if auth else "")
                what = "POST set-tag" if write else "GET registered-models/get"
                print(
                    f"| {label} | {what} | {statistics.median(keep):.1f} | {statistics.median(close):.1f} |"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
