"""Four-eyes approvals and soak time, one scenario run against every backend.

Each backend test supplies a :class:`Backend`: its URI, the model (the demo's
``bert-classifier``: production on v2, staging on v4, v3 in between), and a way to connect
as each account. Accounts by role: ``alice``, ``bob``, ``carol`` and ``dave`` may approve (the
group ``ml-leads``); ``dave`` also makes the plans (the author, whose approval does not count); ``erin`` applies them and moves staging;
``mallory`` may not approve (on registries with accounts: read-only). Times are explicit:
approvals and moves carry the ``now`` they are given, plans are evaluated at a given ``now``;
nothing sleeps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aliasgate import api, approving, planconfirm, planfile, planner
from aliasgate.errors import AuthError, Blocked
from aliasgate.gates import GateResult
from aliasgate.model import AliasOp, Move, utcnow
from aliasgate.provenance import Provenance

ROLES = ("alice", "bob", "carol", "dave", "erin", "mallory")


@dataclass
class Backend:
    uri: str
    model: str
    names: dict[str, str]  # role -> the principal name the registry reports
    connect: Callable[[str], AbstractContextManager[api.Session]]  # role -> a session as that account
    workdir: Path
    #: the registry itself refuses mallory's writes to the chain (False: the embedded registry,
    #: which authenticates no one: her approval is written, and ignored by the gate)
    refuses_mallory: bool = True


@contextmanager
def env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def policy_text(b: Backend) -> str:
    n = b.names
    return f"""version: 1
groups:
  ml-leads: [{n["alice"]}, {n["bob"]}, {n["carol"]}, {n["dave"]}]
promotions:
  - name: prod
    model: {b.model}
    from: staging
    to: production
    approvals: {{required: 2, from: [ml-leads], not_by: [author, applier], within: 24h}}
  - name: soaked
    model: {b.model}
    from: staging
    to: candidate
    gates:
      - soak: {{alias: staging, for: 24h}}
"""


def _policy(b: Backend) -> Path:
    path = b.workdir / "approvals-policy.yaml"
    if not path.exists():
        path.write_text(policy_text(b), encoding="utf-8")
    return path


def plan_as(b: Backend, role: str, name: str, *, rule: str = "prod", now: datetime | None = None) -> Any:
    policy = api.load(_policy(b), use_cache=False)
    with b.connect(role) as s:
        p = planner.plan(policy, s.registry, now=now or utcnow(), principal=s.principal, rules=[rule])
    out = b.workdir / name
    planfile.save(p, out)
    return p


def approve_as(
    b: Backend, role: str, plan: str, *, now: datetime | None = None, revoke: bool = False
) -> list[dict[str, Any]]:
    saved = api.read_plan(b.workdir / plan, _policy(b))
    with b.connect(role) as s:
        run = approving.approve(
            s, saved, rules=None, comment=f"by {role}", revoke=revoke, now=now or utcnow()
        )
    return run.records


def apply_as(b: Backend, role: str, plan: str) -> Any:
    saved = api.read_plan(b.workdir / plan, _policy(b))
    with b.connect(role) as s:
        confirmed = planconfirm.confirm(
            saved.saved, saved.policy, s.registry, principal=s.principal, now=utcnow()
        )
        return api.apply_plan(s, confirmed, exact=True)


def gate_of(plan: Any, kind: str) -> GateResult:
    return next(g for r in plan.rules for g in r.gates if g.kind == kind)


def approvals_gate(b: Backend, role: str, plan: str) -> GateResult:
    """The approvals gate as ``role`` applying ``plan`` would see it now."""
    saved = api.read_plan(b.workdir / plan, _policy(b))
    with b.connect(role) as s:
        p = planner.plan(
            saved.policy, s.registry, now=utcnow(), principal=s.principal, rules=["prod"],
            author=saved.saved.plan.principal,
        )  # fmt: skip
    return gate_of(p, "approvals")


def move_staging(b: Backend, target: int, at: datetime) -> None:
    """``erin`` moves staging (audited, at the given time), as a deployment job would."""
    with b.connect("erin") as s:
        current = s.registry.aliases(b.model).get("staging")
        op = AliasOp(b.model, "staging", current, target)
        prov = Provenance(s.principal, "test", "test-host")
        s.registry.apply([Move(op, prov.body(op, kind="manual", now=at, reason="deploy to staging"))])


def forged(b: Backend, role: str, plan: Any, **claims: Any) -> dict[str, Any]:
    """An approval record of ``plan``'s move written straight to the chain, bypassing ``approve``."""
    move = plan.rules[0].moves[0]
    with b.connect(role) as s:
        op = AliasOp(move.model, move.alias, move.expected, move.target)
        body = Provenance(s.principal, "forger", "host", policy={"sha256": plan.policy_sha256}).body(
            op, kind="approve", now=utcnow(), rule="prod", extra={"registry": s.registry.uri}
        )
        body.update(claims)
        sealed: dict[str, Any] = s.registry.append_record(b.model, body)  # type: ignore[attr-defined]
        return sealed


