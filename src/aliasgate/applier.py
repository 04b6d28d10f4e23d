"""Execute plans: compare-and-swap moves, bundles all or nothing, compensation, audit.

On a registry with transactions (``atomic_batches``) a bundle is one call and
either every alias moves or none. Elsewhere the moves go one at a time and,
if one fails, the ones already made are undone in reverse order, each undo
audited, so an alias ends where it was or where it was meant to go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aliasgate import audit
from aliasgate import gates as gates_mod
from aliasgate.errors import AliasgateError, Blocked, Conflict, InvalidInput, conflict
from aliasgate.interrupt import NEVER
from aliasgate.model import LATEST, AliasOp, Move, Principal, Ref
from aliasgate.planner import MOVE, Plan, PlannedMove, RulePlan
from aliasgate.provenance import Provenance
from aliasgate.registry import Registry
from aliasgate.status import Status, exit_code

APPLIED = Status.APPLIED
CONFLICT = Status.CONFLICT
FAILED = Status.FAILED
DRY_RUN = Status.DRY_RUN
INTERRUPTED = Status.INTERRUPTED


@dataclass
class Outcome:
    rule: str
    status: Status  # applied | up-to-date | blocked | conflict | failed | dry-run | interrupted
    moves: tuple[PlannedMove, ...] = ()
    records: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    undone: list[str] = field(default_factory=list)  # moves rolled back by compensation
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "moves": [m.as_dict() for m in self.moves],
            "audit": [{"model": r["model"], "seq": r["seq"], "hash": r["hash"]} for r in self.records],
            "message": self.message,
            "undone": self.undone,
        }


@dataclass
class ApplyResult:
    plan: Plan
    outcomes: list[Outcome]
    dry_run: bool = False
    signal: int | None = None  # the stop signal, when one interrupted the run

    @property
    def exit_code(self) -> int:
        return exit_code((o.status for o in self.outcomes), signal=self.signal)

    @property
    def changed(self) -> bool:
        return any(o.status == APPLIED for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.id,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "exit_code": int(self.exit_code),
            "outcomes": [o.as_dict() for o in self.outcomes],
        }


Clock = Callable[[], datetime]


def apply(
    registry: Registry,
    plan: Plan,
    provenance: Provenance | None,
    *,
    now: Clock,
    exact: bool = False,
    dry_run: bool = False,
    stop: Callable[[], bool] = NEVER,
) -> ApplyResult:
    """Apply ``plan``. ``exact`` (a saved plan): refuse, changing nothing, if any alias moved since.

    ``stop`` is checked between steps (see :mod:`aliasgate.interrupt`): once it is true no new
    rule starts, and a bundle half made on a registry without transactions is undone."""
    if dry_run:
        dry = [_not_applied(r, DRY_RUN if r.status == MOVE else r.status) for r in plan.rules]
        return ApplyResult(plan, dry, dry_run=True)
    if provenance is None:
        raise ValueError("provenance is required to apply")
    if exact:
        _check_saved_plan(registry, plan, provenance.principal, now())
    outcomes: list[Outcome] = []
    movable = [r for r in plan.rules if r.status == MOVE]
    if exact and registry.atomic_batches and len(movable) > 1 and not any(r.publish for r in movable):
        # A saved plan on a transactional registry applies as one unit.
        outcomes_by_rule = _apply_atomic(registry, movable, plan, provenance, now)
    else:
        outcomes_by_rule = {}
        for r in movable:
            if stop():
                outcomes_by_rule[r.rule] = Outcome(
                    r.rule, INTERRUPTED, r.moves, message="stopped by a signal before this rule", line=r.line
                )
                continue
            outcomes_by_rule[r.rule] = _apply_rule(registry, r, plan, provenance, now, stop)
    for rule in plan.rules:
        outcomes.append(outcomes_by_rule.get(rule.rule) or _not_applied(rule, rule.status))
    return ApplyResult(plan, outcomes)


def _not_applied(rule: RulePlan, status: Status) -> Outcome:
    return Outcome(rule.rule, status, rule.moves, message=rule.reason, line=rule.line)


def _moves(rule: RulePlan, plan: Plan, prov: Provenance, now: datetime) -> list[Move]:
    """The rule's planned moves as the registry takes them: each compare-and-swap with its record."""
    gates = [g.as_dict() for g in rule.gates]
    ref = {"id": plan.id, "created_at": plan.created_at.isoformat()}
    out = []
    for m in rule.moves:
        op = AliasOp(m.model, m.alias, m.expected, m.target)
        body = prov.body(op, kind=m.kind, now=now, rule=rule.rule, reason=rule.reason, gates=gates, plan=ref)
        out.append(Move(op, body))
    return out


