"""W&B's own artifact TTL, written as cleanup's verdicts say (``promote cleanup --native-ttl``).

W&B deletes a version when its TTL runs out (counted from ``createdAt``), including a team
default TTL the version merely inherits, and nothing on that path looks at aliases, lineage,
``keep_if`` or the audit records aliasgate keeps in version metadata. So ``--native-ttl``
writes the one value that can never delete too much: **disabled** (``-2``), on every version
the cleanup plan keeps (and on every version cleanup skipped because it gained an alias).
W&B's TTL then cannot expire what the policy keeps, between cleanup runs or ever.

It comes *on top of* the deletions, never instead of them: what the plan lets go is deleted
by cleanup itself (aliases re-checked at the last moment, one audit record per deletion, the
deleted version's audit records moved first). A positive TTL is never written: W&B would
later expire the version with no re-check, also after it gained an alias (a rollback target
is exactly that), and would take the audit records it carries with it.

W&B answers a TTL write from an account its team does not allow to set TTLs with success
and changes nothing. Every write is therefore re-read; each one W&B ignored is reported and
makes the run exit 1. Each model whose TTLs changed gets one audit record (kind ``ttl``)
listing every version written, its TTL before and its status after.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aliasgate.durations import format_duration
from aliasgate.errors import AliasgateError, AuthError, InvalidInput
from aliasgate.model import AliasOp, VersionId, iso
from aliasgate.provenance import Provenance
from aliasgate.registry import NativeTtl, Registry, TtlState
from aliasgate.retention import OfVersion
from aliasgate.status import Status, exit_code

__all__ = ["DISABLED", "TtlState", "decide", "execute", "plan", "require"]

#: How plans, results and audit records write the one TTL cleanup sets: "disabled" (no TTL, and
#: no inherited default). A backend maps it to its own encoding (W&B happens to use the same).
DISABLED = -2

# What the plan does with one version's TTL.
WRITE = "disable"
UNCHANGED = "unchanged"
SKIP = "skip"

# What happened to one write.
APPLIED = Status.APPLIED
IGNORED = Status.IGNORED
FAILED = Status.FAILED
GONE = Status.GONE
NOT_STARTED = Status.NOT_STARTED

MAX_SHOWN = 5
RECORD_VERSIONS = 200  # versions listed per `ttl` audit record


def describe_target(target: int) -> str:
    return "disabled" if target == DISABLED else format_duration(target)


def matches(state: TtlState, target: int) -> bool:
    """Whether ``state`` is what writing ``target`` asked for."""
    if target == DISABLED:
        return state.disabled
    return not state.inherited and state.seconds == target


def require(registry: Registry) -> NativeTtl:
    """The registry as a NativeTtl, or a clear usage error (exit 2) before planning."""
    if not isinstance(registry, NativeTtl):
        raise InvalidInput(
            f"--native-ttl is W&B only: {registry.uri} has no native TTL "
            "(cleanup deletes by the policy's ttl on every backend; drop --native-ttl)"
        )
    return registry


# -- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TtlChange(OfVersion):
    """What happens to one kept version's W&B TTL, and why."""

    model: str
    number: int
    action: str  # disable | unchanged | skip
    before: TtlState | None
    why: str  # the keep reason (disable, unchanged) or why no TTL can be written (skip)
    target: int = DISABLED

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.number,
            "action": self.action,
            "before": None if self.before is None else self.before.as_dict(),
            "target": self.target if self.action == WRITE else None,
            "why": self.why,
        }


@dataclass(frozen=True)
class TtlPlan:
    """Every kept version's TTL change, and the TTL of every planned version as read (a version
    the plan deletes but cleanup skips because it gained an alias is pinned too)."""

    changes: tuple[TtlChange, ...]
    states: Mapping[VersionId, TtlState]
    notes: tuple[str, ...] = ()

    @property
    def writes(self) -> list[TtlChange]:
        return [c for c in self.changes if c.action == WRITE]

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def as_dict(self) -> dict[str, Any]:
        return {
            "notes": list(self.notes),
            "summary": {a: self.count(a) for a in (WRITE, UNCHANGED, SKIP)},
            "changes": [c.as_dict() for c in self.changes],
        }


def plan(cleanup_plan: Any, registry: Any) -> TtlPlan:
    """Read the TTL of every version of ``cleanup_plan`` (reads only) and decide."""
    reg = require(registry)
    states: dict[VersionId, TtlState] = {}
    for model in cleanup_plan.models:
        numbers = [v.number for v in cleanup_plan.verdicts if v.model == model]
        for number, state in reg.ttl_states(model, numbers).items():
            states[VersionId(model, number)] = state
    return decide(cleanup_plan, states)


