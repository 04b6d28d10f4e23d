"""The baseline for benchmarks/cleanup_mlflow.py: a sequential MlflowClient deletion loop.

Runs in the MLflow virtualenv (``mlflow`` is never installed next to aliasgate). What a
hand-written cleanup script does, done right for the paging trap: list every version first
(one ``search_model_versions`` call: MlflowClient's page is 10,000), then delete all but the
newest of each model, one request after another. No alias re-check, no lock, no audit record.

Usage: MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python cleanup_mlflow_client.py MODEL...
"""

from __future__ import annotations

import sys

from mlflow import MlflowClient  # type: ignore[import-not-found]  # only in the MLflow venv


def main() -> int:
    client = MlflowClient()
    deleted = 0
    for name in sys.argv[1:]:
        versions = sorted(
            (int(v.version) for v in client.search_model_versions(f"name='{name}'")), reverse=True
        )
        for number in versions[1:]:
            client.delete_model_version(name, str(number))
            deleted += 1
    print(deleted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