def _apply_atomic(
    registry: Registry, rules: Sequence[RulePlan], plan: Plan, prov: Provenance, now: Clock
) -> dict[str, Outcome]:
    t = now()
    try:
        records = registry.apply([move for rule in rules for move in _moves(rule, plan, prov, t)])
    except Conflict as exc:
        return {r.rule: Outcome(r.rule, CONFLICT, r.moves, message=str(exc), line=r.line) for r in rules}
    except AliasgateError as exc:
        return {r.rule: Outcome(r.rule, FAILED, r.moves, message=str(exc), line=r.line) for r in rules}
    out: dict[str, Outcome] = {}
    i = 0
    for rule in rules:
        n = len(rule.moves)
        out[rule.rule] = Outcome(
            rule.rule, APPLIED, rule.moves, records[i : i + n], "applied", line=rule.line
        )
        i += n
    return out


def _apply_rule(
    registry: Registry,
    rule: RulePlan,
    plan: Plan,
    prov: Provenance,
    now: Clock,
    stop: Callable[[], bool] = NEVER,
) -> Outcome:
    if rule.publish is not None:  # publish into another model, then move its alias
        from aliasgate.publish import apply_publish

        status, made, records, message = apply_publish(registry, rule, plan, prov, now)
        return Outcome(rule.rule, status, made, records, message, line=rule.line)
    moves = _moves(rule, plan, prov, now())
    if registry.atomic_batches or len(moves) == 1:
        try:
            records = registry.apply(moves)
        except Conflict as exc:
            return Outcome(rule.rule, CONFLICT, rule.moves, message=str(exc), line=rule.line)
        except AliasgateError as exc:
            return Outcome(rule.rule, FAILED, rule.moves, message=str(exc), line=rule.line)
        return Outcome(rule.rule, APPLIED, rule.moves, records, "applied", line=rule.line)
    # No transactions (the one place this is defined): one move at a time; when one fails or a
    # stop signal arrives, undo the made ones, newest first, each undo audited (kind "undo").
    done: list[tuple[PlannedMove, dict[str, Any]]] = []
    for move, planned in zip(rule.moves, moves, strict=True):
        if done and stop():
            undone, undo_errors = _compensate(registry, rule, done, prov, now, cause="stopped by a signal")
            message = f"stopped by a signal after {len(done)} of {len(moves)} move(s); undid {len(undone)}"
            if undo_errors:
                return Outcome(
                    rule.rule,
                    FAILED,
                    rule.moves,
                    [r for _, r in done],
                    message + "; UNDO FAILED: " + "; ".join(undo_errors),
                    undone,
                    line=rule.line,
                )
            return Outcome(
                rule.rule, INTERRUPTED, rule.moves, [r for _, r in done], message, undone, line=rule.line
            )
        try:
            done.append((move, registry.apply([planned])[0]))
        except AliasgateError as exc:
            status = CONFLICT if isinstance(exc, Conflict) else FAILED
            undone, undo_errors = _compensate(registry, rule, done, prov, now, cause=str(exc))
            message = f"{move.model}:{move.alias}: {exc}"
            if done:
                message += f"; undid {len(undone)} earlier move(s)"
            if undo_errors:
                status = FAILED
                message += "; UNDO FAILED: " + "; ".join(undo_errors)
            records = [r for _, r in done]
            return Outcome(rule.rule, status, rule.moves, records, message, undone, line=rule.line)
    return Outcome(rule.rule, APPLIED, rule.moves, [r for _, r in done], "applied", line=rule.line)


def _compensate(
    registry: Registry,
    rule: RulePlan,
    done: Sequence[tuple[PlannedMove, dict[str, Any]]],
    prov: Provenance,
    now: Clock,
    *,
    cause: str,
) -> tuple[list[str], list[str]]:
    undone: list[str] = []
    errors: list[str] = []
    for move, _record in reversed(done):
        op = AliasOp(move.model, move.alias, move.target, move.expected)
        body = prov.body(op, kind="undo", now=now(), rule=rule.rule, reason=f"bundle failed: {cause}")
        try:
            registry.apply([Move(op, body)])
            undone.append(str(op))
        except AliasgateError as exc:
            errors.append(f"{op}: {exc}")
    return undone, errors


def _check_saved_plan(registry: Registry, plan: Plan, principal: Principal, now: datetime) -> None:
    """A saved plan applies only to the registry it was made on, as it was, by an allowed account."""
    if plan.registry != registry.uri:
        raise InvalidInput(f"the plan was made for {plan.registry}, not {registry.uri}")
    moved = []
    cache: dict[str, dict[str, int]] = {}
    for move in plan.moves:
        if move.model not in cache:
            cache[move.model] = registry.aliases(move.model)
        actual = cache[move.model].get(move.alias)
        if actual != move.expected:
            moved.append(str(conflict(move.model, move.alias, move.expected, actual)))
    if moved:
        raise Conflict(
            "the registry changed since the plan was saved; nothing applied:\n  " + "\n  ".join(moved)
        )
    ctx = gates_mod.Context(now=now, principal=principal, holder=lambda m, a: None)
    for rule in plan.rules:
        if rule.status != MOVE:
            continue
        for gate in rule.gates:
            result = gates_mod.recheck(gate.spec, ctx) if gate.spec else None
            if result is not None and not result.passed:
                raise Blocked(
                    f"saved plan refused, nothing applied: rule {rule.rule!r}: {result.gate}: {result.detail}"
                )


