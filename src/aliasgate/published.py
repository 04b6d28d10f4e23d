"""Reading the publish edge back: which audit record says a version was published, and from what.

A publish leaves a record on both chains: the source model gets a ``publish`` record naming the
destination version (``published_to``), and the destination's alias move names its source
(``published_from``). Lineage gates and ``history`` read these; they are pure functions over
records, so every backend's chain answers the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def same_model(a: str, b: str) -> bool:
    """Two references to one model, as written in a policy and as a registry spells it: equal, or
    one is the other with a project (and entity) in front (W&B ``team/training/bert``)."""
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def publish_record(
    records: Sequence[Mapping[str, Any]],
    number: int,
    dest_model: str,
    dest_version: int | None = None,
    *,
    rule: str | None = None,
) -> Mapping[str, Any] | None:
    """The newest ``publish`` record of a source chain saying ``v<number>`` went into ``dest_model``
    (as ``v<dest_version>`` when given, by ``rule`` when given, with every gate passed)."""
    for rec in reversed(records):
        to = rec.get("published_to")
        if rec.get("kind") != "publish" or rec.get("version") != number or not isinstance(to, Mapping):
            continue
        if not same_model(str(to.get("model") or ""), dest_model):
            continue
        if dest_version is not None and to.get("version") != dest_version:
            continue
        if rule is not None and (rec.get("rule") != rule or not _all_passed(rec.get("gates"))):
            continue
        found: Mapping[str, Any] = rec
        return found
    return None


def promoted_record(
    records: Sequence[Mapping[str, Any]], source: Any, dest_version: int, *, rule: str
) -> Mapping[str, Any] | None:
    """The destination chain's move of rule ``rule`` onto ``v<dest_version>`` published from
    ``source`` (a VersionId), every gate passed: the other side of the edge, for a registry where
    the account may only read the source (MLflow: READ on the source) and so wrote no record there."""
    for rec in reversed(records):
        origin = rec.get("published_from")
        if rec.get("kind") != "promote" or rec.get("to") != dest_version or not isinstance(origin, Mapping):
            continue
        if origin.get("version") != source.number or not same_model(
            str(origin.get("model") or ""), source.model
        ):
            continue
        if rec.get("rule") == rule and _all_passed(rec.get("gates")):
            found: Mapping[str, Any] = rec
            return found
    return None


def _all_passed(gates: Any) -> bool:
    return isinstance(gates, list) and all(isinstance(g, Mapping) and g.get("passed") is True for g in gates)


def edge_text(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """``history``'s from/to cells for a record on either side of a publish, else None."""
    to = record.get("published_to")
    if record.get("kind") == "publish" and isinstance(to, Mapping):
        return f"v{record.get('version')}", f"published to {to.get('model')}:v{to.get('version')}"
    src = record.get("published_from")
    if isinstance(src, Mapping):
        before = "-" if record.get("from") is None else f"v{record.get('from')}"
        return before, f"v{record.get('to')} (from {src.get('model')}:v{src.get('version')})"
    return None
