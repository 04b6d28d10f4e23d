"""Publishing: a rule whose ``to`` names another model (``to: {model, alias}``).

Two steps, planned together and applied in order:

1. publish the source candidate into the destination model (W&B ``linkArtifact``, MLflow a new
   version whose source is ``models:/NAME/VERSION``, embedded a copy with a lineage edge), reusing
   the destination version an earlier publish of the same candidate made, so re-running never
   makes a second one; the source chain gets a ``publish`` record naming where it went;
2. move the destination alias onto that version with the same compare-and-swap as any move; its
   record names the source (``published_from``).

Gates are evaluated on the source candidate. If the alias move loses its compare-and-swap, the
published version stays (it is reused next time), nothing moved, and the outcome is a conflict
(exit 4). A run stopped between the two steps is completed by the next run, which finds the
published version and any missing source record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from aliasgate import gates as gates_mod
from aliasgate.errors import AliasgateError, AuthError, Conflict, InvalidInput, NotFound
from aliasgate.model import AliasOp, Principal, Ref, Version
from aliasgate.planner import BLOCKED, MOVE, UP_TO_DATE, Plan, PlannedMove, RulePlan, Snapshot
from aliasgate.policy.model import Rule
from aliasgate.provenance import Provenance
from aliasgate.published import publish_record
from aliasgate.registry import Published, Publishes, Registry

PUBLISH = "publish"  # the kind of the planned move, and of the source chain's record


def publisher(registry: Registry) -> Publishes:
    if not isinstance(registry, Publishes):
        raise InvalidInput(f"{registry.uri}: this registry cannot publish a version into another model")
    return registry


def plan_publish(
    rule: Rule, snap: Snapshot, *, now: datetime, principal: Principal, file: str | None
) -> RulePlan:
    """Plan both steps: gates on the source candidate, then publish and move the destination alias."""
    assert rule.dest is not None
    source, dest = rule.models[0], rule.dest
    pub = publisher(snap.registry)
    candidate = snap.resolve(Ref.of(source, rule.source))
    try:
        holder = snap.holder_number(dest, rule.to)
    except NotFound as exc:
        if exc.version is not None:
            raise
        holder = None  # the destination model does not exist yet: publishing creates it
    existing = pub.published_copy(source, candidate.number, dest) if candidate else None

    def current(model: str, alias: str) -> Version | None:
        return snap.resolve(Ref(model, alias=alias))

    ctx = gates_mod.Context(now=now, principal=principal, holder=current, records=snap.records)
    results = tuple(gates_mod.evaluate(g, candidate, ctx) for g in rule.gates)
    base = RulePlan(
        rule=rule.name,
        models=rule.models,
        source=rule.source,
        to=rule.to,
        status=BLOCKED,
        candidates={source: candidate.number if candidate else None},
        holders={dest: holder},
        gates=results,
        line=rule.loc.line or None,
        file=file,
        metrics={source: dict(candidate.metrics)} if candidate else {},
        publish={"model": dest, "reuses": existing.version if existing else None},
    )
    if candidate is None:
        return replace(base, reason=f"no candidate: nothing holds {source}:{rule.source}")
    if existing is not None and holder == existing.version:
        return replace(
            base,
            status=UP_TO_DATE,
            reason=f"{dest}:{rule.to} already holds v{holder}, published from {candidate}",
        )
    failed = [g for g in results if not g.passed]
    if failed:
        return replace(base, reason=f"{len(failed)} of {len(results)} gate(s) failed; nothing published")
    into = f"reusing {dest}:v{existing.version}" if existing else f"as a new version of {dest}"
    was = f"v{holder}" if holder is not None else "(new)"
    move = PlannedMove(dest, rule.to, holder, existing.version if existing else None, kind=PUBLISH)
    reason = f"all gates passed: publish {candidate} {into}, then {dest}:{rule.to} {was} -> it"
    return replace(base, status=MOVE, moves=(move,), reason=reason)


def apply_publish(
    registry: Registry, rule: RulePlan, plan: Plan, prov: Provenance, now: Callable[[], datetime]
) -> tuple[str, tuple[PlannedMove, ...], list[dict[str, Any]], str]:
    """Publish, record it on the source, move the destination alias: (status, moves, records, message)
    with status ``applied``, ``conflict`` or ``failed`` (the applier's outcome statuses)."""
    (move,) = rule.moves
    source = rule.models[0]
    number = rule.candidates[source]
    assert number is not None
    try:
        pub = publisher(registry).publish(source, number, move.model)
    except AliasgateError as exc:
        return "failed", rule.moves, [], f"publishing {source}:v{number} into {move.model} failed: {exc}"
    made = replace(move, target=pub.version)
    what = f"{source}:v{number} is {move.model}:v{pub.version}" + (" (reused)" if pub.reused else "")
    records: list[dict[str, Any]] = []
    gates = [g.as_dict() for g in rule.gates]
    ref = {"id": plan.id, "created_at": plan.created_at.isoformat()}
    unrecorded = None
    try:
        sealed = _record_source(registry, rule, pub, source, number, move.model, prov, now(), gates, ref)
    except AuthError as exc:  # may read the source, not write it (MLflow READ): the destination's record
        sealed, unrecorded = None, f"not written: {exc.message}"
    except AliasgateError as exc:
        return "failed", (made,), records, f"{what}; its record on {source} failed ({exc}); nothing moved"
    records += [sealed] if sealed else []
    op = AliasOp(move.model, move.alias, move.expected, pub.version)
    origin = {"registry": registry.uri, "model": source, "version": number, "digest": pub.digest}
    if unrecorded:
        origin["source_record"] = unrecorded
    body = prov.body(
        op,
        kind="promote",
        now=now(),
        rule=rule.rule,
        reason=rule.reason,
        gates=gates,
        plan=ref,
        extra={"published_from": origin},
    )
    try:
        records += registry.apply([op], [body])
    except Conflict as exc:
        kept = f"{what}, kept and reused next time; nothing moved: {exc}"
        return "conflict", (made,), records, kept
    except AliasgateError as exc:
        return "failed", (made,), records, f"{what}; moving {move.model}:{move.alias} failed: {exc}"
    note = f"; no publish record on {source} ({unrecorded})" if unrecorded else ""
    return "applied", (made,), records, f"applied: {what}{note}"


def _record_source(
    registry: Registry,
    rule: RulePlan,
    pub: Published,
    source: str,
    number: int,
    dest: str,
    prov: Provenance,
    now: datetime,
    gates: list[dict[str, Any]],
    plan: dict[str, Any],
) -> dict[str, Any] | None:
    """The source chain's ``publish`` record, unless an earlier run already wrote it."""
    if publish_record(registry.audit_log(source).records, number, dest, pub.version) is not None:
        return None
    body = prov.body(
        AliasOp(source, "", number, None),
        kind=PUBLISH,
        now=now,
        rule=rule.rule,
        reason=rule.reason,
        gates=gates,
        plan=plan,
        extra={
            "alias": None,
            "from": None,
            "to": None,
            "version": number,
            "published_to": {"registry": registry.uri, "model": dest, "version": pub.version},
        },
    )
    return publisher(registry).append_record(source, body)
