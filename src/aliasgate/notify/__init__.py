"""Notifications: tell people (Slack) and systems (Standard Webhooks) what aliasgate did.

A policy's ``notify:`` names targets by the environment variables holding their URL and
secret (:mod:`~aliasgate.notify.targets`); after a move is committed and audited (or a
rollback, or a cleanup) the events (:mod:`~aliasgate.notify.events`) are delivered to
every target that listens for them, in parallel, with bounded retries, within a total
time limit (:mod:`~aliasgate.notify.send`). Delivery never undoes or blocks what was
done: a failure is reported in the command's result and, for a ``required`` target,
turns its exit code to 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

EVENT_PREFIX = "aliasgate."


@dataclass(frozen=True)
class Event:
    """One message: the same id on every attempt and to every target."""

    type: str  # moved | blocked | rolled_back | cleanup | test
    id: str  # msg_<uuid hex>: the Standard Webhooks webhook-id
    timestamp: str  # when it happened (ISO 8601 UTC)
    data: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """The JSON payload, in the Standard Webhooks shape {type, timestamp, data}."""
        return {"type": EVENT_PREFIX + self.type, "timestamp": self.timestamp, "data": self.data}


@dataclass(frozen=True)
class Delivery:
    """What became of one event at one target (never the URL: the target is named by its variable)."""

    target: str  # e.g. "webhook $PROMOTE_WEBHOOK_URL"
    event: str
    id: str
    ok: bool
    attempts: int = 0
    status: int | None = None  # the last HTTP status answered
    error: str = ""  # why it failed, in aliasgate's words (never the server's body)
    required: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "event": self.event,
            "webhook_id": self.id,
            "ok": self.ok,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error or None,
            "required": self.required,
            "seconds": round(self.seconds, 3),
        }

    def line(self) -> str:
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.ok:
            return f"notified {self.target}: {self.event} ({self.id}, {tries})"
        need = "required " if self.required else ""
        return f"{need}notification to {self.target} failed: {self.event} ({self.id}, {tries}): {self.error}"


@dataclass
class NotifyReport:
    """Every delivery a command made; part of its result (text, ``--json``, GitHub)."""

    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]

    @property
    def required_failed(self) -> bool:
        return any(d.required for d in self.failed)

    def as_dict(self) -> list[dict[str, Any]]:
        return [d.as_dict() for d in self.deliveries]


def notify(targets: Sequence[Any], events: Sequence[Event]) -> NotifyReport | None:
    """Deliver ``events`` to the policy's ``targets`` (each hears the events it listens for).

    None when the policy names no target; an empty report when no target listens."""
    if not targets:
        return None
    from aliasgate.notify import send
    from aliasgate.notify import targets as targets_mod

    endpoints = targets_mod.resolve(targets)
    work = [(ep, [e for e in events if e.type in ep.target.on]) for ep in endpoints]
    return NotifyReport(send.deliver([(ep, evs) for ep, evs in work if evs]))


def send_test(targets: Sequence[Any]) -> NotifyReport:
    """``promote notify --test``: one signed test event to every target, whatever it listens for."""
    from aliasgate.notify import events, send
    from aliasgate.notify import targets as targets_mod

    endpoints = targets_mod.resolve(targets)
    event = events.test_event()
    return NotifyReport(send.deliver([(ep, [event]) for ep in endpoints]))


def prepare(targets: Sequence[Any], *, dry_run: bool) -> None:
    """Before a command changes anything: read every target's URL and secret (registering them
    for redaction and masking) and, unless nothing will be sent, refuse (exit 2) a ``required``
    target that cannot be reached."""
    if not targets:
        return
    from aliasgate.notify import targets as targets_mod

    endpoints = targets_mod.resolve(targets)
    if not dry_run:
        targets_mod.require(endpoints)


def after_apply(
    targets: Sequence[Any], result: Any, registry: str, provenance: Callable[[], Any]
) -> NotifyReport | None:
    """``moved`` for each alias an apply moved, ``blocked`` for each rule its gates stopped."""
    if not targets or result.dry_run:
        return None
    from aliasgate.notify import events

    found = events.moved(result, registry)
    listening = any("blocked" in t.on for t in targets)
    if listening and any(r.status == "blocked" for r in result.plan.rules):
        found += events.blocked(result.plan, provenance().as_dict(), registry)
    return notify(targets, found)


def after_rollback(targets: Sequence[Any], record: Any, registry: str) -> NotifyReport | None:
    if not targets or record is None:
        return None
    from aliasgate.notify import events

    return notify(targets, [events.from_record("rolled_back", record, registry)])


def after_cleanup(targets: Sequence[Any], result: Any, registry: str) -> NotifyReport | None:
    if not targets or result.dry_run:
        return None
    from aliasgate.notify import events

    return notify(targets, events.cleanup(result, registry))
