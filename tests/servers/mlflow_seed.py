"""Load an aliasgate registry seed (``examples/demo-registry.yaml``) into a real MLflow server.

The seeding itself is ``examples/mlflow/seed_demo.py``, the script users run against their own
``mlflow server``: the tests seed with the same code, so the script is exercised on every run. This
module adapts it to :class:`MlflowServer` (its admin account, or ``account``). MLflow sets creation
times and users itself, so ``age``/``created_by`` of the seed are not reproduced.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aliasgate import seed as seed_mod

from .mlflow_server import Account, MlflowServer

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "mlflow" / "seed_demo.py"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("aliasgate_example_seed_demo", SCRIPT)
    assert spec is not None and spec.loader is not None, SCRIPT
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seed_demo = _script()
INPUTS_TAG: str = seed_demo.INPUTS_TAG
tag_value = seed_demo.tag_value


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

    def call(
        method: str, path: str, body: Mapping[str, Any] | None, params: Mapping[str, str] | None
    ) -> dict[str, Any]:
        return server.api(method, path, body, params=params, account=account)

    names: dict[str, str] = seed_demo.seed(call, models, prefix=prefix, metrics_in=metrics_in)
    return names
