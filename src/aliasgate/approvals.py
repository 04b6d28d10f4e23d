"""Four-eyes approvals: records in the model's own audit chain, and the gate that counts them.

An approval is an audit record of kind ``approve`` (withdrawn by one of kind ``revoke``),
appended to the model's hash chain by the backend under its lock or transaction
(:class:`aliasgate.registry.AppendsRecords`). It therefore has exactly the audit trail's
integrity: only principals who can extend the chain can add one, ``history --verify`` covers
it, and ``history`` shows it. The record carries the principal the registry authenticated
(never a typed name) and binds exactly one move: registry, model, alias, from-version,
to-version, policy hash and rule.

An approval counts for a move when, reading the verified chain oldest first:

* its binding equals the move's (an approval of v7 is no approval of v8);
* no move of that alias was recorded after it (a holder change voids earlier approvals);
* its principal did not revoke it later;
* its principal is one ``from`` names (a name, a glob, or a member of a named group);
* its principal is not the plan's author or its applier, where ``not_by`` says so;
* it is no older than ``within``.

Every approval that does not count is reported with the reason, so the gate's evidence reads
``1 of 2 from ml-leads: bob (3h ago); alice is the plan's author and does not count``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aliasgate import audit
from aliasgate.durations import format_duration
from aliasgate.model import Principal, parse_time
from aliasgate.policy.model import ApprovalsGate

APPROVE = "approve"
REVOKE = "revoke"
#: record kinds that move or remove an alias: each voids the approvals of that alias before it
MOVE_KINDS = ("promote", "rollback", "undo", "manual", "remove")


@dataclass(frozen=True)
class Binding:
    """Exactly what one approval approves."""

    registry: str
    model: str
    alias: str
    source: int | None  # the holder the move starts from (None: the alias is new)
    target: int
    policy_sha256: str
    rule: str

    def matches(self, record: Mapping[str, Any]) -> bool:
        from aliasgate.planconfirm import normalize_registry

        policy = record.get("policy")
        sha = policy.get("sha256") if isinstance(policy, Mapping) else None
        registry = record.get("registry")
        return (
            isinstance(registry, str)
            and normalize_registry(registry) == normalize_registry(self.registry)
            and record.get("model") == self.model
            and record.get("alias") == self.alias
            and _same_number(record.get("from"), self.source)
            and _same_number(record.get("to"), self.target)
            and sha == self.policy_sha256
            and record.get("rule") == self.rule
        )

    def __str__(self) -> str:
        start = "(new)" if self.source is None else f"v{self.source}"
        return f"{self.model}:{self.alias} {start} -> v{self.target} (rule {self.rule})"


def _same_number(value: Any, want: int | None) -> bool:
    if want is None:
        return value is None
    return type(value) is int and value == want


def verified(log: audit.AuditLog) -> list[Mapping[str, Any]]:
    """The records a reader may trust: those before the first one the chain check rejects."""
    check = audit.verify(log)
    ordered = sorted(log.records, key=_seq)
    if check.ok:
        return ordered
    bad = check.first_bad or 0
    return [r for r in ordered if type(r.get("seq")) is int and r["seq"] < bad]


def _seq(record: Mapping[str, Any]) -> int:
    seq = record.get("seq")
    return seq if type(seq) is int else 0


@dataclass(frozen=True)
class Approval:
    principal: str
    at: datetime
    seq: int
    comment: str | None = None

    def as_dict(self) -> dict[str, Any]:
        from aliasgate.model import iso

        return {"principal": self.principal, "at": iso(self.at), "seq": self.seq, "comment": self.comment}


def standing(records: Sequence[Mapping[str, Any]], binding: Binding) -> list[Approval]:
    """Approvals of ``binding`` that stand now: not revoked, not voided by a later move of the alias.
    One per principal (its latest)."""
    current: dict[str, Approval] = {}
    for r in records:
        kind = r.get("kind")
        if kind in MOVE_KINDS and r.get("alias") == binding.alias:
            current.clear()
            continue
        if kind not in (APPROVE, REVOKE) or not binding.matches(r):
            continue
        name = principal_of(r)
        if name is None:
            continue
        if kind == REVOKE:
            current.pop(name, None)
            continue
        try:
            at = parse_time(str(r.get("at")))
        except (ValueError, OverflowError):
            continue
        comment = r.get("reason") if isinstance(r.get("reason"), str) else None
        current[name] = Approval(name, at, int(r.get("seq") or 0), comment)
    return list(current.values())


def principal_of(record: Mapping[str, Any]) -> str | None:
    p = record.get("principal")
    name = p.get("name") if isinstance(p, Mapping) else None
    return name if isinstance(name, str) and name else None


def may_approve(gate: ApprovalsGate, name: str) -> bool:
    for entry in gate.approvers:
        for pattern in gate.members.get(entry, (entry,)):
            if name == pattern or fnmatch.fnmatchcase(name, pattern):
                return True
    return False


@dataclass(frozen=True)
class Roles:
    """Who made the plan and who applies it (``not_by`` names them)."""

    author: Principal
    applier: Principal


@dataclass
class Count:
    binding: Binding
    counted: list[Approval] = field(default_factory=list)
    ignored: list[tuple[Approval, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "move": str(self.binding),
            "counted": [a.as_dict() for a in self.counted],
            "ignored": [{**a.as_dict(), "why": why} for a, why in self.ignored],
        }


def count(
    gate: ApprovalsGate, approvals: Sequence[Approval], binding: Binding, roles: Roles, now: datetime
) -> Count:
    out = Count(binding)
    for a in sorted(approvals, key=lambda a: a.seq):
        why = _not_counted(gate, a, roles, now)
        if why is None:
            out.counted.append(a)
        else:
            out.ignored.append((a, why))
    return out


def _not_counted(gate: ApprovalsGate, a: Approval, roles: Roles, now: datetime) -> str | None:
    if not may_approve(gate, a.principal):
        return f"{a.principal} may not approve (not in `from`) and does not count"
    if "author" in gate.not_by and a.principal == roles.author.name:
        return f"{a.principal} is the plan's author and does not count"
    if "applier" in gate.not_by and a.principal == roles.applier.name:
        return f"{a.principal} applies the plan and does not count"
    age = (now - a.at).total_seconds()
    if gate.within is not None and age > gate.within:
        return f"{a.principal}'s approval is {format_duration(age)} old (older than {gate.within_text})"
    return None


def who_may_still(gate: ApprovalsGate, counted: Sequence[Approval], roles: Roles) -> list[str]:
    """The principals ``from`` names (groups expanded, globs as written) who have not approved
    and are not excluded by ``not_by``."""
    done = {a.principal for a in counted}
    excluded = set()
    if "author" in gate.not_by:
        excluded.add(roles.author.name)
    if "applier" in gate.not_by:
        excluded.add(roles.applier.name)
    out: list[str] = []
    for entry in gate.approvers:
        for name in gate.members.get(entry, (entry,)):
            if name not in done and name not in excluded and name not in out:
                out.append(name)
    return out


def describe(gate: ApprovalsGate) -> str:
    text = f"{gate.required} approval(s) from {', '.join(gate.approvers)}"
    if gate.not_by:
        text += f", not by the {' or '.join(gate.not_by)}"
    if gate.within_text:
        text += f", within {gate.within_text}"
    return text


def evaluate(
    gate: ApprovalsGate,
    bindings: Sequence[Binding],
    log: Callable[[str], audit.AuditLog],
    roles: Roles,
    now: datetime,
) -> tuple[bool, dict[str, Any], str]:
    """(passed, observed, detail) for the moves ``bindings`` of one rule: each needs
    ``required`` approvals that count."""
    counts = []
    for b in bindings:
        counts.append(count(gate, standing(verified(log(b.model)), b), b, roles, now))
    passed = bool(counts) and all(len(c.counted) >= gate.required for c in counts)
    details = [_detail(gate, c, roles, now, several=len(counts) > 1) for c in counts]
    observed = {"required": gate.required, "moves": [c.as_dict() for c in counts]}
    return passed, observed, "; ".join(details) or "no move to approve"


def _detail(gate: ApprovalsGate, c: Count, roles: Roles, now: datetime, *, several: bool) -> str:
    def ago(a: Approval) -> str:
        return f"{a.principal} ({format_duration((now - a.at).total_seconds())} ago)"

    who = ", ".join(gate.approvers)
    head = f"{len(c.counted)} of {gate.required} from {who}"
    if c.counted:
        head += ": " + ", ".join(ago(a) for a in c.counted)
    parts = [f"{c.binding.model}: {head}" if several else head]
    parts += [why for _, why in c.ignored]
    if len(c.counted) < gate.required:
        still = who_may_still(gate, c.counted, roles)
        parts.append("may still approve: " + (", ".join(still) if still else "nobody"))
    return "; ".join(parts)
