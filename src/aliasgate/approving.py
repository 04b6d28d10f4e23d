"""``promote approve`` and ``promote approvals``: record, withdraw and list approvals.

``approve PLAN`` checks the saved plan exactly as ``apply PLAN`` does (shape, id, signature,
the policy it was made from, the registry it names, and a re-evaluation against the registry
now: exit 4 if an alias moved since, 3 if a gate other than approvals now fails), then
appends one ``approve`` record per move of each rule that requires approvals, by the
principal the registry authenticates. Nothing is recorded for a principal the rule's
``approvals.from`` does not name, or whom ``not_by`` excludes as the plan's author: such an
approval could never count, so it is refused (exit 3) rather than stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aliasgate import approvals
from aliasgate.errors import Blocked, InvalidInput
from aliasgate.model import AliasOp, Principal
from aliasgate.policy.model import ApprovalsGate, Policy
from aliasgate.results import ApprovalsView, ApproveRun

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.api import SavedPlanInput, Session
    from aliasgate.planner import Plan
    from aliasgate.registry import AppendsRecords


def _writer(session: Session) -> AppendsRecords:
    from aliasgate.registry import AppendsRecords

    reg = session.registry
    if not isinstance(reg, AppendsRecords):
        raise InvalidInput(f"{reg.uri}: this registry cannot store approvals in its audit trail")
    return reg


def approve(
    session: Session,
    saved: SavedPlanInput,
    *,
    rules: Sequence[str] | None,
    comment: str | None,
    revoke: bool,
    now: datetime,
) -> ApproveRun:
    """Record (or, with ``revoke``, withdraw) the session principal's approval of the plan's moves."""
    from aliasgate import planconfirm

    writer = _writer(session)
    plan = planconfirm.confirm(
        saved.saved, saved.policy, session.registry, principal=session.principal, now=now, approving=True
    )
    targets = _targets(plan, saved.policy, rules, session.registry.uri)
    me = session.principal
    for rule, gate, _ in targets:
        _check_approver(gate, me, plan.principal, rule, revoke)
    bindings = [(rule, b) for rule, _, bs in targets for b in bs]
    if revoke:
        _check_revocable(session, me, [b for _, b in bindings])
    body_of = _bodies(session, saved.policy, plan, comment, now)
    run = ApproveRun(plan.id, me, revoke)
    for _rule, b in bindings:
        run.records.append(writer.append_record(b.model, body_of(b, revoke)))
    return run


def _targets(
    plan: Plan, policy: Policy, rules: Sequence[str] | None, registry: str
) -> list[tuple[str, ApprovalsGate, list[approvals.Binding]]]:
    """Each rule of the plan (or of ``rules``) that requires approvals, with its pending moves."""
    names = {r.rule for r in plan.rules}
    for name in rules or ():
        if name not in names:
            raise InvalidInput(f"the plan has no rule {name!r} (it has {', '.join(sorted(names))})")
    out = []
    for r in plan.rules:
        if rules and r.rule not in rules:
            continue
        rule = policy.rule(r.rule)
        gate = next((g for g in rule.gates if isinstance(g, ApprovalsGate)), None) if rule else None
        if gate is None:
            if rules:
                raise InvalidInput(f"rule {r.rule!r} requires no approvals (its policy has no `approvals:`)")
            continue
        if not (r.status == "move" or r.awaiting_approval):
            if rules:
                raise Blocked(f"rule {r.rule!r} has nothing to approve: {r.reason}")
            continue
        moves = [
            approvals.Binding(registry, m.model, m.alias, m.expected, m.target, policy.sha256, r.rule)
            for m in r.moves
            if m.kind == "promote" and m.target is not None
        ]
        out.append((r.rule, gate, moves))
    if not out:
        raise InvalidInput("nothing in this plan awaits approval (no rule with `approvals:` has a move)")
    return out


def _check_approver(gate: ApprovalsGate, me: Principal, author: Principal, rule: str, revoke: bool) -> None:
    if revoke:
        return
    if not approvals.may_approve(gate, me.name):
        raise Blocked(
            f"{me.name} may not approve rule {rule!r}: its approvals come from {', '.join(gate.approvers)}; "
            "nothing recorded"
        )
    if "author" in gate.not_by and me.name == author.name:
        raise Blocked(
            f"{me.name} made this plan, and rule {rule!r} does not count its author's approval "
            "(not_by: author); nothing recorded"
        )


def _check_revocable(session: Session, me: Principal, bindings: Sequence[approvals.Binding]) -> None:
    for b in bindings:
        log = session.registry.audit_log(b.model)
        if not any(a.principal == me.name for a in approvals.standing(approvals.verified(log), b)):
            raise InvalidInput(f"{me.name} has no standing approval of {b} to revoke")


def _bodies(session: Session, policy: Policy, plan: Plan, comment: str | None, now: datetime) -> Any:
    from aliasgate import provenance

    prov = provenance.collect(session.principal, policy_path=policy.path, policy_sha256=policy.sha256)

    def body(b: approvals.Binding, revoke: bool) -> dict[str, Any]:
        return prov.body(
            AliasOp(b.model, b.alias, b.source, b.target),
            kind=approvals.REVOKE if revoke else approvals.APPROVE,
            now=now,
            rule=b.rule,
            reason=comment,
            plan={"id": plan.id, "author": plan.principal.name},
            extra={"registry": session.registry.uri},
        )

    return body


def listing(session: Session, model: str) -> ApprovalsView:
    """Every approval and revocation of ``model`` in its verified chain, with whether it stands."""
    from aliasgate import audit

    log = session.registry.audit_log(model)
    records = approvals.verified(log)
    rows = []
    for i, r in enumerate(records):
        if r.get("kind") not in (approvals.APPROVE, approvals.REVOKE):
            continue
        rows.append({**_row(r), "state": _state(r, records[i + 1 :])})
    return ApprovalsView(model, rows, audit.verify(log).ok)


def _row(r: Mapping[str, Any]) -> dict[str, Any]:
    policy: Mapping[str, Any] = r["policy"] if isinstance(r.get("policy"), Mapping) else {}
    principal: Mapping[str, Any] = r["principal"] if isinstance(r.get("principal"), Mapping) else {}
    return {
        "seq": r.get("seq"),
        "kind": r.get("kind"),
        "at": r.get("at"),
        "principal": principal.get("name"),
        "authenticated": principal.get("authenticated"),
        "alias": r.get("alias"),
        "from": r.get("from"),
        "to": r.get("to"),
        "rule": r.get("rule"),
        "policy_sha256": policy.get("sha256"),
        "registry": r.get("registry"),
        "comment": r.get("reason"),
    }


def _state(r: Mapping[str, Any], later: Sequence[Mapping[str, Any]]) -> str:
    """standing, revoked or void (the alias moved after it), as of now."""
    if r.get("kind") == approvals.REVOKE:
        return "revocation"
    who = approvals.principal_of(r)
    for x in later:
        if x.get("kind") in approvals.MOVE_KINDS and x.get("alias") == r.get("alias"):
            return "void (the alias moved since)"
        if (
            x.get("kind") == approvals.REVOKE
            and approvals.principal_of(x) == who
            and _binding(x) == _binding(r)
        ):
            return "revoked"
    return "standing"


def _binding(r: Mapping[str, Any]) -> tuple[Any, ...]:
    p = r.get("policy")
    sha = p.get("sha256") if isinstance(p, Mapping) else None
    return (r.get("registry"), r.get("alias"), r.get("from"), r.get("to"), r.get("rule"), sha)
