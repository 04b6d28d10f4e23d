"""Audit storage: records in segments beside the model, written ahead; the head tag commits them.

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
from contextlib import suppress
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
    chain,
    encode_record,
    head_of_tags,
    links,
    read_record,
    record_keys,
    records_in,
    safe,
    segment_body,
    segment_name,
    segment_prefix,
)


class AuditStore:
    """Reads and writes one model's audit records in MLflow."""

    def __init__(self, client: RestClient, reads: Reads) -> None:
        self.client = client
        self.reads = reads

    def audit_log(self, model: str) -> audit.AuditLog:
        """The chain ending at the head, read from the model's audit segments; plus the write-ahead
        records right after the head whose moves or deletions happened (their job died, or is
        still at work, before committing them: a batch writes up to BATCH_SIZE ahead)."""
        state = self.reads.model(model, fresh=True)
        head = head_of_tags(state.tags)
        candidates = self.segment_records(model)
        records = chain(candidates, head)
        upto = head.seq if head is not None else 0
        while True:
            pick = next(
                (r for r in candidates.get(upto + 1, []) if links(r, head) and self.happened(state, r)),
                None,
            )
            if pick is None:
                break
            records.append(pick)
            head = audit.head_of(pick)
            upto += 1
        # The rest has no place in the chain. A deletion record whose version still exists was
        # written ahead of a deletion that never happened, and one whose deletion the chain already
        # records was written ahead of a batch cut short and sent again: both are left out.
        # Anything else is shown, so verification names the break.
        recorded = {int_or_none(r.get("version")) for r in records if r.get("kind") == "delete"}
        for seq in sorted(s for s in candidates if s > upto + 1):
            shown = next(
                (
                    r
                    for r in candidates[seq]
                    if not (r.get("kind") == "delete" and int_or_none(r.get("version")) in recorded)
                    and not self.abandoned(state, r)
                ),
                None,
            )
            if shown is not None:
                records.append(shown)
        return audit.AuditLog(model, records, head)

    def segment_records(self, model: str) -> dict[int, list[dict[str, Any]]]:
        """Every record stored in the model's audit segments, by seq (several when one was orphaned)."""
        found: dict[int, list[dict[str, Any]]] = {}
        for _, tags in self.segments(model, segment_prefix(model)):
            for seq, record in records_in(tags):
                if record.get("model", model) == model:
                    found.setdefault(seq, []).append(record)
        return found

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
        tags: dict[str, str] = {}
        for record in sealed:
            values = encode_record(record)
            tags.update(zip(record_keys(int(record["seq"]), len(values)), values, strict=True))
        try:
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

    def settle(self, lease: Lease, state: ModelState, crashed: Sequence[str]) -> ModelState:
        """Under the lock, after taking over stale locks of ``crashed`` accounts: a holder that died
        after writing ahead and before the head leaves record head+1 in its page segment (one
        move or deletion), or records head+1.. in a batch segment named after head+1. A record's
        move happened iff the alias is where it says (a deletion: the version is gone). The head
        advances over the records that happened, in order; the others stay off the chain."""
        model = state.name
        head = head_of_tags(state.tags)
        seq = (head.seq if head else 0) + 1
        found: dict[int, list[tuple[dict[str, Any], str]]] = {}
        batches: dict[str, list[int]] = {}  # batch segment -> the seqs it holds
        for account in dict.fromkeys(crashed):
            page = segment_name(model, account, (seq - 1) // records.SEGMENT_SIZE)
            segment = self.client.other_model(page, model, "read an audit segment")
            record = None if segment is None else read_record(tag_dict(segment[1].get("tags")), seq)
            if record is not None:
                found.setdefault(seq, []).append((record, page))
            for name, tags in self.segments(model, f"{segment_prefix(model)}{account}.{BATCH_MARK}{seq}-"):
                for number, record in records_in(tags):
                    found.setdefault(number, []).append((record, name))
                    batches.setdefault(name, []).append(number)
        last: tuple[dict[str, Any], str] | None = None
        while True:
            upto = head.seq if head else 0
            pick = next(
                (
                    (r, seg)
                    for r, seg in found.get(upto + 1, [])
                    if links(r, head) and self.happened(state, r)
                ),
                None,
            )
            if pick is None:
                break
            last, head = pick, audit.head_of(pick[0])
        if last is not None:
            self.write_head(lease, model, *last)
        self.drop_unsettled(lease, model, batches, head.seq if head else 0)
        return self.reads.model(model, fresh=True) if last is not None else state

    def drop_unsettled(
        self, lease: Lease, model: str, batches: Mapping[str, Sequence[int]], upto: int
    ) -> None:
        """After settling: the records past the head in our own account's batch segments were
        written ahead of deletions that did not happen; remove them (best effort: readers leave
        them out anyway), so the segment holds only what the chain may point at."""
        mine = f"{segment_prefix(model)}{self.account_key()}.{BATCH_MARK}"
        for segment, seqs in batches.items():
            unused = [{"seq": n} for n in sorted(seqs) if n > upto]
            if segment.startswith(mine) and unused:
                self.drop_batch(lease, segment, unused, whole=len(unused) == len(seqs))

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

    def abandoned(self, state: ModelState, record: Mapping[str, Any]) -> bool:
        """A deletion record whose version still exists: written ahead of a deletion that did
        not happen (a batch cut short, a job that died before deleting)."""
        return record.get("kind") == "delete" and not self.happened(state, record)

    # -- the lock -------------------------------------------------------------------------------------
