"""Deleting versions: one under the lock, or several of one model in a batch (cleanup).

A batch, under one lock: one re-read, every record sealed in order and written ahead in one
new segment, then one version after another (re-read its aliases, delete it), stopping at the
first that does not go, then one head write at the last deletion that happened. In order, so
the deletions that happened are always a prefix of the records: a batch cut short or killed is
settled by moving the head, never by re-sealing (the settler finds the segment by its name,
``.b<head+1>-``). A holder that cannot commit leaves its lock to expire, so the next holder
settles what it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aliasgate import audit
from aliasgate.errors import AliasgateError, AuthError, NotFound, OutcomeUnknown, still_held
from aliasgate.registry.mlflow.audit_store import AuditStore
from aliasgate.registry.mlflow.client import RestClient
from aliasgate.registry.mlflow.lock import Lease, Locks
from aliasgate.registry.mlflow.reads import ModelState, Reads
from aliasgate.registry.mlflow.records import head_of_tags, segment_of_head

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.registry import DeleteResult

BATCH_SIZE = 50  # versions per delete_versions call: one audit segment, one head write
# A batch re-reads aliases with at most one deletion between a version's re-read and its delete:
# one registered-models/get per two deletions while the model has at most this many versions
# (its cost grows with them: 8 ms at 10, 16 ms at 1,000, 28 ms at 3,000), else one
# model-versions/get (8 ms at any size) per deletion.
PAIRED_RECHECK_UP_TO = 800


class Deletes:
    def __init__(self, client: RestClient, reads: Reads, store: AuditStore, locks: Locks) -> None:
        self.client = client
        self.reads = reads
        self.store = store
        self.locks = locks

    def delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        """Delete a version unless it holds an alias now (re-read under the lock); needs MANAGE."""
        with self.locks.locked(model, linger=True) as (lease, state):
            held = sorted(a for a, v in state.aliases.items() if v == number)
            if held:
                raise still_held(model, number, held)
            sealed = audit.seal(
                {**record, "version": record.get("version", number)}, head_of_tags(state.tags)
            )
            written = self.store.write_record(lease, model, sealed, segment_of_head(state.tags))
            try:
                self._send_delete(lease, model, number)
            except NotFound:
                self.store.drop_record(lease, written, sealed)
                raise  # gone already: someone else's deletion, not ours to record
            except AliasgateError as exc:
                return self.store.finish(
                    lease, model, sealed, written, exc, lambda: self.gone(lease, model, number),
                    what=f"deleting version {number}", version=number,
                )  # fmt: skip
            self.store.commit(lease, model, sealed, written[0])
            return sealed

    def delete_versions(
        self, model: str, numbers: Sequence[int], records: Sequence[Mapping[str, Any]]
    ) -> list[DeleteResult]:
        """Delete several versions of one model under one lock, in order (see "Deleting in
        batches" in docs/backends/mlflow.md). One version goes the way of ``delete_version``."""
        if len(numbers) != len(records):
            raise ValueError("one audit record per version")
        if len(numbers) == 1:  # its record goes into the account's page segment, not a new one
            try:
                return [self.delete_version(model, numbers[0], records[0])]
            except AliasgateError as exc:
                return [exc]
        with self.locks.locked(model, linger=True) as (lease, state):
            return self.delete_batch(lease, state, numbers, records)

    def delete_batch(
        self, lease: Lease, state: ModelState, numbers: Sequence[int], records: Sequence[Mapping[str, Any]]
    ) -> list[DeleteResult]:
        """Seal every record after the head, store them all in one new segment (write-ahead), then
        delete one version after another, each right after re-reading its aliases.

        Deletions run strictly in order and the first one that does not happen ends the batch, so
        the deletions that happened are always a prefix of the records: committing is writing the
        head at the last of them, and no record is ever re-sealed. What the batch did not reach
        comes back as None (the caller sends it again)."""
        model = state.name
        results: list[DeleteResult] = [None] * len(numbers)
        base = head_of_tags(state.tags)
        todo: list[int] = []
        for i, number in enumerate(numbers):
            held = held_by(state, number)
            if held:
                results[i] = still_held(model, number, held)
            else:
                todo.append(i)
        if not todo:
            return results
        sealed: list[dict[str, Any]] = []
        head = base
        for i in todo:
            record = audit.seal({**records[i], "version": records[i].get("version", numbers[i])}, head)
            sealed.append(record)
            head = audit.head_of(record)
        segment = self.store.write_batch(lease, model, sealed)  # raises: nothing deleted, nothing stored
        try:
            done, unknown = self.delete_in_order(
                lease,
                state,
                [(i, numbers[i], record) for i, record in zip(todo, sealed, strict=True)],
                results,
            )
        except BaseException:
            lease.abandoned = True  # whatever happened, the next holder settles it from the records
            raise
        if unknown:
            # Whether the last deletion happened is not known: leave the head and the lock as they
            # are; whoever takes the lock over next settles the batch from its records, keeping
            # exactly those whose versions are gone.
            lease.abandoned = True
            return results
        if done:
            try:
                self.store.commit(lease, model, sealed[done - 1], segment)
            except AliasgateError:
                return results  # stored and happened: the next holder of the lock commits them
        self.store.drop_batch(lease, segment, sealed[done:], whole=done == 0)
        return results

    def delete_in_order(
        self,
        lease: Lease,
        state: ModelState,
        jobs: Sequence[tuple[int, int, dict[str, Any]]],
        results: list[DeleteResult],
    ) -> tuple[int, bool]:
        """Delete each job's version (result index, number, its sealed record) one after another,
        each re-read with at most one other deletion in between (PAIRED_RECHECK_UP_TO), and stop at
        the first that does not happen. Answers how many happened, and whether the outcome of the
        one it stopped at is unknown."""
        model = state.name
        paired = (state.latest or 0) <= PAIRED_RECHECK_UP_TO
        for done, (i, number, record) in enumerate(jobs):
            if lease.remaining() < lease.ttl / 4:
                return done, False  # keep a quarter of the lease to commit in; the rest is sent again
            try:
                if not paired:
                    held = self.aliases_of(lease, model, number)
                else:
                    if done % 2 == 0:  # the model's aliases, for this version and the next
                        state = self.reads.model(model, fresh=True, timeout=lease.timeout())
                    held = held_by(state, number)
            except NotFound as exc:
                results[i] = exc  # gone already: someone else's deletion, not ours to record
                return done, False
            except AliasgateError:
                return done, False  # the rest is sent again
            if held:
                results[i] = still_held(model, number, held)
                return done, False
            refused = self.delete_batched(lease, model, number)
            if refused is not None:
                results[i] = refused
                return done, isinstance(refused, OutcomeUnknown)
            results[i] = record
        return len(jobs), False

    def aliases_of(self, lease: Lease, model: str, number: int) -> list[str]:
        """The version's aliases now: ``model-versions/get`` costs the same however many versions
        the model has (``registered-models/get`` grows with them: 16 ms at 1,000, 28 ms at 3,000)."""
        response = self.client.call(
            "GET", "model-versions/get", params={"name": model, "version": str(number)},
            action="re-read the version's aliases", model=model, version=number, timeout=lease.timeout(),
        )  # fmt: skip
        mv = self.client.json(response).get("model_version") or {}
        return sorted(str(a) for a in mv.get("aliases") or [])

    def delete_batched(self, lease: Lease, model: str, number: int) -> AliasgateError | None:
        """Delete one version of a batch: None when it happened, else why not."""
        try:
            self._send_delete(lease, model, number)
            return None
        except (NotFound, AuthError) as exc:
            return exc  # refused, or gone already (someone else's deletion: not ours to record)
        except AliasgateError as exc:
            # Refused, or no answer after retries: whether it happened decides whether its record stays.
            return self.store.outcome(
                exc, lambda: self.gone(lease, model, number),
                what=f"deleting version {number}", model=model, version=number,
            )  # fmt: skip

    def _send_delete(self, lease: Lease, model: str, number: int) -> None:
        self.client.guarded(
            lease.timeout, "DELETE", "model-versions/delete", {"name": model, "version": str(number)},
            need="MANAGE", action=f"delete version {number}", model=model, version=number,
        )  # fmt: skip

    def gone(self, lease: Lease, model: str, number: int) -> bool:
        """Whether the version is gone now (raises when that cannot be read)."""
        try:
            self.client.call(
                "GET", "model-versions/get", params={"name": model, "version": str(number)},
                action="check a deletion", model=model, version=number, timeout=lease.timeout(),
            )  # fmt: skip
        except NotFound:
            return True
        return False


def held_by(state: ModelState, number: int) -> list[str]:
    return sorted(a for a, v in state.aliases.items() if v == number)