# -- rollback and manual moves --------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackPlan:
    model: str
    alias: str
    current: int
    target: int
    undoing: int | None  # seq of the audit record being rolled back


def holder_stack(records: Sequence[Mapping[str, Any]], alias: str) -> list[int]:
    """Replay the audited moves of ``alias``: promotions push, rollbacks and undos pop.

    The result's last element is the holder; the one before it is where a rollback goes,
    so rolling back twice steps back twice instead of toggling."""
    stack: list[int] = []
    for rec in records:
        if rec.get("alias") != alias or not _moved(rec):
            continue
        src, dst = rec.get("from"), rec.get("to")
        if dst is None:  # alias removed
            stack = []
            continue
        if (
            rec.get("kind") in ("rollback", "undo")
            and len(stack) >= 2
            and stack[-1] == src
            and stack[-2] == dst
        ):
            stack.pop()
            continue
        if not stack or stack[-1] != src:
            stack = [] if src is None else [int(src)]
        stack.append(int(dst))
    return stack


def _moved(record: Mapping[str, Any]) -> bool:
    """Whether the record moved its alias (not a deletion, an approval or a revocation)."""
    return record.get("kind") not in ("delete", *audit.MOVES_NOTHING)


def plan_rollback(registry: Registry, model: str, alias: str, to: str | None) -> RollbackPlan:
    current = registry.aliases(model).get(alias)
    if current is None:
        raise InvalidInput(f"nothing holds {model}:{alias}; there is nothing to roll back")
    records = list(registry.audit_log(model).records)
    last = next((r for r in reversed(records) if r.get("alias") == alias and _moved(r)), None)
    if to is not None:
        ref = Ref.parse(to if ":" in to else f"{model}:{to}")
        if ref.model != model:
            raise InvalidInput(f"--to {to}: a rollback stays within {model}")
        if ref.number is not None:
            target = registry.version(model, ref.number).number
        elif ref.alias == LATEST:
            latest = registry.latest(model)
            if latest is None:
                raise InvalidInput(f"{model} has no versions")
            target = latest
        else:
            assert ref.alias is not None
            held = registry.aliases(model).get(ref.alias)
            if held is None:
                raise InvalidInput(f"nothing holds {model}:{ref.alias}")
            target = held
        return RollbackPlan(model, alias, current, target, int(last["seq"]) if last else None)
    if last is None:
        raise InvalidInput(
            f"{model}:{alias} has no audited move to roll back; name the version with --to",
        )
    if last.get("to") != current:
        raise conflict(model, alias, last.get("to"), current)
    stack = holder_stack(records, alias)
    if len(stack) < 2:
        raise InvalidInput(
            f"the audit log of {model}:{alias} shows no holder before v{current} to go back to; "
            "an alias is never left on nothing, so name a version with --to",
        )
    return RollbackPlan(model, alias, current, stack[-2], int(last["seq"]))


def rollback(
    registry: Registry,
    rb: RollbackPlan,
    prov: Provenance,
    *,
    now: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    op = AliasOp(rb.model, rb.alias, rb.current, rb.target)
    body = prov.body(
        op,
        kind="rollback",
        now=now,
        reason=reason or f"rollback of record #{rb.undoing}" if rb.undoing else reason or "rollback",
        extra={"rolls_back": rb.undoing},
    )
    return registry.apply([Move(op, body)])[0]


def set_alias(
    registry: Registry,
    model: str,
    alias: str,
    target: int | None,
    prov: Provenance,
    *,
    now: datetime,
    expected: int | str | None = "current",
    reason: str | None = None,
) -> dict[str, Any] | None:
    """A hand-made move, audited like any other (kind ``manual``, or ``remove`` to delete the alias)."""
    current = registry.aliases(model).get(alias)
    exp = current if expected == "current" else expected
    if exp != current:
        raise conflict(model, alias, exp if isinstance(exp, int) else None, current)
    if target is not None:
        registry.version(model, target)  # NotFound names model:vN
    if current == target:
        return None
    op = AliasOp(model, alias, current, target)
    kind = "remove" if target is None else "manual"
    return registry.apply([Move(op, prov.body(op, kind=kind, now=now, reason=reason))])[0]
