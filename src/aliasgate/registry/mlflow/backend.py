"""The MLflow backend: composes the client, reads, lock, audit storage and deletes; moves aliases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aliasgate import audit
from aliasgate.errors import AliasgateError, AuthError, conflict
from aliasgate.model import AliasOp, Move, Principal, Version
from aliasgate.registry import one_move
from aliasgate.registry.http import Transport
from aliasgate.registry.mlflow import publish as publishing
from aliasgate.registry.mlflow.audit_store import AuditStore
from aliasgate.registry.mlflow.client import RestClient
from aliasgate.registry.mlflow.deletes import BATCH_SIZE, Deletes
from aliasgate.registry.mlflow.lock import Lease, Locks
from aliasgate.registry.mlflow.reads import Reads
from aliasgate.registry.mlflow.records import head_of_tags, segment_of_head
from aliasgate.registry.mlflow.settings import TLS_HINTS, Credentials, Settings

if TYPE_CHECKING:  # pragma: no cover
    import requests

    from aliasgate.registry import DeleteResult, Published

_UNIQUE_MARKERS = ("UNIQUE constraint failed", "duplicate key value", "Duplicate entry")


class MlflowRegistry:
    """The MLflow Model Registry as aliasgate's :class:`~aliasgate.registry.Registry`."""

    atomic_batches = False
    lineage_recorded = True  # through the aliasgate.inputs version tag (per version otherwise)
    delete_batch = BATCH_SIZE  # versions per delete_versions call that cleanup sends

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None = None,
        *,
        settings: Settings | None = None,
        session: requests.Session | None = None,
    ) -> None:
        import requests

        self.base_url = base_url
        self.uri = f"mlflow+{base_url}"
        self.credentials = credentials or Credentials()
        self.settings = settings or Settings()
        sess = session or requests.Session()
        self.credentials.apply(sess)
        sess.verify = self.settings.verify
        if self.settings.client_cert:
            sess.cert = self.settings.client_cert
        if self.settings.verify is False:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if not self.settings.keepalive:
            sess.headers["Connection"] = "close"
        self.transport = Transport(base_url, session=sess, what="MLflow server", tls_hints=TLS_HINTS)
        self.client = RestClient(base_url, self.credentials, self.transport)
        self.reads = Reads(self.client)
        self.store = AuditStore(self.client, self.reads)
        self.locks = Locks(self.client, self.reads, self.settings, self.store.account_key, self.store.settle)
        self.deletes = Deletes(self.client, self.reads, self.store, self.locks)

    def close(self) -> None:
        self.locks.close()
        self.transport.close()

    @property
    def requests_sent(self) -> int:
        return self.transport.requests_sent

    @property
    def page_size(self) -> int:
        return self.reads.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self.reads.page_size = value

    # -- reads --------------------------------------------------------------------------------------

    def whoami(self) -> Principal:
        return self.reads.whoami()

    def models(self) -> list[str]:
        return self.reads.models()

    def aliases(self, model: str) -> dict[str, int]:
        return self.reads.aliases(model)

    def latest(self, model: str) -> int | None:
        return self.reads.latest(model)

    def version(self, model: str, number: int) -> Version:
        return self.reads.version(model, number)

    def versions(self, model: str) -> list[Version]:
        return self.reads.versions(model)

    def audit_log(self, model: str) -> audit.AuditLog:
        return self.store.audit_log(model)

    # -- Publishes (``to: {model, alias}``): copy a version into another model -----------------------

    def published_copy(self, source_model: str, number: int, dest_model: str) -> Published | None:
        return publishing.published_copy(self, source_model, number, dest_model)

    def publish(self, source_model: str, number: int, dest_model: str) -> Published:
        return publishing.publish(self, source_model, number, dest_model)

    def append_record(self, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Seal ``record`` after the chain head and store it, under the model's lock (no alias moves)."""
        with self.locks.locked(model) as (lease, state):
            sealed = audit.seal(record, head_of_tags(state.tags))
            written = self.store.write_record(lease, model, sealed, segment_of_head(state.tags))
            try:
                self.store.write_head(lease, model, sealed, written[0])
            except AuthError:  # may read the model, not write it: the record was never committed
                self.store.drop_record(lease, written, sealed)
                raise
            except BaseException:
                # left for the next holder; a record that moves nothing (approve, revoke, ttl) is
                # never settled as happened: it counts only if this head write landed
                lease.abandoned = True
                raise
            return sealed

    # -- deletes ------------------------------------------------------------------------------------

    def delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        return self.deletes.delete_version(model, number, record)

    def delete_versions(
        self, model: str, numbers: Sequence[int], records: Sequence[Mapping[str, Any]]
    ) -> list[DeleteResult]:
        return self.deletes.delete_versions(model, numbers, records)

    # -- moves --------------------------------------------------------------------------------------

    def apply(self, moves: Sequence[Move]) -> list[dict[str, Any]]:
        """One move under its model's lock: re-read, check, record, move, commit (no transactions)."""
        move = one_move(moves)
        return [self._move(move.op, move.record)]

    def _move(self, op: AliasOp, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.locks.locked(op.model) as (lease, state):
            current = state.aliases.get(op.alias)
            if current != op.expected:
                raise conflict(op.model, op.alias, op.expected, current)
            sealed = audit.seal(body, head_of_tags(state.tags))
            written = self.store.write_record(lease, op.model, sealed, segment_of_head(state.tags))
            try:
                if op.target is None:
                    self.client.guarded(
                        lease.timeout, "DELETE", "registered-models/alias", {"name": op.model, "alias": op.alias},
                        need="MANAGE", action=f"remove alias {op.alias!r}", model=op.model,
                    )  # fmt: skip
                else:
                    self._set_alias(lease, op)
            except AliasgateError as exc:
                return self.store.finish(
                    lease, op.model, sealed, written, exc, lambda: self._moved(lease, op), what=f"moving {op}"
                )
            self.store.commit(lease, op.model, sealed, written[0])
            return sealed

    def _moved(self, lease: Lease, op: AliasOp) -> bool:
        """Whether the alias is where the move takes it (nowhere, for a removal), read now."""
        state = self.reads.model(op.model, fresh=True, timeout=lease.timeout())
        return state.aliases.get(op.alias) == op.target

    def _set_alias(self, lease: Lease, op: AliasOp) -> None:
        assert op.target is not None
        self.client.guarded(
            lease.timeout, "POST", "registered-models/alias",
            {"name": op.model, "alias": op.alias, "version": str(op.target)},
            need="EDIT", action=f"set alias {op.alias!r}", model=op.model, version=op.target,
            retry_when=_first_creation_race,
        )  # fmt: skip


def _first_creation_race(response: requests.Response) -> bool:
    """The 400 of a concurrent first creation of an alias (MLflow's store SELECTs, then INSERTs):
    sent again, it finds the row."""
    return response.status_code == 400 and any(m in response.text for m in _UNIQUE_MARKERS)
