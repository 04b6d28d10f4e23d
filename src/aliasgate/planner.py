"""Plan: policy + a snapshot of the registry -> what would move, and why (a value).

A Plan is printable, savable (JSON) and applies exactly: each move carries the
holder seen at planning time, which the applier uses as the compare-and-swap
expectation. Planning never writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aliasgate import gates as gates_mod
from aliasgate.errors import InvalidInput, NotFound
from aliasgate.gates import GateResult
from aliasgate.model import LATEST, Principal, Ref, Version, iso, parse_time
from aliasgate.policy.model import ApprovalsGate, Policy, Rule

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.approvals import Roles
    from aliasgate.audit import AuditLog
from aliasgate.registry import Registry
from aliasgate.status import Status

PLAN_FORMAT = 1

# Rule outcomes at planning time.
MOVE = Status.MOVE
UP_TO_DATE = Status.UP_TO_DATE
BLOCKED = Status.BLOCKED


class Snapshot:
    """A read-through cache over a registry, so each alias table and version is read once per plan."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._aliases: dict[str, dict[str, int]] = {}
        self._versions: dict[tuple[str, int], Version] = {}
        self._latest: dict[str, int | None] = {}
        self._records: dict[str, tuple[Sequence[Mapping[str, Any]], bool]] = {}
        self._logs: dict[str, AuditLog] = {}

    def records(self, model: str) -> tuple[Sequence[Mapping[str, Any]], bool]:
        """A model's audit records and whether the chain verifies (lineage gates with ``rule``)."""
        if model not in self._records:
            from aliasgate import audit

            try:
                log = self.audit_log(model)
            except NotFound:
                self._records[model] = ((), False)
            else:
                self._records[model] = (log.records, audit.verify(log).ok)
        return self._records[model]

    def audit_log(self, model: str) -> AuditLog:
        if model not in self._logs:
            self._logs[model] = self.registry.audit_log(model)
        return self._logs[model]

    def aliases(self, model: str) -> dict[str, int]:
        if model not in self._aliases:
            self._aliases[model] = dict(self.registry.aliases(model))
        return self._aliases[model]

    def holder_number(self, model: str, alias: str) -> int | None:
        if alias == LATEST:
            if model not in self._latest:
                self._latest[model] = self.registry.latest(model)
            return self._latest[model]
        return self.aliases(model).get(alias)

    def version(self, model: str, number: int) -> Version:
        key = (model, number)
        if key not in self._versions:
            self._versions[key] = self.registry.version(model, number)
        return self._versions[key]

    def resolve(self, ref: Ref) -> Version | None:
        """The version a reference names now, or None when nothing holds that alias."""
        if ref.number is not None:
            try:
                return self.version(ref.model, ref.number)
            except NotFound as exc:
                if exc.version is None:  # the model itself is missing: a real error
                    raise
                return None
        assert ref.alias is not None
        number = self.holder_number(ref.model, ref.alias)
        return None if number is None else self.version(ref.model, number)


@dataclass(frozen=True)
class PlannedMove:
    model: str
    alias: str
    expected: int | None  # holder at planning time: the compare-and-swap expectation
    target: int | None  # None removes the alias (remove_from)
    kind: str = "promote"  # promote | remove

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "alias": self.alias,
            "expected": self.expected,
            "target": self.target,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PlannedMove:
        return cls(d["model"], d["alias"], d.get("expected"), d.get("target"), d.get("kind", "promote"))


