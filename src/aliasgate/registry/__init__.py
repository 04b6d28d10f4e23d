"""The one interface every backend implements, and the URI scheme -> module table.

The protocol is deliberately small: read aliases and versions, apply alias
compare-and-swaps with their audit records, read the audit log, delete a
version. Everything else (gates, plans, bundles, compensation, provenance)
lives in the core and works the same on every backend.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from aliasgate.audit import AuditLog
from aliasgate.errors import InvalidInput
from aliasgate.model import Move, Principal, Version, VersionId

DEFAULT_REGISTRY = "local:.aliasgate/registry.db"


@runtime_checkable
class Registry(Protocol):
    """A model registry as aliasgate needs it.

    Backends raise :class:`aliasgate.errors.NotFound` for a missing model or
    version, :class:`~aliasgate.errors.AuthError` for 401/403,
    :class:`~aliasgate.errors.Conflict` when a compare-and-swap fails and
    :class:`~aliasgate.errors.RegistryError` for anything else the registry says.
    """

    uri: str
    #: True when ``apply`` with several moves is one all-or-nothing transaction. When False the
    #: backend takes one move per call (:func:`one_move`); the applier moves a bundle one at a
    #: time and undoes the made moves, audited, when a later one fails.
    atomic_batches: bool
    #: True when versions carry lineage (what they were derived from).
    lineage_recorded: bool

    def whoami(self) -> Principal:
        """The account the registry authenticates (or the configured name, marked unauthenticated)."""
        ...

    def models(self) -> list[str]:
        """Every model name (for retention globs)."""
        ...

    def aliases(self, model: str) -> dict[str, int]:
        """User aliases of ``model`` -> version number (not ``latest``). NotFound if no such model."""
        ...

    def latest(self, model: str) -> int | None:
        """The newest live version number, or None when the model has no versions."""
        ...

    def version(self, model: str, number: int) -> Version:
        """One version with metrics, metadata and lineage. NotFound if absent."""
        ...

    def versions(self, model: str) -> list[Version]:
        """Every live version, newest first, with aliases. Must not skip versions (collect all pages)."""
        ...

    def apply(self, moves: Sequence[Move]) -> list[dict[str, Any]]:
        """Compare-and-swap each move's op and append its record to the op's model chain.

        The backend seals each ``move.record`` (:func:`aliasgate.audit.seal`) against the head
        it reads under its lock or transaction, and returns the sealed records in order. Raises
        Conflict, changing nothing, when any op's alias is not on ``op.expected``. Callers pass
        a single move unless ``atomic_batches``.
        """
        ...

    def audit_log(self, model: str) -> AuditLog:
        """Every audit record of ``model``, oldest first, with the chain head."""
        ...

    def delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        """Delete one version unless it holds an alias *now* (re-checked at the last moment),
        and append ``record`` to the model's chain. Raises Conflict when it gained an alias."""
        ...

    def close(self) -> None: ...


#: One version's result in :meth:`BatchDeletes.delete_versions`: the sealed audit record (deleted),
#: the error that kept it (Conflict: it holds an alias; NotFound: gone already, no record;
#: AuthError; RegistryError), or None: not attempted, the caller may send it again.
DeleteResult = dict[str, Any] | Exception | None


@runtime_checkable
class BatchDeletes(Protocol):
    """Optional: a backend that deletes several versions of one model cheaper together than one
    by one (the embedded registry: one transaction; MLflow: one lock, one audit segment, one head
    write). Cleanup uses it when present, else ``delete_version`` per version (W&B)."""

    #: the most versions per call the backend wants (cleanup checks its stop flag between calls)
    delete_batch: int

    def delete_versions(
        self, model: str, numbers: Sequence[int], records: Sequence[Mapping[str, Any]]
    ) -> list[DeleteResult]:
        """What ``delete_version`` does, for each ``numbers[i]`` with ``records[i]``, in order: the
        same last-moment alias re-check, one audit record per deletion that happened and none for
        one that did not, sealed in the order of the deletions. One result per number. Raises
        only when nothing was deleted."""
        ...


@dataclass(frozen=True)
class TtlState:
    """A version's registry-native expiry (TTL) in neutral terms; each backend decodes its own
    encoding into this (cleanup ``--native-ttl`` reads and decides on it)."""

    seconds: int | None  # > 0: the TTL that applies now; None: none applies
    inherited: bool  # follows the owner's default TTL (which may change later)
    #: why the registry accepts no TTL on this version (cleanup leaves it alone); None: it does
    fixed: str | None = None
    #: one line for the plan about every version left alone for this cause (``{count}`` and
    #: ``{shown}`` are filled in), so versions with the same cause are reported together
    fixed_note: str | None = None

    @property
    def disabled(self) -> bool:
        """No TTL now, and none a default could bring later."""
        return self.seconds is None and not self.inherited

    def describe(self) -> str:
        from aliasgate.durations import format_duration

        if self.disabled:
            return "disabled"
        if self.inherited:
            return (
                f"team default {format_duration(self.seconds)}" if self.seconds else "team default (none set)"
            )
        assert self.seconds is not None
        return format_duration(self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "inherited": self.inherited}


