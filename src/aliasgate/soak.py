"""Soak time: the candidate has held an alias continuously for at least a duration.

Measured from the model's verified audit trail only: the newest recorded move of the alias
must be the one that put the candidate there, and its time (``at``, written by the job that
moved the alias) is when the soak began. Never from a time the candidate's author controls
(version creation times, metadata). A candidate that left and came back starts again, since
the newest move is its return. An alias the registry shows on the candidate with no audited
move putting it there (set outside aliasgate) fails closed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aliasgate import audit
from aliasgate.approvals import MOVE_KINDS, verified
from aliasgate.durations import format_duration
from aliasgate.model import Version, parse_time
from aliasgate.policy.model import SoakGate


def describe(gate: SoakGate) -> str:
    return f"held {gate.alias} for {gate.text}"


def evaluate(
    gate: SoakGate,
    cand: Version,
    holder: int | None,
    log: Callable[[str], audit.AuditLog],
    now: datetime,
) -> tuple[bool, dict[str, Any] | None, str]:
    """(passed, observed, detail); ``holder`` is the version holding ``gate.alias`` now."""
    if holder != cand.number:
        now_on = "nothing" if holder is None else f"v{holder}"
        return False, {"holder": holder}, f"{cand} does not hold {gate.alias} ({gate.alias} is on {now_on})"
    last = None
    for r in verified(log(cand.model)):
        if r.get("kind") in MOVE_KINDS and r.get("alias") == gate.alias:
            last = r
    if last is None or last.get("to") != cand.number or type(last.get("to")) is not int:
        return (
            False,
            {"holder": holder, "since": None},
            f"no audited move put {cand} on {gate.alias} (fails closed: set outside aliasgate?)",
        )
    try:
        since = parse_time(str(last.get("at")))
    except (ValueError, OverflowError):
        return (
            False,
            {"since": None},
            f"the audit record #{last.get('seq')} has no readable time (fails closed)",
        )
    held = (now - since).total_seconds()
    ok = held >= gate.seconds
    observed = {"since": since.isoformat(), "held": format_duration(max(held, 0)), "record": last.get("seq")}
    verb = ">=" if ok else "<"
    return (
        ok,
        observed,
        (
            f"{cand} has held {gate.alias} since {since:%Y-%m-%d %H:%M} UTC (audit #{last.get('seq')}): "
            f"{format_duration(max(held, 0))} {verb} {gate.text}"
        ),
    )
