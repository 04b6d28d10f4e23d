"""Audit storage: records in segments beside the model, written ahead; the head tag commits them.

Only the head tag, on the model itself (EDIT, exactly who may move its aliases), vouches for
records: any user may create a model named like a segment, so a record the head does not reach by
hash links is ignored by every reader and named by ``history --verify``. Before a record is written
ahead, the pending marker ``aliasgate.audit.pending`` on the model (EDIT too) names it; crash
recovery settles only records the marker names, never one merely because the alias already holds
its target.

A record is stored (write-ahead) before its move or deletion, in this account's segment
``aliasgate-audit.<model>.<account>.<page>`` (at most records.SEGMENT_SIZE records each: MLflow reads
every tag of a model it touches), or, for a batch of deletions, in one new segment named after
its first seq. The head tag ``aliasgate.audit.head`` on the model, written after the change
happened, is the commit point. A holder that died between the two leaves records past the head;
whoever takes its lock over settles them (:meth:`AuditStore.settle`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from aliasgate import audit
from aliasgate.errors import AliasgateError, AuthError, NotFound, OutcomeUnknown, RegistryError
from aliasgate.registry.mlflow import records
from aliasgate.registry.mlflow.client import RestClient, int_or_none, quote, tag_dict
from aliasgate.registry.mlflow.lock import Lease
from aliasgate.registry.mlflow.reads import ModelState, Reads
from aliasgate.registry.mlflow.records import (
    AUDIT_PREFIX,
    BATCH_MARK,
    HEAD_TAG,
    PENDING_TAG,
    encode_record,
    head_of_tags,
    pending_of_tags,
    record_keys,
    records_in,
    safe,
    segment_body,
    segment_name,
    segment_of_pending,
    segment_prefix,
)

#: Said with every verification of an MLflow chain.
LIMITS = (
    "on MLflow the chain head and the pending marker are tags of the model, which every account with "
    "EDIT on it may write (as it may move any of its aliases); MLflow does not tell who created a "
    "segment, whose name carries whatever account name its creator chose"
)


class AuditStore:
    """Reads and writes one model's audit records in MLflow."""

    def __init__(self, client: RestClient, reads: Reads) -> None:
        self.client = client
        self.reads = reads

    def audit_log(self, model: str) -> audit.AuditLog:
        """The chain the head tag vouches for, read from the model's audit segments; plus the records
        written ahead that the pending marker vouches for and whose moves or deletions happened (their
        job died, or is still at work, before committing them). Every other stored record is an
        extra: ignored here, named by verification."""
        state = self.reads.model(model, fresh=True)
        head = head_of_tags(state.tags)
        found = audit.walk(self.stored(model), head, model, pending=pending_of_tags(state.tags))
        records = list(found.records)
        for record in found.pending:
            if not self.happened(state, record):
                break
            records.append(record)
            head = audit.head_of(record)
        return audit.AuditLog(model, records, head, found.extras, found.problem, LIMITS)

    def stored(self, model: str) -> list[audit.Stored]:
        """Every record stored in the model's audit segments, with the segment it is in."""
        return [
            audit.Stored(record, f"segment {name!r}")
            for name, tags in self.segments(model, segment_prefix(model))
            for _, record in records_in(tags)
        ]

    def segments(self, model: str, prefix: str) -> Iterator[tuple[str, dict[str, str]]]:
        """(name, tags) of every audit segment of ``model`` whose name starts with ``prefix``."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"filter": f"name LIKE {quote(prefix + '%')}", "max_results": 1000}
            if token:
                params["page_token"] = token
            data = self.client.json(
                self.client.call(
                    "GET", "registered-models/search", params=params, action="read the audit log", model=model
                )
            )
            for segment in data.get("registered_models") or []:
                name = str(segment.get("name", ""))
                tags = tag_dict(segment.get("tags"))
                # LIKE's '_' matches any character, and model "a"'s prefix is also model "a.b"'s.
                if name.startswith(prefix) and tags.get("aliasgate.audit.of", model) == model:
                    yield name, tags
            token = data.get("next_page_token") or None
            if not token:
                return

    # -- writes ---------------------------------------------------------------------------------------

    def write_batch(self, lease: Lease, model: str, sealed: Sequence[Mapping[str, Any]]) -> str:
        """Create a segment holding every record of the batch: one request, whatever the count."""
        account = self.account_key()
        segment = f"{segment_prefix(model)}{account}.{BATCH_MARK}{sealed[0]['seq']}-{uuid.uuid4().hex[:8]}"
        self.mark(lease, model, sealed[-1], segment)  # raises: nothing written
        tags: dict[str, str] = {}
        for record in sealed:
            values = encode_record(record)
            tags.update(zip(record_keys(int(record["seq"]), len(values)), values, strict=True))
        try:
            with self.unmarked_on_failure(lease, model):
                self.client.guarded(
                    lease.timeout, "POST", "registered-models/create", segment_body(model, segment, tags),
                    need="EDIT", action=f"create the audit segment {segment!r}", model=model, created=True,
                )  # fmt: skip
        except AuthError:
            raise AuthError(
                f"{self.client.credentials.account} may not create registered models, which aliasgate needs for the "
                f"audit segment {segment!r} of {model!r} (403); nothing was changed",
                model=model,
                hint="aliasgate keeps audit records in registered models it creates next to the model",
            ) from None
        return segment

    def drop_batch(
        self, lease: Lease, segment: str, unused: Sequence[Mapping[str, Any]], *, whole: bool
    ) -> None:
        """Best effort: remove records written ahead of moves or deletions that did not happen
        (readers leave them out anyway), or the whole segment when it holds nothing else."""
        with suppress(AliasgateError):
            if whole:
                self.client.guarded(
                    lease.timeout, "DELETE", "registered-models/delete", {"name": segment},
                    need="MANAGE", action="remove an unused audit segment", model=segment,
                )  # fmt: skip
                return
            for record in unused:
                self.client.guarded(
                    lease.timeout, "DELETE", "registered-models/delete-tag",
                    {"name": segment, "key": f"{AUDIT_PREFIX}{record['seq']}"},
                    need="EDIT", action="remove an unused audit record", model=segment,
                )  # fmt: skip

    # -- audit segments -----------------------------------------------------------------------------------

    def account_key(self) -> str:
        """Whose segments we write: MLflow makes a model's creator its MANAGE holder, so each account
        writes only to segments it created. Servers without auth share one set."""
        if self.client.credentials.username:
            return safe(self.client.credentials.username)
        if self.client.credentials.token:
            me = self.reads.whoami()
            return safe(me.name) if me.authenticated else "shared"
        return "shared"

    def write_record(
        self, lease: Lease, model: str, sealed: Mapping[str, Any], head_segment: str | None
    ) -> tuple[str, bool]:
        """Store the record in this account's segment for its seq: (segment, created by this call)."""
        seq = int(sealed["seq"])
        segment = segment_name(model, self.account_key(), (seq - 1) // records.SEGMENT_SIZE)
        values = encode_record(sealed)
        keys = record_keys(seq, len(values))
        what = f"write audit record #{seq}"
        self.mark(lease, model, sealed, segment)  # raises: nothing written
        with self.unmarked_on_failure(lease, model):
            if segment != head_segment and self.create_segment(
                lease, model, segment, dict(zip(keys, values, strict=True))
            ):
                return segment, True  # created with the record in it: one request
            # Continuation parts first, the main tag last: a reader never sees half a record.
            for key, value in reversed(list(zip(keys, values, strict=True))):
                self.client.guarded(
                    lease.timeout, "POST", "registered-models/set-tag", {"name": segment, "key": key, "value": value},
                    need="EDIT", action=what, model=model,
                )  # fmt: skip
        return segment, False

    @contextmanager
    def unmarked_on_failure(self, lease: Lease, model: str) -> Iterator[None]:
        """Writing the records ahead failed: nothing will change, so the marker goes too."""
        try:
            yield
        except AliasgateError:
            self.unmark(lease, model)
            raise

    def create_segment(self, lease: Lease, model: str, segment: str, tags: Mapping[str, str]) -> bool:
        """Create the segment with the record in it: True when this call created it, False when
        it exists already. No answer is read back before anything is written into the segment
        (MLflow's auth app answers 403 for a model that does not exist, which would read as a
        missing permission)."""
        body = segment_body(model, segment, tags)
        why = "aliasgate keeps audit records in registered models it creates next to the model"
        what = f"the audit segment {segment!r}"
        for _ in range(2):
            created = self.client.create_beside(
                body, model=model, what=what, why=why, timeout=lease.timeout()
            )
            if created is not None:
                return created
            found = self.client.other_model(segment, model, "read back an audit segment")
            if found is not None:  # made by this call iff it holds the record
                made = tag_dict(found[1].get("tags"))
                return all(made.get(k) == v for k, v in tags.items())
        raise RegistryError(
            f"the MLflow server did not answer creating {what} (twice; it does not exist); "
            "nothing was changed",
            model=model,
        )

    def commit(self, lease: Lease, model: str, sealed: Mapping[str, Any], segment: str) -> None:
        """Write the head after the move or deletion happened. If that fails, the lock is left to
        expire instead of being released: whoever takes it over then settles the record (a
        released lock would let the next job write its own record over this one's place)."""
        try:
            self.write_head(lease, model, sealed, segment)
        except BaseException:
            lease.abandoned = True
            raise

    def finish(
        self,
        lease: Lease,
        model: str,
        sealed: dict[str, Any],
        written: tuple[str, bool],
        failure: AliasgateError,
        happened: Callable[[], bool],
        *,
        what: str,
        version: int | None = None,
    ) -> dict[str, Any]:
        """After the guarded write of a record written ahead failed or went unanswered (a lost
        answer, a refused retry): read back whether it happened. Happened: commit the record and
        answer it. Not: drop the record and raise the failure. Unreadable: leave the record and
        the lease for settling (this holder tries at once, else the next) and raise."""
        result = self.outcome(failure, happened, what=what, model=model, version=version)
        if result is None:
            self.commit(lease, model, sealed, written[0])
            return sealed
        if isinstance(result, OutcomeUnknown):
            lease.abandoned = True
        else:
            self.drop_record(lease, written, sealed)
        raise result

    @staticmethod
    def outcome(
        failure: AliasgateError,
        happened: Callable[[], bool],
        *,
        what: str,
        model: str,
        version: int | None = None,
    ) -> AliasgateError | None:
        """None when the write happened after all; the failure when it did not; OutcomeUnknown
        when reading it back failed too."""
        try:
            did = happened()
        except AliasgateError as exc:
            return OutcomeUnknown(
                f"the MLflow server did not confirm {what} ({failure}) and reading it back failed ({exc}); "
                "its audit record stays written ahead and is kept if the change happened: settled by "
                "this job as soon as the server answers again, else by whoever holds the lock next "
                "(`promote history` shows it)",
                model=model,
                version=version,
            )
        return None if did else failure

    def write_head(self, lease: Lease, model: str, sealed: Mapping[str, Any], segment: str) -> None:
        head = {**audit.head_of(sealed).as_dict(), "segment": segment}
        self.client.guarded(
            lease.timeout, "POST", "registered-models/set-tag",
            {"name": model, "key": HEAD_TAG, "value": audit.canonical(head)},
            need="EDIT", action="write the audit head", model=model,
        )  # fmt: skip
        self.reads.models_seen.pop(model, None)

    def drop_record(self, lease: Lease, written: tuple[str, bool], sealed: Mapping[str, Any]) -> None:
        """Best effort after a refused move: remove the write-ahead record (it is off the chain
        anyway), and the segment too when it was made for it, so a refused move leaves nothing."""
        segment, created = written
        self.drop_batch(lease, segment, [sealed], whole=created)
        self.unmark(lease, str(sealed.get("model")))

    def unmark(self, lease: Lease, model: str) -> None:
        """Best effort, once the records the marker names were dropped (their change did not
        happen): remove the marker, so a refused change leaves nothing on the model."""
        with suppress(AliasgateError):
            self.client.guarded(
                lease.timeout, "DELETE", "registered-models/delete-tag", {"name": model, "key": PENDING_TAG},
                need="EDIT", action="remove the audit marker", model=model,
            )  # fmt: skip
            self.reads.models_seen.pop(model, None)

    def mark(self, lease: Lease, model: str, last: Mapping[str, Any], segment: str) -> None:
        """Vouch for the records about to be written ahead, before anything changes: the pending
        marker on the model itself (EDIT, like the head) names the last one's seq, hash and segment
        (the others of a batch link back to the head through it)."""
        self.client.guarded(
            lease.timeout, "POST", "registered-models/set-tag",
            {"name": model, "key": PENDING_TAG, "value": audit.encode_head(audit.head_of(last), segment=segment)},
            need="EDIT", action="write the audit marker", model=model,
        )  # fmt: skip
        self.reads.models_seen.pop(model, None)

    def settle(self, lease: Lease, state: ModelState, crashed: Sequence[str]) -> ModelState:
        """Under the lock, after taking over stale locks (of ``crashed`` accounts), or by a holder
        that could not commit: a holder that died after writing ahead and before the head leaves
        records past the head, which the pending marker names. The head advances over those whose
        change happened (the alias is where the record says; a deletion: the version is gone), in
        order. A record the marker does not name is never settled, however well it links: anyone
        may create a model named like a segment, and write a record whose target the alias holds."""
        model = state.name
        head = head_of_tags(state.tags)
        marker, segment = pending_of_tags(state.tags), segment_of_pending(state.tags)
        if marker is None or segment is None or marker.seq <= (head.seq if head else 0):
            return state
        found = self.client.other_model(segment, model, "read an audit segment")
        tags = tag_dict(found[1].get("tags")) if found is not None else {}
        if tags.get("aliasgate.audit.of", model) != model:
            return state
        stored = [audit.Stored(record) for _, record in records_in(tags)]
        last: dict[str, Any] | None = None
        for record in audit.walk(stored, head, model, pending=marker).pending:
            if not self.happened(state, record):
                break
            last = record
        if last is not None:
            self.write_head(lease, model, last, segment)
        upto = int(last["seq"]) if last is not None else (head.seq if head else 0)
        if segment.startswith(f"{segment_prefix(model)}{self.account_key()}.{BATCH_MARK}"):
            seqs = [seq for seq, _ in records_in(tags)]
            unused = [{"seq": n} for n in sorted(seqs) if n > upto]
            if unused:  # written ahead of deletions that did not happen: only the chain's stay
                self.drop_batch(lease, segment, unused, whole=len(unused) == len(seqs))
        return self.reads.model(model, fresh=True) if last is not None else state

    def happened(self, state: ModelState, record: Mapping[str, Any]) -> bool:
        if record.get("kind") in audit.MOVES_NOTHING:
            return False  # nothing in the registry can show it happened: only its head vouches for it
        if record.get("kind") == "delete":
            number = int_or_none(record.get("version"))
            if number is None:
                number = int_or_none(record.get("from"))
            if number is None:
                return False
            try:
                self.reads.version(state.name, number)
            except NotFound:
                return True
            return False
        return state.aliases.get(str(record.get("alias"))) == record.get("to")

    # -- the lock -------------------------------------------------------------------------------------