def decide(cleanup_plan: Any, states: Mapping[VersionId, TtlState]) -> TtlPlan:
    """The pure part: a kept version's TTL is disabled unless it already is or W&B allows none."""
    changes = tuple(
        change(v.model, v.number, states.get(v.id), v.reasons[0] if v.reasons else "kept")
        for v in cleanup_plan.kept
    )
    notes = []
    fixed: dict[str, list[TtlChange]] = {}  # one note per cause the registry gave
    for c in changes:
        if c.action == SKIP and c.before is not None and c.before.fixed_note:
            fixed.setdefault(c.before.fixed_note, []).append(c)
    for note, group in fixed.items():
        notes.append(note.format(count=len(group), shown=_shown(group)))
    gone = [c for c in changes if c.before is None]
    if gone:
        notes.append(f"{len(gone)} kept version(s) were gone when their TTL was read ({_shown(gone)})")
    return TtlPlan(changes, dict(states), tuple(notes))


def change(model: str, number: int, state: TtlState | None, why: str) -> TtlChange:
    if state is None:
        return TtlChange(model, number, SKIP, None, "gone since planning")
    if state.fixed is not None:
        return TtlChange(model, number, SKIP, state, state.fixed)
    if state.disabled:
        return TtlChange(model, number, UNCHANGED, state, why)
    return TtlChange(model, number, WRITE, state, why)


def _shown(changes: Sequence[TtlChange]) -> str:
    shown = ", ".join(str(c) for c in changes[:MAX_SHOWN])
    return shown + (", ..." if len(changes) > MAX_SHOWN else "")


# -- execution -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TtlOutcome(OfVersion):
    model: str
    number: int
    status: Status  # applied | ignored | failed | gone | not-started
    before: TtlState | None
    after: TtlState | None = None
    target: int = DISABLED
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.number,
            "status": self.status,
            "before": None if self.before is None else self.before.as_dict(),
            "after": None if self.after is None else self.after.as_dict(),
            "target": self.target,
            "message": self.message,
        }


@dataclass
class TtlResult:
    plan: TtlPlan
    outcomes: list[TtlOutcome] = field(default_factory=list)
    dry_run: bool = False
    not_run: str | None = None  # why nothing was written (deletions aborted or stopped)
    account: str = "this account"
    records: list[Mapping[str, Any]] = field(default_factory=list)  # sealed `ttl` audit records
    record_errors: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def of(self, status: Status) -> list[TtlOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def ignored_message(self) -> str | None:
        ignored = self.of(IGNORED)
        if not ignored:
            return None
        shown = ", ".join(str(o) for o in ignored[:MAX_SHOWN]) + (", ..." if len(ignored) > MAX_SHOWN else "")
        return (
            f"W&B ignored the TTL {self.account} wrote on {len(ignored)} version(s) ({shown}): they keep "
            "their W&B TTL, so W&B may still expire them. W&B does this when the owning team lets only "
            "admins set TTLs: a team admin can allow members (team settings, Artifacts time-to-live, "
            "TTL permissions), or run cleanup with a team admin's key"
        )

    @property
    def exit_code(self) -> int:
        """1 when W&B ignored or refused a write, or a change could not be audited; else 0."""
        return exit_code(self.statuses())

    def statuses(self) -> list[Status]:
        """Each write's status, and FAILED for a change that could not be audited."""
        return [o.status for o in self.outcomes] + ([Status.FAILED] if self.record_errors else [])

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.plan.as_dict(),
            "dry_run": self.dry_run,
            "not_run": self.not_run,
            "result": {s: self.count(s) for s in (APPLIED, IGNORED, FAILED, GONE, NOT_STARTED)},
            "warning": self.ignored_message,
            "outcomes": [o.as_dict() for o in self.outcomes],
            "audit": [
                {"model": r.get("model"), "seq": r.get("seq"), "hash": r.get("hash")} for r in self.records
            ],
            "audit_errors": list(self.record_errors),
        }


def pending(ttl_plan: TtlPlan, skipped: Sequence[VersionId]) -> list[TtlChange]:
    """The writes to make after the deletions: the plan's, plus versions the plan would have
    deleted but cleanup skipped because they gained an alias (kept now, so pinned too)."""
    out = list(ttl_plan.writes)
    for vid in skipped:
        c = change(vid.model, vid.number, ttl_plan.states.get(vid), "gained an alias since planning")
        if c.action == WRITE:
            out.append(c)
    return out


