"""Load an aliasgate registry seed (``examples/demo-registry.yaml``) into a real MLflow server.

The way training code would have left it: each version registered from its own run, metrics
logged to that run (or, with ``metrics_in="tags"``, written as version tags), metadata as
version tags, lineage as the ``aliasgate.inputs`` version tag, aliases set last. MLflow sets
creation times and users itself, so ``age``/``created_by`` of the seed are not reproduced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aliasgate import seed as seed_mod

from .mlflow_server import Account, ApiError, MlflowServer

INPUTS_TAG = "aliasgate.inputs"


def tag_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def load(
    server: MlflowServer,
    source: str | Path | Sequence[seed_mod.ModelSeed],
    *,
    prefix: str = "",
    metrics_in: str = "run",
    account: Account | None = None,
) -> dict[str, str]:
    """Seed every model (named ``prefix + name``); returns seed name -> MLflow name."""
    models = seed_mod.load(source) if isinstance(source, (str, Path)) else list(source)
    names = {m.name: prefix + m.name for m in models}

    def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return server.api(method, path, body, account=account)

    experiment = _experiment(server, account)
    for m in models:
        call("POST", "registered-models/create", {"name": names[m.name], "description": m.description})
    for m in models:
        name = names[m.name]
        next_number = 1
        for v in sorted(m.versions, key=lambda v: v.number):
            while next_number < v.number:  # MLflow numbers versions itself: burn the gaps
                filler = call(
                    "POST", "model-versions/create", {"name": name, "source": "s3://aliasgate-seed/filler"}
                )
                call(
                    "DELETE",
                    "model-versions/delete",
                    {"name": name, "version": filler["model_version"]["version"]},
                )
                next_number += 1
            run_id = call(
                "POST", "runs/create", {"experiment_id": experiment, "run_name": f"{name}-v{v.number}"}
            )["run"]["info"]["run_id"]
            tags = [{"key": k, "value": tag_value(val)} for k, val in sorted(v.metadata.items())]
            inputs = [str(type(i)(names.get(i.model, i.model), i.number)) for i in v.inputs]
            tags.append({"key": INPUTS_TAG, "value": ", ".join(inputs)})
            if metrics_in == "tags":
                tags += [{"key": k, "value": repr(float(val))} for k, val in sorted(v.metrics.items())]
            else:
                stamp = int(v.created_at.timestamp() * 1000)
                metrics = [
                    {"key": k, "value": float(val), "timestamp": stamp, "step": 0}
                    for k, val in v.metrics.items()
                ]
                if metrics:
                    call("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
            created = call(
                "POST",
                "model-versions/create",
                {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id, "tags": tags},
            )
            number = int(created["model_version"]["version"])
            assert number == v.number, f"{name}: MLflow gave v{number} for seed v{v.number}"
            next_number = number + 1
        for alias, number in sorted(m.aliases.items()):
            call("POST", "registered-models/alias", {"name": name, "alias": alias, "version": str(number)})
    return names


def _experiment(server: MlflowServer, account: Account | None) -> str:
    try:
        got = server.api(
            "GET", "experiments/get-by-name", params={"experiment_name": "aliasgate-seed"}, account=account
        )
        return str(got["experiment"]["experiment_id"])
    except ApiError as exc:
        if exc.status != 404:
            raise
    try:
        created = server.api("POST", "experiments/create", {"name": "aliasgate-seed"}, account=account)
        return str(created["experiment_id"])
    except ApiError as exc:  # created concurrently by another seeding
        if "RESOURCE_ALREADY_EXISTS" not in exc.body:
            raise
        got = server.api(
            "GET", "experiments/get-by-name", params={"experiment_name": "aliasgate-seed"}, account=account
        )
        return str(got["experiment"]["experiment_id"])