@runtime_checkable
class AppendsRecords(Protocol):
    """Optional: append a record that moves nothing (an approval, its revocation, a TTL change)
    to a model's hash chain, under the same lock or transaction as a move's record, so it has
    exactly the audit trail's integrity. The embedded registry, MLflow and W&B implement it."""

    uri: str

    def append_record(self, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Seal ``record`` after the model's chain head and store it; returns the sealed record.
        NotFound if no such model; AuthError when this account may not extend the chain."""
        ...


@runtime_checkable
class NativeTtl(AppendsRecords, Protocol):
    """Optional: a backend whose registry expires versions itself (W&B's artifact TTL); its TTL
    changes are audited with :meth:`AppendsRecords.append_record`."""

    uri: str

    def ttl_states(self, model: str, numbers: Sequence[int]) -> dict[int, TtlState]:
        """The TTL of each live version among ``numbers`` (absent: no such version)."""
        ...

    def disable_ttl(self, model: str, number: int) -> None:
        """Write "no TTL, and no inherited default" on the version and nothing else. Returns once
        the registry accepted the request, which does not mean it applied it: re-read."""
        ...


def one_move(moves: Sequence[Move]) -> Move:
    """The one move a backend without transactions takes per ``apply`` (``atomic_batches`` False):
    several are the applier's to send one at a time, compensating on failure."""
    if len(moves) != 1:
        raise InvalidInput(
            f"this registry has no transactions: apply one alias move at a time, not {len(moves)}"
        )
    return moves[0]


@runtime_checkable
class EmbeddedAdmin(Protocol):
    """Optional: the embedded registry's management verbs (``promote registry ...``). Opening it
    with the option ``replace=True`` first deletes its file (refused, nothing touched, unless the
    file is an aliasgate registry), so ``registry import --replace`` starts from empty."""

    def create_model(self, name: str, description: str = "", *, exist_ok: bool = False) -> bool:
        """Create a model; False when it exists and ``exist_ok`` (InvalidInput otherwise)."""
        ...

    def log_version(
        self,
        model: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        inputs: Sequence[VersionId] = (),
        created_by: str | None = None,
        created_at: str | None = None,
        source: str | None = None,
        number: int | None = None,
        create_model: bool = True,
    ) -> int:
        """Log a new version and return its number (``number`` and ``created_at``: imports only)."""
        ...

    def describe(self, model: str) -> dict[str, Any]:
        """The model's name, creation time and description. NotFound if absent."""
        ...


@dataclass(frozen=True)
class Published:
    """A version of the destination model that carries a source version (published or found)."""

    version: int  # its number in the destination model
    reused: bool  # True: it existed already (published earlier from the same source version)
    digest: str | None = None  # the content digest of the source, where the registry has one


@runtime_checkable
class Publishes(AppendsRecords, Protocol):
    """Optional: a backend that can publish a version of one model into another model of the same
    registry (W&B: ``linkArtifact`` into a Registry collection or portfolio; MLflow: a new version
    whose source is ``models:/NAME/VERSION``; embedded: a copy with a lineage edge)."""

    uri: str

    def published_copy(self, source_model: str, number: int, dest_model: str) -> Published | None:
        """The destination version already published from ``source_model:v<number>``, or None."""
        ...

    def publish(self, source_model: str, number: int, dest_model: str) -> Published:
        """Publish ``source_model:v<number>`` into ``dest_model``, reusing the version an earlier
        publish of the same source made (so running it twice never makes a second one). Moves no
        alias. Raises NotFound for a missing source, AuthError when the account may not."""
        ...


# scheme -> module; each module exposes ``open(uri: str, options: Mapping) -> Registry``.
BACKENDS: dict[str, str] = {
    "local": "aliasgate.registry.local",
    "mlflow": "aliasgate.registry.mlflow",
    "mlflow+http": "aliasgate.registry.mlflow",
    "mlflow+https": "aliasgate.registry.mlflow",
    "wandb": "aliasgate.registry.wandb",
}


def scheme_of(uri: str) -> str:
    if uri == "mlflow":
        return "mlflow"
    scheme, sep, _ = uri.partition(":")
    if not sep:
        raise InvalidInput(
            f"invalid registry {uri!r}: expected one of {', '.join(_examples())}",
        )
    return scheme


def _examples() -> list[str]:
    return [
        "local:PATH",
        "mlflow+http://HOST:PORT",
        "mlflow+https://HOST",
        "mlflow",
        "wandb://ENTITY/PROJECT",
    ]


def resolve_uri(cli_value: str | None, policy_value: str | None) -> str:
    """--registry beats PROMOTE_REGISTRY beats the policy's ``registry:`` beats the default."""
    return cli_value or os.environ.get("PROMOTE_REGISTRY") or policy_value or DEFAULT_REGISTRY


def open_registry(uri: str, **options: Any) -> Registry:
    scheme = scheme_of(uri)
    module_name = BACKENDS.get(scheme)
    if module_name is None:
        raise InvalidInput(
            f"unknown registry scheme {scheme!r} in {uri!r}; supported: {', '.join(sorted(BACKENDS))}",
        )
    module = importlib.import_module(module_name)
    registry: Registry = module.open(uri, options)
    return registry
