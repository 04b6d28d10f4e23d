"""Audit records: one per alias change or deletion, hash-chained per model.

A record is a plain JSON object so every backend can store it as it likes
(an SQLite row, an MLflow tag, W&B metadata). ``seal`` links a record to the
previous one of the same model; ``verify`` walks a chain and names the first
record that was edited, deleted or reordered. Backends also keep a *head*
(the last seq and hash) apart from the records, so deleting the newest record
is caught too.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
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
class AuditLog:
    """Every stored record of one model, oldest first, and the separately kept head."""

    model: str
    records: Sequence[Mapping[str, Any]] = ()
    head: Head | None = None


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad: int | None = None  # seq of the first bad record (or of the missing one)
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "first_bad": self.first_bad, "problem": self.problem}


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
    inside their transaction or lock, with the head they just read."""
    record = {k: v for k, v in jsonable(dict(body)).items() if k not in ("seq", "prev", "hash")}
    record["format"] = RECORD_FORMAT
    record["seq"] = 1 if head is None else head.seq + 1
    record["prev"] = None if head is None else head.hash
    record["hash"] = digest(record)
    return record


def head_of(record: Mapping[str, Any]) -> Head:
    return Head(int(record["seq"]), str(record["hash"]))


def verify(log: AuditLog) -> Verification:
    """Walk the chain oldest first; the first record whose hash, seq or link is off is named."""
    prev_hash: str | None = None
    expected_seq = 1
    ordered = sorted(log.records, key=lambda r: _seq(r))
    for record in ordered:
        seq = _seq(record)
        if seq != expected_seq:
            return Verification(
                False,
                expected_seq - 1,
                expected_seq,
                f"record #{expected_seq} is missing (next stored record is #{seq})",
            )
        if record.get("hash") != digest(record):
            return Verification(False, seq - 1, seq, f"record #{seq} was edited: its hash does not match")
        if record.get("prev") != prev_hash:
            return Verification(False, seq - 1, seq, f"record #{seq} does not link to record #{seq - 1}")
        if record.get("model") != log.model:
            return Verification(False, seq - 1, seq, f"record #{seq} belongs to {record.get('model')!r}")
        prev_hash = str(record["hash"])
        expected_seq += 1
    last = expected_seq - 1
    if log.head is not None:
        if log.head.seq > last:
            return Verification(
                False, last, last + 1, f"record #{last + 1} is missing: the chain head says #{log.head.seq}"
            )
        if log.head.seq < last or log.head.hash != prev_hash:
            return Verification(False, last, log.head.seq, "the chain head does not match the newest record")
    elif last:
        return Verification(False, last, last, "records exist but the chain head is missing")
    return Verification(True, last)


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
