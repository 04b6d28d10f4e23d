"""Confirm a saved plan at apply time: the policy it was made from, re-evaluated now.

``apply PLAN`` never does what the file says merely because the file says it. The
policy is one ``apply`` trusts (:func:`trusted_policy`), the registry is one ``apply``
resolves (:func:`check_registry`), and :func:`confirm` re-plans the plan's rules against
the registry as it is now. The plan applies only if the re-evaluation yields the same
candidates, holders, verdicts and moves; otherwise nothing is applied:

* exit 4 (:class:`Conflict`): an alias the plan read has moved since;
* exit 3 (:class:`Blocked`): a gate that passed at planning time fails now (a freeze
  began, another account applies, a version grew too old);
* exit 2 (:class:`InvalidInput`): the plan does not match its policy (edited), or the
  policy or registry differs from the one the plan names.

What is applied is the re-evaluated plan (fresh gate evidence for the audit record),
under the saved plan's id, so the record points at the file that was reviewed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aliasgate.errors import Blocked, Conflict, InvalidInput
from aliasgate.model import Principal, vn
from aliasgate.planfile import KEY_ENV, SavedPlan, Tampered
from aliasgate.planner import BLOCKED, MOVE, Plan, RulePlan
from aliasgate.policy.model import Policy
from aliasgate.registry import Registry


def trusted_policy(saved: SavedPlan, policy_path: str | Path) -> Policy:
    """The policy the plan was made from, from a source the plan file alone does not control.

    A verified signature vouches for the policy copy the plan carries; otherwise the policy
    file given to ``apply`` (``-p``, ``PROMOTE_POLICY``) is read, and its SHA-256 must be
    the plan's. The plan's own ``policy.path`` is only shown, never opened."""
    from aliasgate.policy.load import load_policy, load_text

    plan = saved.plan
    if saved.signed and saved.policy_text is not None:
        return load_text(saved.policy_text, plan.policy_path or "<policy carried by the plan>")
    try:
        policy = load_policy(policy_path)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{saved.path} is applied only with the policy it was made from "
            f"({plan.policy_path or 'unnamed'}, sha256 {_short(plan.policy_sha256)}): {exc.message}",
            hint=_policy_hint(saved),
        ) from None
    if policy.sha256 != plan.policy_sha256:
        raise InvalidInput(
            f"{saved.path} was made from {plan.policy_path or 'a policy'} (sha256 "
            f"{_short(plan.policy_sha256)}), but {policy_path} has sha256 {_short(policy.sha256)}: "
            "the policy changed since the plan was made, or the plan was edited; nothing applied",
            hint=_policy_hint(saved),
        )
    return policy


def _short(sha: str | None) -> str:
    return (sha or "none")[:12]


def _policy_hint(saved: SavedPlan) -> str:
    if saved.policy_text is not None and not saved.signed:
        return f"the plan is signed: set {KEY_ENV} (the key `promote plan` used) to apply its own policy copy"
    return f"pass the policy with -p/--policy (or PROMOTE_POLICY), or sign plans with {KEY_ENV}"


def normalize_registry(uri: str, env: Mapping[str, str] | None = None) -> str:
    """A registry URI as backends report it: ``mlflow`` names MLFLOW_TRACKING_URI, ``local://x``
    is ``local:x``, and user:password@ is not part of where a registry is."""
    env = os.environ if env is None else env
    if uri == "mlflow" and env.get("MLFLOW_TRACKING_URI"):
        uri = "mlflow+" + env["MLFLOW_TRACKING_URI"].strip()
    if uri.startswith("local://"):
        uri = "local:" + uri[len("local://") :]
    if uri.startswith(("mlflow+http://", "mlflow+https://")):
        parts = urlsplit(uri[len("mlflow+") :])
        netloc = parts.netloc.rsplit("@", 1)[-1]
        uri = "mlflow+" + urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, ""))
    return uri


def check_registry(saved: SavedPlan, resolved: str) -> None:
    """The registry ``apply`` resolved (never the plan's alone) must be the plan's."""
    if normalize_registry(resolved) != normalize_registry(saved.plan.registry):
        raise InvalidInput(
            f"{saved.path} was made for {saved.plan.registry}; the registry configured here "
            f"(--registry, PROMOTE_REGISTRY or the policy's `registry:`) is {resolved}: "
            "it does not match; nothing was sent to either",
        )


def confirm(
    saved: SavedPlan,
    policy: Policy,
    registry: Registry,
    *,
    principal: Principal,
    now: datetime,
    approving: bool = False,
) -> Plan:
    """Re-plan the saved plan's rules now; the plan to apply, or an error that applies nothing.

    The plan's author (its principal) stays the author; ``principal`` applies it. ``approving``:
    confirming for ``promote approve``, so approvals still missing block nothing."""
    from aliasgate import planner

    plan = saved.plan
    if plan.registry != registry.uri and normalize_registry(plan.registry) != registry.uri:
        raise InvalidInput(f"the plan was made for {plan.registry}, not {registry.uri}: it does not match")
    names = [r.rule for r in plan.rules]
    unknown = [n for n in names if policy.rule(n) is None]
    if unknown:
        raise Tampered(f"{saved.path} names rule {unknown[0]!r}, which its policy does not have")
    fresh_plan = (
        planner.plan(policy, registry, now=now, principal=principal, rules=names, author=plan.principal)
        if names
        else None
    )
    fresh = {r.rule: r for r in fresh_plan.rules} if fresh_plan else {}
    moved: list[str] = []
    blocked: list[str] = []
    for rule in plan.rules:
        _compare(saved.path, rule, fresh[rule.rule], moved, blocked, approving)
    if moved:
        raise Conflict(
            "the registry changed since the plan was saved; nothing applied (make a new plan):\n  "
            + "\n  ".join(moved)
        )
    if blocked:
        raise Blocked("saved plan refused, nothing applied: " + "; ".join(blocked))
    return replace(
        plan,
        rules=tuple(fresh[r.rule] for r in plan.rules),
        policy_text=None,
        saved_id=plan.id,
    )


def _compare(
    where: str, saved: RulePlan, now: RulePlan, moved: list[str], blocked: list[str], approving: bool = False
) -> None:
    if (saved.models, saved.source, saved.to) != (now.models, now.source, now.to):
        raise Tampered(f"{where}: rule {saved.rule!r} does not say what its policy says (models, from, to)")
    for label, was_t, is_t in (
        (saved.source, saved.candidates, now.candidates),
        (saved.to, saved.holders, now.holders),
    ):
        for model in saved.models:
            was, is_ = was_t.get(model), is_t.get(model)
            if was != is_:
                moved.append(f"{model}:{label}: the plan expected it on {vn(was)}, found it on {vn(is_)}")
    if moved:
        return
    _verdicts(where, saved, now, moved, blocked, approving)
    if blocked or moved:
        return
    if saved.awaiting_approval and saved.moves == now.moves and (now.status == MOVE or now.awaiting_approval):
        return
    if saved.status != now.status or saved.moves != now.moves:
        if saved.status == MOVE and now.status == BLOCKED:  # pragma: no cover - a verdict changed first
            blocked.append(f"rule {saved.rule!r}: {now.reason}")
            return
        raise Tampered(f"{where}: rule {saved.rule!r} does not match what its policy yields now")


def _verdicts(
    where: str, saved: RulePlan, now: RulePlan, moved: list[str], blocked: list[str], approving: bool
) -> None:
    """Each gate's verdict then and now: one that passed and fails now blocks; one that failed and
    passes now means the registry changed (approvals excepted: they arrive after the plan)."""
    verdicts_then = [_verdict(g.as_dict()) for g in saved.gates]
    verdicts_now = [_verdict(g.as_dict()) for g in now.gates]
    if [v[:3] for v in verdicts_then] != [v[:3] for v in verdicts_now]:
        raise Tampered(f"{where}: the gates of rule {saved.rule!r} are not the gates of its policy")
    for then, g in zip(verdicts_then, now.gates, strict=True):
        if g.kind == "approvals":  # approvals are expected to arrive after the plan is saved
            if not g.passed and not approving and (then[3] or saved.awaiting_approval):
                blocked.append(f"rule {saved.rule!r}: {g.gate}: {g.detail}")
            continue
        if then[3] and not g.passed:
            blocked.append(f"rule {saved.rule!r}: {g.gate}: {g.detail}")
        elif g.passed and not then[3]:
            moved.append(f"rule {saved.rule!r}: {g.gate} failed when the plan was made and passes now")


def _verdict(g: Mapping[str, Any]) -> tuple[Any, ...]:
    return (g["kind"], g["gate"], g.get("model"), g["passed"])
