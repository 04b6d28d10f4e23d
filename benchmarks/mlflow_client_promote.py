"""The baseline for benchmarks/mlflow_promote.py: the same promotion written with ``MlflowClient``.

Runs in the MLflow virtualenv (``mlflow`` is never installed next to aliasgate). It does what
``promote apply`` does on the benchmark policy, with the same guard and audit: read candidate and
champion with their run metrics, check the three gates, take a lock model, re-read the alias
under it, write a hash-chained record tag, move the alias, write the head, release the lock.

Usage: MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python mlflow_client_promote.py MODEL
Exit codes as promote's: 0 moved, 3 gates blocked, 4 the alias moved meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import uuid
from datetime import datetime, timezone

from mlflow import MlflowClient  # type: ignore[import-not-found]  # only in the MLflow venv


def main() -> int:
    name = sys.argv[1]
    client = MlflowClient()
    candidate = client.get_model_version_by_alias(name, "staging")
    champion = client.get_model_version_by_alias(name, "production")
    cand = client.get_run(candidate.run_id).data.metrics
    champ = client.get_run(champion.run_id).data.metrics
    gates = [
        ("val_f1 >= 0.89", cand["val_f1"] >= 0.89),
        ("val_loss <= 0.35", cand["val_loss"] <= 0.35),
        ("val_f1 beats production by 0.005", cand["val_f1"] >= champ["val_f1"] + 0.005),
    ]
    if not all(ok for _, ok in gates):
        return 3
    lock = f"bench-lock.{name}"
    client.create_registered_model(lock, tags={"owner": f"{socket.gethostname()} pid {os.getpid()}"})
    try:
        model = client.get_registered_model(name)
        if str(model.aliases.get("production")) != str(champion.version):
            return 4
        head = json.loads(model.tags.get("bench.audit.head", '{"seq": 0, "hash": null}'))
        record = {
            "kind": "promote",
            "model": name,
            "alias": "production",
            "from": int(champion.version),
            "to": int(candidate.version),
            "at": datetime.now(timezone.utc).isoformat(),
            "gates": [{"gate": g, "passed": ok} for g, ok in gates],
            "id": uuid.uuid4().hex,
            "seq": head["seq"] + 1,
            "prev": head["hash"],
        }
        text = json.dumps(record, sort_keys=True, separators=(",", ":"))
        record["hash"] = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        client.set_registered_model_tag(
            name, f"bench.audit.{record['seq']}", json.dumps(record, sort_keys=True)
        )
        client.set_registered_model_alias(name, "production", candidate.version)
        client.set_registered_model_tag(
            name, "bench.audit.head", json.dumps({"seq": record["seq"], "hash": record["hash"]})
        )
    finally:
        client.delete_registered_model(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
