"""Audit records: one per alias change or deletion, hash-chained per model.

A record is a plain JSON object so every backend can store it as it likes
(an SQLite row, an MLflow tag, W&B metadata). ``seal`` links a record to the
previous one of the same model; ``verify`` walks a chain and names the first
record that was edited, deleted or reordered. Backends also keep a *head*
(the last seq and hash) apart from the records, where only the alias's writers
can write: a stored record counts only when the head vouches for it
(:func:`walk`, the one chain walk every backend uses), so a record planted
where others may write (an MLflow model anyone may create, a W&B version's
metadata) is ignored by every reader and named by verification.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RECORD_FORMAT = 1
KINDS = ("promote", "rollback", "undo", "manual", "remove", "delete", "approve", "revoke", "ttl", "publish")
#: kinds whose record changes no alias and no version (an approval, its revocation, a TTL change):
#: nothing in the registry can show they "happened", so only the chain head vouches for them
MOVES_NOTHING = ("approve", "revoke", "ttl")


@dataclass(frozen=True)
class Head:
    """The newest record of a chain as the backend remembers it apart from the records."""

    seq: int
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


@dataclass(frozen=True)
class Stored:
    """A record as read from storage: where it was found and, where the registry tells, who
    created that place (an MLflow segment's creator, a W&B version's writer)."""

    record: Mapping[str, Any]
    where: str = ""
    creator: str | None = None


@dataclass(frozen=True)
class Unvouched:
    """A stored record the chain head does not vouch for: readers ignore it, ``--verify`` names it."""

    seq: int | None
    hash: str | None
    where: str
    creator: str | None
    why: str

    def describe(self) -> str:
        place = f" in {self.where}" if self.where else ""
        who = f" (created by {self.creator})" if self.creator else ""
        return f"record #{self.seq}{place}{who}: {self.why}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "where": self.where,
            "creator": self.creator,
            "why": self.why,
        }


@dataclass(frozen=True)
class AuditLog:
    """One model's audit trail as its readers may use it: the records the chain head vouches for,
    oldest first, and the head; ``extras`` are stored records it does not vouch for (ignored by
    every reader, reported by verification); ``limits`` says what the backend cannot guarantee."""

    model: str
    records: Sequence[Mapping[str, Any]] = ()
    head: Head | None = None
    extras: Sequence[Unvouched] = ()
    problem: tuple[int, str] | None = None  # where the chain breaks, if it does
    limits: str | None = None

    @classmethod
    def vouched(
        cls, model: str, stored: Iterable[Stored], head: Head | None, *, limits: str | None = None
    ) -> AuditLog:
        """The log of ``stored`` as ``head`` vouches for it (see :func:`walk`)."""
        found = walk(stored, head, model)
        return cls(model, found.records, head, found.extras, found.problem, limits)


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad: int | None = None  # seq of the first bad record (or of the missing one)
    problem: str | None = None
    unvouched: tuple[Unvouched, ...] = ()  # stored records the head does not vouch for
    limits: str | None = None  # what this backend cannot guarantee, said with every verification

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad": self.first_bad,
            "problem": self.problem,
            "unvouched": [u.as_dict() for u in self.unvouched],
            "limits": self.limits,
        }


def jsonable(value: Any) -> Any:
    """Make evidence JSON-safe and canonical: NaN and infinities become strings, tuples lists."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def canonical(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(record: Mapping[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def seal(body: Mapping[str, Any], head: Head | None) -> dict[str, Any]:
    """Chain ``body`` after ``head``: adds format, seq, prev and hash. Called by backends
    inside their transaction or lock, with the head they just read. An unreadable head is
    refused: nothing is chained after a head no one can check."""
    if head is not None and head.hash == UNREADABLE:
        from aliasgate.errors import RegistryError

        raise RegistryError(
            f"the audit chain head of {body.get('model')!r} cannot be read; nothing was changed",
            hint="`promote history --verify` shows the chain; a registry admin must repair the head",
        )
    record = {k: v for k, v in jsonable(dict(body)).items() if k not in ("seq", "prev", "hash")}
    record["format"] = RECORD_FORMAT
    record["seq"] = 1 if head is None else head.seq + 1
    record["prev"] = None if head is None else head.hash
    record["hash"] = digest(record)
    return record


def head_of(record: Mapping[str, Any]) -> Head:
    return Head(int(record["seq"]), str(record["hash"]))


UNREADABLE = "unreadable"


