"""Seed an MLflow tracking server with aliasgate's demo models, to try the MLflow path in minutes.

    python examples/mlflow/seed_demo.py http://127.0.0.1:5000            # examples/demo-registry.yaml
    python examples/mlflow/seed_demo.py http://127.0.0.1:5000 --prefix try-   # a second copy, renamed

Run it with the Python that has aliasgate installed (`.venv/bin/python`): it reads the seed with
aliasgate's own parser and talks to MLflow's REST API with `requests`; it never imports mlflow.
Basic auth comes from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD when set.

It leaves the server the way training code would have: each version registered from its own run,
its metrics logged to that run, its metadata as version tags, its lineage as the `aliasgate.inputs`
version tag, and the aliases set last. MLflow sets creation times and users itself, so the seed's
`age` and `created_by` are not reproduced (every version is new). Models that already exist are
refused (exit 2) rather than mixed with the demo: pass --prefix, or delete them.

The aliasgate test suite seeds its real MLflow servers with this same code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

INPUTS_TAG = "aliasgate.inputs"
EXPERIMENT = "aliasgate-seed"
DEFAULT_SEED = Path(__file__).resolve().parents[1] / "demo-registry.yaml"

# (method, path under /api/2.0/mlflow/, JSON body, query parameters) -> the answer's JSON. Raises an
# exception with `.status` (HTTP status) and `.body` (the answer's text) when MLflow refuses.
Call = Callable[..., dict[str, Any]]


class MlflowRefused(Exception):
    def __init__(self, status: int, body: str, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def tag_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def seed(call: Call, models: Sequence[Any], *, prefix: str = "", metrics_in: str = "run") -> dict[str, str]:
    """Create every model of ``models`` (aliasgate ``ModelSeed``s), named ``prefix + name``, with its
    versions, tags, run metrics (or, with ``metrics_in="tags"``, metric version tags) and aliases.
    Returns seed name -> MLflow name."""
    names = {m.name: prefix + m.name for m in models}
    experiment = _experiment(call)
    for m in models:
        call("POST", "registered-models/create", {"name": names[m.name], "description": m.description}, None)
    for m in models:
        name = names[m.name]
        next_number = 1
        for v in sorted(m.versions, key=lambda v: v.number):
            while next_number < v.number:  # MLflow numbers versions itself: burn the gaps
                filler = call(
                    "POST",
                    "model-versions/create",
                    {"name": name, "source": "s3://aliasgate-seed/filler"},
                    None,
                )
                version = filler["model_version"]["version"]
                call("DELETE", "model-versions/delete", {"name": name, "version": version}, None)
                next_number += 1
            run = call(
                "POST", "runs/create", {"experiment_id": experiment, "run_name": f"{name}-v{v.number}"}, None
            )
            run_id = run["run"]["info"]["run_id"]
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
                    call("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics}, None)
            created = call(
                "POST",
                "model-versions/create",
                {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id, "tags": tags},
                None,
            )
            number = int(created["model_version"]["version"])
            if number != v.number:
                raise RuntimeError(f"{name}: MLflow gave v{number} for seed v{v.number}")
            next_number = number + 1
        for alias, number in sorted(m.aliases.items()):
            call(
                "POST",
                "registered-models/alias",
                {"name": name, "alias": alias, "version": str(number)},
                None,
            )
    return names


def _experiment(call: Call) -> str:
    def by_name() -> str:
        got = call("GET", "experiments/get-by-name", None, {"experiment_name": EXPERIMENT})
        return str(got["experiment"]["experiment_id"])

    try:
        return by_name()
    except Exception as exc:
        if getattr(exc, "status", None) != 404:
            raise
    try:
        return str(call("POST", "experiments/create", {"name": EXPERIMENT}, None)["experiment_id"])
    except Exception as exc:  # created concurrently by another seeding
        if "RESOURCE_ALREADY_EXISTS" not in str(getattr(exc, "body", "")):
            raise
        return by_name()


def http_call(tracking_uri: str, *, timeout: float = 30) -> Call:
    """A :data:`Call` over ``requests`` to ``tracking_uri`` (http(s)://HOST[:PORT][/PREFIX])."""
    import requests

    session = requests.Session()
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        session.auth = (user, password)
    base = tracking_uri.rstrip("/")

    def call(method: str, path: str, body: Mapping[str, Any] | None, params: Mapping[str, str] | None) -> Any:
        answer = session.request(
            method, f"{base}/api/2.0/mlflow/{path}", json=body, params=params, timeout=timeout
        )
        if answer.status_code >= 400:
            raise MlflowRefused(answer.status_code, answer.text, f"{method} {path}")
        return answer.json() if answer.text.strip() else {}

    return call


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "tracking_uri",
        nargs="?",
        default=os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"),
        help="the MLflow server (default: MLFLOW_TRACKING_URI, else http://127.0.0.1:5000)",
    )
    parser.add_argument(
        "--seed", type=Path, default=DEFAULT_SEED, help="registry seed YAML (default: the demo)"
    )
    parser.add_argument("--prefix", default="", help="prefix every model name with this")
    args = parser.parse_args(argv)
    uri = args.tracking_uri.removeprefix("mlflow+")
    if not uri.startswith(("http://", "https://")):
        print(f"error: {args.tracking_uri!r} is not an http(s):// MLflow server", file=sys.stderr)
        return 2

    from aliasgate import seed as seed_module
    from aliasgate.errors import AliasgateError

    try:
        models = seed_module.load(args.seed)
    except AliasgateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    call = http_call(uri)
    import requests

    try:
        taken = [args.prefix + m.name for m in models if _exists(call, args.prefix + m.name)]
        if taken:
            print(
                f"error: {', '.join(taken)} already exist(s) on {uri}; nothing was changed\n"
                "hint: pass --prefix try- (the policy's model names then need the same prefix), or delete them",
                file=sys.stderr,
            )
            return 2
        names = seed(call, models, prefix=args.prefix)
    except (MlflowRefused, requests.RequestException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for m in models:
        aliases = ", ".join(f"{a} -> v{n}" for a, n in sorted(m.aliases.items())) or "no aliases"
        print(f"seeded {names[m.name]}: {len(m.versions)} versions ({aliases})")
    print(f"next: cd examples/mlflow && PROMOTE_REGISTRY=mlflow+{uri} promote plan")
    return 0


def _exists(call: Call, name: str) -> bool:
    try:
        call("GET", "registered-models/get", None, {"name": name})
    except MlflowRefused as exc:
        if exc.status == 404:
            return False
        raise
    return True


if __name__ == "__main__":
    sys.exit(main())
