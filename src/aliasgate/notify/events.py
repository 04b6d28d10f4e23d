"""The events aliasgate tells about, built from what it recorded.

A ``moved``, ``rolled_back`` or ``cleanup`` event is made from the sealed audit records of
the change (so its principal, policy hash, git commit and CI run are exactly those of the
audit trail, and it names the record: seq and hash); a ``blocked`` event from the rule's
plan (the gates and what they observed) and the run's provenance. Every backend records
the same fields, so every backend sends the same event shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aliasgate import secrets
from aliasgate.model import iso, utcnow
from aliasgate.notify import Event


def new_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _event(kind: str, data: dict[str, Any], now: datetime | None = None) -> Event:
    return Event(kind, new_id(), iso(now or utcnow()), data)


def _who(record: Mapping[str, Any]) -> dict[str, Any]:
    """Who, which policy, which commit, which CI run: from an audit record or a provenance."""
    git = record.get("git") or {}
    ci = record.get("ci") or {}
    policy = record.get("policy") or {}
    return {
        "principal": record.get("principal"),
        "actor": record.get("actor"),
        "policy": policy or None,
        "policy_sha256": policy.get("sha256"),
        "git_commit": git.get("commit"),
        "git": git or None,
        "ci_run_url": ci.get("run_url"),
    }


def _registry(uri: str) -> str:
    return secrets.redact(secrets.strip_userinfo(uri))


def from_record(kind: str, record: Mapping[str, Any], registry: str) -> Event:
    """A ``moved`` or ``rolled_back`` event from the sealed record of the alias change."""
    data = {
        "event": kind,
        "registry": _registry(registry),
        "model": record.get("model"),
        "alias": record.get("alias"),
        "from": record.get("from"),
        "to": record.get("to"),
        "rule": record.get("rule"),
        "reason": record.get("reason"),
        **_who(record),
        "gates": list(record.get("gates") or []),
        "audit": {"seq": record.get("seq"), "hash": record.get("hash")},
    }
    return _event(kind, data)


def moved(result: Any, registry: str) -> list[Event]:
    """One ``moved`` event per alias an apply moved (its ``promote`` records)."""
    return [
        from_record("moved", r, registry)
        for o in result.outcomes
        if o.status == "applied"
        for r in o.records
        if r.get("kind") == "promote"
    ]


def blocked(plan: Any, provenance: Mapping[str, Any], registry: str) -> list[Event]:
    """One ``blocked`` event per rule whose gates stopped it, with every gate's evidence."""
    out = []
    for r in plan.rules:
        if r.status != "blocked":
            continue
        model = r.models[0] if len(r.models) == 1 else None
        data = {
            "event": "blocked",
            "registry": _registry(registry),
            "model": model,
            "models": list(r.models),
            "alias": r.to,
            "from": r.holders.get(model) if model else None,
            "to": r.candidates.get(model) if model else None,
            "rule": r.rule,
            "reason": r.reason,
            **_who(provenance),
            "gates": [g.as_dict() for g in r.gates],
            "audit": None,
        }
        out.append(_event("blocked", data))
    return out


def cleanup(result: Any, registry: str) -> list[Event]:
    """One ``cleanup`` event per model that lost versions, naming each deletion's audit record."""
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for o in result.outcomes:
        if o.status == "deleted" and o.record is not None:
            by_model.setdefault(o.model, []).append(o.record)
    out = []
    for model, records in by_model.items():
        data = {
            "event": "cleanup",
            "registry": _registry(registry),
            "model": model,
            "alias": None,
            "deleted": [
                {
                    "version": r.get("version"),
                    "rule": r.get("rule"),
                    "audit": {"seq": r.get("seq"), "hash": r.get("hash")},
                }
                for r in records
            ],
            **_who(records[0]),
        }
        out.append(_event("cleanup", data))
    return out


def test_event(now: datetime | None = None) -> Event:
    """``promote notify --test``: says what it is, carries no registry data."""
    return _event(
        "test", {"event": "test", "message": "aliasgate notification test: delivery and signature work"}, now
    )


def types(events: Sequence[Event]) -> set[str]:
    return {e.type for e in events}