def four_eyes(b: Backend) -> None:
    """The Must-show list for approvals, in one story on one model."""
    n = b.names
    # carol approves a plan for v4; then staging moves to v3: her approval is for another target.
    plan_as(b, "dave", "p-v4.json")
    approve_as(b, "carol", "p-v4.json")
    move_staging(b, 3, utcnow())
    p = plan_as(b, "dave", "p.json")
    (rule,) = p.rules
    assert rule.status == planner.BLOCKED and rule.awaiting_approval
    assert [(m.expected, m.target) for m in rule.moves] == [(2, 3)]  # saved, pending approval
    g = gate_of(p, "approvals")
    assert not g.passed and g.detail.startswith("0 of 2 from ml-leads")
    assert n["carol"] in g.detail.split("may still approve: ")[1]  # her v4 approval is not for v3

    # The plan's author cannot approve it; a record claiming so, written directly, does not count.
    with pytest.raises(Blocked, match="made this plan"):
        approve_as(b, "dave", "p.json")
    forged(b, "dave", p)
    g = approvals_gate(b, "erin", "p.json")
    assert not g.passed and f"{n['dave']} is the plan's author and does not count" in g.detail

    # One approval: blocked, naming who may still approve.
    approve_as(b, "alice", "p.json")
    with pytest.raises(Blocked, match=r"1 of 2 from ml-leads: " + n["alice"]):
        apply_as(b, "erin", "p.json")
    # An approval older than `within` does not count.
    approve_as(b, "bob", "p.json", now=utcnow() - timedelta(hours=25))
    g = approvals_gate(b, "erin", "p.json")
    assert not g.passed and "older than 24h" in g.detail
    assert "may still approve: " in g.detail and n["bob"] in g.detail.split("may still approve: ")[1]
    with pytest.raises(Blocked):
        apply_as(b, "erin", "p.json")

    # An account that may not approve: refused by `approve`; written directly, refused by the
    # registry (or, where it authenticates no one, written and ignored).
    with pytest.raises(Blocked, match="may not approve"):
        approve_as(b, "mallory", "p.json")
    if b.refuses_mallory:
        with pytest.raises(AuthError):
            forged(b, "mallory", p)
    else:
        forged(b, "mallory", p)
        g = approvals_gate(b, "erin", "p.json")
        assert f"{n['mallory']} may not approve" in g.detail and not g.passed
    # The applier's approval does not count either (not_by: applier), even written directly.
    forged(b, "erin", p)
    assert not approvals_gate(b, "erin", "p.json").passed

    # Two distinct approvers: passes; bob revokes: blocked again; bob approves again: applies.
    approve_as(b, "bob", "p.json")
    g = approvals_gate(b, "erin", "p.json")
    assert g.passed and g.detail.startswith(f"2 of 2 from ml-leads: {n['alice']}")
    approve_as(b, "bob", "p.json", revoke=True)
    with pytest.raises(Blocked, match="1 of 2"):
        apply_as(b, "erin", "p.json")
    with b.connect("erin") as s:
        assert s.registry.aliases(b.model)["production"] == 2  # nothing moved
    approve_as(b, "bob", "p.json")
    result = apply_as(b, "erin", "p.json")
    assert result.exit_code == 0
    with b.connect("erin") as s:
        assert s.registry.aliases(b.model)["production"] == 3
        records, verification = api.history(s, b.model)
        kinds = [r["kind"] for r in records]
        listed = approving.listing(s, b.model)
    assert verification.ok, verification.problem
    assert kinds.count("approve") >= 5 and kinds.count("revoke") == 1 and kinds[-1] == "promote"
    promote = records[-1]
    evidence = next(g for g in promote["gates"] if g["kind"] == "approvals")
    counted = {a["principal"] for a in evidence["observed"]["moves"][0]["counted"]}
    assert counted == {n["alice"], n["bob"]}
    assert listed.verified and {r["state"] for r in listed.rows} >= {"void (the alias moved since)"}
    # Once production moved, the approvals are used up: a new plan of another move needs new ones.
    assert all(r["state"] != "standing" for r in listed.rows)


def soak(b: Backend) -> None:
    """23h blocked, 25h passes, left and came back starts again: from the audit trail only."""
    base = utcnow() - timedelta(days=10)
    move_staging(b, 3, base)

    def gate_at(hours: float) -> GateResult:
        p = plan_as(b, "dave", "soak.json", rule="soaked", now=base + timedelta(hours=hours))
        return gate_of(p, "soak")

    g = gate_at(23)
    assert (
        not g.passed
        and "23h < 24h" in g.detail
        and g.observed["since"].startswith(base.strftime("%Y-%m-%dT%H:%M"))
    )
    assert gate_at(25).passed
    move_staging(b, 4, base + timedelta(hours=26))  # left ...
    move_staging(b, 3, base + timedelta(hours=27))  # ... and came back: the soak starts again
    g = gate_at(30)
    assert not g.passed and "3h < 24h" in g.detail
    assert gate_at(52).passed