def execute(
    registry: Any,
    ttl_plan: TtlPlan,
    writes: Sequence[TtlChange],
    prov: Provenance,
    *,
    now: Callable[[], datetime],
    plan_ref: Mapping[str, Any],
    rules: Mapping[str, str],
    parallel: int = 4,
    stop: threading.Event | None = None,
) -> TtlResult:
    """Write each TTL (nothing else), re-read every one, audit each model's changes once.

    ``rules`` maps a model to the labels of its retention rules (for the audit record)."""
    reg = require(registry)
    stop = stop or threading.Event()
    result = TtlResult(ttl_plan, account=prov.principal.name)
    errors: dict[VersionId, str] = {}
    fatal = threading.Event()

    def write(c: TtlChange) -> tuple[TtlChange, bool]:
        if stop.is_set() or fatal.is_set():
            return c, False
        try:
            reg.disable_ttl(c.model, c.number)
        except AuthError as exc:  # every other write would be refused the same way
            errors[c.id] = str(exc)
            fatal.set()
        except AliasgateError as exc:
            errors[c.id] = str(exc)
        except Exception as exc:  # a backend bug must not hide the other writes
            errors[c.id] = f"internal error: {type(exc).__name__}: {exc}"
        return c, True

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="native-ttl") as pool:
        sent = list(pool.map(write, writes))

    by_model: dict[str, list[tuple[TtlChange, bool]]] = {}
    for c, was_sent in sent:
        by_model.setdefault(c.model, []).append((c, was_sent))
    for model, items in by_model.items():
        try:
            after = reg.ttl_states(model, [c.number for c, was_sent in items if was_sent])
        except AliasgateError as exc:  # unknown whether W&B applied them: reported as failed
            outcomes = [
                _outcome(c, was_sent, None, f"sent, but its TTL could not be re-read: {exc}", reread=False)
                for c, was_sent in items
            ]
        else:
            outcomes = [_outcome(c, was_sent, after.get(c.number), errors.get(c.id)) for c, was_sent in items]
        result.outcomes.extend(outcomes)
        if not any(o.status == APPLIED for o in outcomes):
            continue
        entries = [
            {
                "version": o.number,
                "from": None if o.before is None else o.before.as_dict(),
                "to": o.target,
                "status": o.status,
            }
            for o in outcomes
            if o.status != NOT_STARTED
        ]
        # A first run may pin thousands of versions: several records keep each one small
        # (records live in version metadata, which W&B stores as one JSON document).
        for start in range(0, len(entries), RECORD_VERSIONS):
            body = prov.body(
                AliasOp(model, "", None, None),
                kind="ttl",
                now=now(),
                rule=rules.get(model),
                reason="--native-ttl: W&B's TTL disabled on versions the retention policy keeps, "
                "so W&B cannot expire them",
                plan=plan_ref,
                extra={"alias": None, "versions": entries[start : start + RECORD_VERSIONS]},
            )
            try:
                result.records.append(reg.append_record(model, body))
            except AliasgateError as exc:
                result.record_errors.append(
                    f"{model}: TTLs changed but their audit record could not be stored: {exc}"
                )
                break
    return result


def _outcome(
    c: TtlChange, was_sent: bool, after: TtlState | None, error: str | None, *, reread: bool = True
) -> TtlOutcome:
    if not was_sent:
        return TtlOutcome(
            c.model, c.number, NOT_STARTED, c.before, None, c.target, "stopped before it was written"
        )
    if not reread:
        return TtlOutcome(c.model, c.number, FAILED, c.before, None, c.target, error or "not re-read")
    if after is None:
        return TtlOutcome(c.model, c.number, GONE, c.before, None, c.target, error or "deleted meanwhile")
    if matches(after, c.target):
        return TtlOutcome(c.model, c.number, APPLIED, c.before, after, c.target)
    if error is not None:
        return TtlOutcome(c.model, c.number, FAILED, c.before, after, c.target, error)
    return TtlOutcome(
        c.model,
        c.number,
        IGNORED,
        c.before,
        after,
        c.target,
        f"W&B answered success but the TTL is still {after.describe()}",
    )


def plan_ref(cleanup_plan: Any) -> dict[str, Any]:
    return {"id": cleanup_plan.id, "created_at": iso(cleanup_plan.created_at)}