@dataclass(frozen=True)
class RulePlan:
    rule: str
    models: tuple[str, ...]
    source: str
    to: str
    status: Status  # move | up-to-date | blocked
    candidates: Mapping[str, int | None]
    holders: Mapping[str, int | None]
    moves: tuple[PlannedMove, ...] = ()
    gates: tuple[GateResult, ...] = ()
    reason: str = ""
    line: int | None = None
    file: str | None = None
    metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # candidate metrics, for display
    #: a publishing rule: {"model": destination, "reuses": the destination version already
    #: published from the candidate, or None}; its one move (kind ``publish``) is in the destination
    publish: Mapping[str, Any] | None = None

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    @property
    def awaiting_approval(self) -> bool:
        """Blocked only by missing approvals: its moves are kept so they can be approved."""
        failed = self.failed_gates
        return self.status == BLOCKED and bool(failed) and all(g.kind == "approvals" for g in failed)

    def as_dict(self) -> dict[str, Any]:
        extra = {"publish": dict(self.publish)} if self.publish is not None else {}
        return extra | {
            "rule": self.rule,
            "models": list(self.models),
            "from": self.source,
            "to": self.to,
            "status": self.status,
            "candidates": dict(self.candidates),
            "holders": dict(self.holders),
            "moves": [m.as_dict() for m in self.moves],
            "gates": [g.as_dict() for g in self.gates],
            "reason": self.reason,
            "line": self.line,
            "file": self.file,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RulePlan:
        return cls(
            rule=d["rule"],
            models=tuple(d["models"]),
            source=d["from"],
            to=d["to"],
            status=Status(d["status"]),
            candidates=dict(d.get("candidates") or {}),
            holders=dict(d.get("holders") or {}),
            moves=tuple(PlannedMove.from_dict(m) for m in d.get("moves") or []),
            gates=tuple(GateResult.from_dict(g) for g in d.get("gates") or []),
            reason=d.get("reason", ""),
            line=d.get("line"),
            file=d.get("file"),
            publish=d.get("publish"),
        )


@dataclass(frozen=True)
class Plan:
    registry: str
    created_at: datetime
    principal: Principal
    rules: tuple[RulePlan, ...]
    policy_path: str | None = None
    policy_sha256: str | None = None
    # The policy's text, carried into a signed saved plan (not part of the id or the JSON).
    policy_text: str | None = field(default=None, repr=False, compare=False)
    # Set on a saved plan confirmed at apply time: the id of the file it was confirmed against.
    saved_id: str | None = field(default=None, compare=False)

    @property
    def moves(self) -> list[PlannedMove]:
        return [m for r in self.rules if r.status == MOVE for m in r.moves]

    @property
    def blocked(self) -> list[RulePlan]:
        return [r for r in self.rules if r.status == BLOCKED]

    @property
    def id(self) -> str:
        if self.saved_id is not None:
            return self.saved_id
        body = json.dumps(self._body(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def _body(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "registry": self.registry,
            "created_at": iso(self.created_at),
            "principal": self.principal.as_dict(),
            "policy": {"path": self.policy_path, "sha256": self.policy_sha256},
            "rules": [r.as_dict() for r in self.rules],
        }

    def as_dict(self) -> dict[str, Any]:
        body = self._body()
        body["id"] = self.id
        body["summary"] = {
            "moves": len(self.moves),
            "blocked": len(self.blocked),
            "up_to_date": sum(1 for r in self.rules if r.status == UP_TO_DATE),
        }
        return body

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "plan") -> Plan:
        if not isinstance(d, Mapping) or d.get("format") != PLAN_FORMAT:
            raise InvalidInput(f"{where} is not an aliasgate plan (format {PLAN_FORMAT})")
        try:
            p = d["principal"]
            plan = cls(
                registry=d["registry"],
                created_at=parse_time(d["created_at"]),
                principal=Principal(p["name"], bool(p["authenticated"]), p["source"], p.get("detail") or {}),
                rules=tuple(RulePlan.from_dict(r) for r in d["rules"]),
                policy_path=(d.get("policy") or {}).get("path"),
                policy_sha256=(d.get("policy") or {}).get("sha256"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{where} is damaged: {exc!r}") from None
        if d.get("id") and d["id"] != plan.id:
            raise InvalidInput(f"{where} was edited after it was saved (its id does not match its content)")
        return plan


def plan(
    policy: Policy,
    registry: Registry,
    *,
    now: datetime,
    principal: Principal,
    rules: Sequence[str] | None = None,
    author: Principal | None = None,
) -> Plan:
    """Evaluate every promotion rule (or only ``rules``) against one snapshot.

    ``author`` made the saved plan being confirmed (default: ``principal``, who plans now);
    ``principal`` is who would apply it (approvals' ``not_by`` names both)."""
    from aliasgate.approvals import Roles

    if rules:
        unknown = [r for r in rules if policy.rule(r) is None]
        if unknown:
            names = ", ".join(r.name for r in policy.promotions) or "none"
            raise InvalidInput(f"no rule named {', '.join(unknown)} in {policy.path} (rules: {names})")
    snap = Snapshot(registry)
    selected = [r for r in policy.promotions if not rules or r.name in rules]
    roles = Roles(author or principal, principal)
    results = tuple(
        plan_rule(rule, snap, now=now, principal=principal, file=policy.path, roles=roles, policy=policy)
        for rule in selected
    )
    return Plan(registry.uri, now, principal, results, policy.path, policy.sha256, policy.text)


def plan_rule(
    rule: Rule,
    snap: Snapshot,
    *,
    now: datetime,
    principal: Principal,
    file: str | None,
    roles: Roles | None = None,
    policy: Policy | None = None,
) -> RulePlan:
    if rule.dest is not None:
        from aliasgate.publish import plan_publish

        return plan_publish(rule, snap, now=now, principal=principal, file=file)
    candidates: dict[str, Version | None] = {}
    holders: dict[str, int | None] = {}
    for model in rule.models:
        candidates[model] = snap.resolve(Ref.of(model, rule.source))
        holders[model] = snap.holder_number(model, rule.to)

    def holder(model: str, alias: str) -> Version | None:
        return snap.resolve(Ref(model, alias=alias))

    def after(model: str, alias: str) -> Version | None:
        # Inside a bundle, the models moving together are judged as they will be after the move.
        if model in candidates and alias == rule.to and candidates[model] is not None:
            return candidates[model]
        return holder(model, alias)

    ctx = gates_mod.Context(
        now=now, principal=principal, holder=holder, after=after, records=snap.records, audit=snap.audit_log
    )
    results = [
        _approvals(gate, rule, snap, candidates, holders, now, roles, policy)
        if isinstance(gate, ApprovalsGate)
        else gates_mod.evaluate(gate, candidates.get(getattr(gate, "of", None) or rule.models[0]), ctx)
        for gate in rule.gates
    ]
    base = RulePlan(
        rule=rule.name,
        models=rule.models,
        source=rule.source,
        to=rule.to,
        status=BLOCKED,
        candidates={m: (v.number if v else None) for m, v in candidates.items()},
        holders=holders,
        gates=tuple(results),
        line=rule.loc.line or None,
        file=file,
        metrics={m: dict(v.metrics) for m, v in candidates.items() if v},
    )
    missing = [f"{m}:{rule.source}" for m, v in candidates.items() if v is None]
    if missing:
        return replace(base, reason=f"no candidate: nothing holds {', '.join(missing)}")
    moves = []
    for model in rule.models:
        cand = candidates[model]
        assert cand is not None
        if holders[model] != cand.number:
            moves.append(PlannedMove(model, rule.to, holders[model], cand.number))
    if not moves:
        shown = ", ".join(f"{m}:v{holders[m]}" for m in rule.models)
        return replace(base, status=UP_TO_DATE, reason=f"{rule.to} already holds {shown}")
    failed = [g for g in results if not g.passed]
    if failed and not all(g.kind == "approvals" for g in failed):
        return replace(base, reason=f"{len(failed)} of {len(results)} gate(s) failed")
    if rule.remove_from:
        for model in rule.models:
            cand = candidates[model]
            assert cand is not None
            if any(m.model == model for m in moves):
                moves.append(PlannedMove(model, rule.source, cand.number, None, kind="remove"))
    what = ", ".join(
        f"{m.model}:{m.alias} "
        + (f"v{m.expected}" if m.expected is not None else "(new)")
        + f" -> v{m.target}"
        for m in moves
        if m.kind == "promote"
    )
    if failed:  # only approvals are missing: keep the moves, so a saved plan can be approved
        return replace(base, moves=tuple(moves), reason=f"awaiting approval: {what}")
    return replace(base, status=MOVE, moves=tuple(moves), reason=f"all gates passed: {what}")


def _approvals(
    gate: ApprovalsGate,
    rule: Rule,
    snap: Snapshot,
    candidates: Mapping[str, Version | None],
    holders: Mapping[str, int | None],
    now: datetime,
    roles: Roles | None,
    policy: Policy | None,
) -> GateResult:
    from aliasgate import approvals

    label = gates_mod.describe(gate)
    line = gate.loc.line or None
    if roles is None or policy is None:  # pragma: no cover - plan() always passes both
        return GateResult("approvals", label, False, None, "no plan to approve", None, line, gate.loc.path)
    bindings = [
        approvals.Binding(snap.registry.uri, m, rule.to, holders[m], c.number, policy.sha256, rule.name)
        for m, c in candidates.items()
        if c is not None and holders[m] != c.number
    ]
    passed, observed, detail = approvals.evaluate(gate, bindings, snap.audit_log, roles, now)
    return GateResult("approvals", label, passed, observed, detail, None, line, gate.loc.path)