def decode_head(raw: Any) -> Head | None:
    """A head as stored (JSON text, or an object with ``seq`` and ``hash``): None when there is
    none; an unreadable one becomes a head no record matches, so verification names it."""
    if raw is None or raw == "":
        return None
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        seq = int(data["seq"])
        if seq < 1:
            raise ValueError(seq)
        return Head(seq, str(data["hash"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return Head(0, UNREADABLE)


def encode_head(head: Head, **extra: Any) -> str:
    """The head as stored: canonical JSON, with whatever a backend keeps beside it."""
    return canonical({**head.as_dict(), **extra})


@dataclass(frozen=True)
class Chain:
    """What :func:`walk` found: the vouched records (oldest first), the write-ahead records a
    pending marker vouches for past the head (oldest first), and every other stored record."""

    records: list[dict[str, Any]]
    extras: list[Unvouched]
    problem: tuple[int, str] | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)


def walk(stored: Iterable[Stored], head: Head | None, model: str, *, pending: Head | None = None) -> Chain:
    """The one chain walk every backend uses. A record counts only when the head (kept where only
    the alias's writers can write) vouches for it: the head names its hash, or a record it vouches
    for links to it by ``prev``. ``pending`` (a marker kept where the head is) vouches the same way
    for records written ahead of a change, as long as they continue the chain right after the head.
    Every other stored record is an extra, whatever it says; the first break is the problem."""
    by_seq: dict[int, list[Stored]] = {}
    for item in stored:
        by_seq.setdefault(_seq(item.record), []).append(item)
    base = head.seq if head else 0
    picked: list[Stored] = []
    problem: tuple[int, str] | None = None
    ahead: list[Stored] = []
    if pending is not None and pending.seq > base and (head is None or head.hash != UNREADABLE):
        chain, broken = _back(by_seq, pending, base, model)
        if broken is None and chain[-1].record.get("prev") == (head.hash if head else None):
            ahead = chain
    vouched_ahead = {_key(c.record) for c in ahead}
    if head is None:
        rest = [s for seq in by_seq for s in by_seq[seq] if _key(s.record) not in vouched_ahead]
        problem = (
            (min(_seq(s.record) for s in rest), "records exist but the chain head is missing")
            if rest
            else None
        )
    elif head.hash == UNREADABLE:
        problem = (1, "the chain head cannot be read")
    else:
        picked, problem = _back(by_seq, head, 0, model)
    keep = {_key(c.record) for c in picked} | vouched_ahead
    extras: dict[tuple[str, str], Unvouched] = {}
    for seq in sorted(by_seq):
        for item in by_seq[seq]:
            key = _key(item.record)
            if key not in keep:
                extras.setdefault((key, item.where), _unvouched(item, head))
    return Chain(
        [dict(c.record) for c in reversed(picked)],
        list(extras.values()),
        problem,
        [dict(c.record) for c in reversed(ahead)],
    )


def _back(
    by_seq: Mapping[int, Sequence[Stored]], top: Head, stop: int, model: str
) -> tuple[list[Stored], tuple[int, str] | None]:
    """Walk from ``top`` down to ``stop`` (exclusive) by hash links: newest first, and the break."""
    out: list[Stored] = []
    expected: Any = top.hash
    for seq in range(top.seq, stop, -1):
        options = by_seq.get(seq, ())
        pick = next((o for o in options if o.record.get("hash") == expected and _intact(o.record)), None)
        if pick is None:
            return out, (seq, _gap(seq, options, expected, named_by_head=seq == top.seq))
        if pick.record.get("model") != model:
            return out, (seq, f"record #{seq} belongs to {pick.record.get('model')!r}")
        out.append(pick)
        expected = pick.record.get("prev")
    if stop == 0 and expected is not None:
        return out, (1, "record #1 does not start the chain: it links to an earlier record")
    return out, None


def _gap(seq: int, options: Sequence[Stored], expected: Any, *, named_by_head: bool) -> str:
    if any(o.record.get("hash") == expected for o in options):
        return f"record #{seq} was edited: its hash does not match"
    if named_by_head:
        if options:
            return f"the chain head does not match the newest record (#{seq})"
        return f"record #{seq} is missing: the chain head says #{seq}"
    if options:
        return f"record #{seq + 1} does not link to record #{seq}"
    return f"record #{seq} is missing (record #{seq + 1} links to it)"


def _unvouched(item: Stored, head: Head | None) -> Unvouched:
    seq = _seq(item.record)
    if head is None or head.hash == UNREADABLE:
        why = "no readable chain head vouches for it"
    elif seq > head.seq:
        why = f"it is past the chain head (#{head.seq}), which does not vouch for it"
    else:
        why = "the chain head does not vouch for it"
    raw_hash = item.record.get("hash")
    return Unvouched(seq, raw_hash if isinstance(raw_hash, str) else None, item.where, item.creator, why)


def _intact(record: Mapping[str, Any]) -> bool:
    try:
        return record.get("hash") == digest(record)
    except (TypeError, ValueError):
        return False


def _key(record: Mapping[str, Any]) -> str:
    try:
        return canonical(record)
    except (TypeError, ValueError):
        return repr(sorted(record.items(), key=lambda kv: str(kv[0])))


def verify(log: AuditLog) -> Verification:
    """The chain as the head vouches for it: the first break, else every stored record the head
    does not vouch for (readers ignore those; verification names each, with where it is stored)."""
    found = walk((Stored(r) for r in log.records), log.head, log.model)
    problem = log.problem or found.problem
    extras = (*log.extras, *found.extras)
    checked = len(found.records)
    if problem is not None:
        return Verification(False, checked, problem[0], problem[1], extras, log.limits)
    if extras:
        first = extras[0]
        what = f"{len(extras)} stored record(s) the chain head does not vouch for, first {first.describe()}"
        return Verification(False, checked, first.seq, what, extras, log.limits)
    return Verification(True, checked, limits=log.limits)


def _seq(record: Mapping[str, Any]) -> int:
    try:
        return int(record.get("seq", 0))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Filter:
    alias: str | None = None
    kinds: tuple[str, ...] = field(default_factory=tuple)

    def __call__(self, record: Mapping[str, Any]) -> bool:
        if self.alias is not None and record.get("alias") != self.alias:
            return False
        return not self.kinds or record.get("kind") in self.kinds
