"""Static proof that every backend implements the Registry protocol and its optional capabilities.

Backends load by URI scheme through ``importlib`` (``registry.BACKENDS``), so nothing else makes
mypy compare them with the protocol. This module is for mypy only: it is never imported at run
time (importing it would load every backend). Each function below fails type checking when its
backend drifts from a protocol it claims; ``tests/contract`` checks the same table at run time
with ``isinstance``, the one way capabilities are detected.

Add a line here with every backend and every capability it gains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aliasgate.registry import AppendsRecords, BatchDeletes, EmbeddedAdmin, NativeTtl, Publishes, Registry
    from aliasgate.registry.local import LocalRegistry
    from aliasgate.registry.mlflow import MlflowRegistry
    from aliasgate.registry.wandb import WandbRegistry


def _local(backend: LocalRegistry) -> None:
    registry: Registry = backend
    batch_deletes: BatchDeletes = backend
    embedded_admin: EmbeddedAdmin = backend
    publishes: Publishes = backend
    appends: AppendsRecords = backend
    del registry, batch_deletes, embedded_admin, publishes, appends


def _mlflow(backend: MlflowRegistry) -> None:
    registry: Registry = backend
    batch_deletes: BatchDeletes = backend
    publishes: Publishes = backend
    appends: AppendsRecords = backend
    del registry, batch_deletes, publishes, appends


def _wandb(backend: WandbRegistry) -> None:
    registry: Registry = backend
    native_ttl: NativeTtl = backend
    publishes: Publishes = backend
    appends: AppendsRecords = backend
    del registry, native_ttl, publishes, appends
