"""How audit records are stored in MLflow tags: encoding, segment names, the head tag, the chain.

Registered-model tag values are a String(5000) column in MLflow's SQL schema (the REST validator
allows 100,000, but MySQL/Postgres enforce the column), so records are kept under TAG_LIMIT
characters: plain JSON, else zlib+base64, else split over several tags.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from aliasgate import audit
from aliasgate.registry.mlflow.client import int_or_none

TAG_PREFIX = "aliasgate."
AUDIT_PREFIX = "aliasgate.audit."
HEAD_TAG = "aliasgate.audit.head"
SEGMENT_PREFIX = "aliasgate-audit."
SEGMENT_SIZE = 100  # records per audit segment: MLflow reads every tag of a model it touches
TAG_LIMIT = 5000
BATCH_MARK = "b"  # batch segments: aliasgate-audit.<model>.<account>.b<first seq>-<token>


def encode_record(sealed: Mapping[str, Any]) -> list[str]:
    """One tag value when it fits (plain JSON, else ``z:`` zlib+base64), else ``zN:`` parts."""
    text = audit.canonical(sealed)
    if len(text) <= TAG_LIMIT:
        return [text]
    packed = base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")
    if len(packed) + 2 <= TAG_LIMIT:
        return ["z:" + packed]
    size = TAG_LIMIT - 16
    chunks = [packed[i : i + size] for i in range(0, len(packed), size)]
    return [f"z{len(chunks)}:" + chunks[0], *chunks[1:]]


def read_record(tags: Mapping[str, str], seq: int) -> dict[str, Any] | None:
    """The record stored at ``seq``; an unreadable one comes back as a stub that fails verification."""
    value = tags.get(f"{AUDIT_PREFIX}{seq}")
    if value is None:
        return None
    try:
        if value.startswith("{"):
            text = value
        elif value.startswith("z:"):
            text = zlib.decompress(base64.b64decode(value[2:])).decode("utf-8")
        elif value.startswith("z") and ":" in value:
            count_text, _, first = value[1:].partition(":")
            parts = [first] + [tags[f"{AUDIT_PREFIX}{seq}.{i}"] for i in range(1, int(count_text))]
            text = zlib.decompress(base64.b64decode("".join(parts))).decode("utf-8")
        else:
            raise ValueError("unknown encoding")
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("not an object")
        return record
    except (ValueError, KeyError, zlib.error):
        return {"seq": seq, "hash": None, "unreadable": f"tag {AUDIT_PREFIX}{seq} cannot be decoded"}


def links(record: Mapping[str, Any], head: audit.Head | None) -> bool:
    """An intact record that continues the chain right after ``head``."""
    return (
        record.get("hash") == audit.digest(record)
        and record.get("seq") == (head.seq if head else 0) + 1
        and record.get("prev") == (head.hash if head else None)
    )


def chain(
    candidates: Mapping[int, Sequence[dict[str, Any]]], head: audit.Head | None
) -> list[dict[str, Any]]:
    """Records 1..head, walking back from the head by hash: where a seq has several records (one
    orphaned by a job that died before committing), the one the chain points at wins."""
    chosen: dict[int, dict[str, Any]] = {}
    expected = head.hash if head else None
    for seq in range(head.seq if head else 0, 0, -1):
        options = candidates.get(seq, [])
        pick = next((r for r in options if r.get("hash") == expected), options[0] if options else None)
        if pick is None:
            expected = None  # missing: verification names it
            continue
        chosen[seq] = pick
        expected = pick.get("prev")
    return [chosen[seq] for seq in sorted(chosen)]


def safe(name: str) -> str:
    """An account name usable inside a model name (no '/' or ':'), stable and short."""
    cleaned = "".join(c if c.isalnum() or c in "-_@" else "_" for c in name)[:64]
    if cleaned == name:
        return name
    return f"{cleaned}~{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def segment_prefix(model: str) -> str:
    prefix = f"{SEGMENT_PREFIX}{model}."
    if len(prefix) <= 160:
        return prefix
    return f"{SEGMENT_PREFIX}{hashlib.sha256(model.encode()).hexdigest()[:40]}."


def segment_body(model: str, segment: str, tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": segment,
        "description": f"aliasgate audit records of {model!r} (hash-chained; the head is the tag "
        f"{HEAD_TAG} on {model!r}). Do not edit: `promote history --verify` reports any change.",
        "tags": [
            {"key": "aliasgate.audit.of", "value": model},
            *({"key": k, "value": v} for k, v in tags.items()),
        ],
    }


def record_keys(seq: int, parts: int) -> list[str]:
    return [f"{AUDIT_PREFIX}{seq}" if i == 0 else f"{AUDIT_PREFIX}{seq}.{i}" for i in range(parts)]


def records_in(tags: Mapping[str, str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(seq, record) of every record stored in one segment's tags."""
    for key in tags:
        seq = int_or_none(key[len(AUDIT_PREFIX) :]) if key.startswith(AUDIT_PREFIX) else None
        record = read_record(tags, seq) if seq is not None else None
        if seq is not None and record is not None:
            yield seq, record


def segment_name(model: str, account: str, page: int) -> str:
    """``aliasgate-audit.<model>.<account>.<page>``: records (page*SIZE, (page+1)*SIZE] by one account."""
    return f"{segment_prefix(model)}{account}.{page}"


def segment_of_head(tags: Mapping[str, str]) -> str | None:
    try:
        segment = json.loads(tags.get(HEAD_TAG) or "{}").get("segment")
    except (ValueError, AttributeError):
        return None
    return str(segment) if segment else None


def head_of_tags(tags: Mapping[str, str]) -> audit.Head | None:
    raw = tags.get(HEAD_TAG)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return audit.Head(int(data["seq"]), str(data["hash"]))
    except (ValueError, KeyError, TypeError):
        return audit.Head(0, "unreadable")
