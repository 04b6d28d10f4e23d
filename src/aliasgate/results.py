"""What each command returns: typed values the reporters (text, JSON, GitHub) render.

Every result knows its exit code (derived from its statuses by :func:`aliasgate.status.exit_code`)
and its JSON form; none prints. The CLI hands a result to the reporter chosen once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aliasgate.errors import ExitCode, PolicyIssue, after_notifications
from aliasgate.model import Principal, Version
from aliasgate.status import Status, exit_code

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.applier import ApplyResult, RollbackPlan
    from aliasgate.audit import Verification
    from aliasgate.cleanup import CleanupResult
    from aliasgate.model_reports import ModelReport
    from aliasgate.native_ttl import TtlPlan
    from aliasgate.notify import NotifyReport
    from aliasgate.planner import Plan
    from aliasgate.policy.model import Policy
    from aliasgate.report import Report
    from aliasgate.retention import CleanupPlan


class _Executed:
    """A run that carries the plan it executed and the executor's result (apply, cleanup)."""

    plan: Any
    result: Any
    notifications: NotifyReport | None

    @property
    def exit_code(self) -> int:
        return _notified(int(self.result.exit_code), self.notifications)

    def as_dict(self) -> dict[str, Any]:
        return {"plan": self.plan.as_dict(), "result": self.result.as_dict(), **_notes(self.notifications)}


@dataclass
class PlanRun:
    plan: Plan
    registry: str
    saved: str | None = None
    reports: list[ModelReport] = field(default_factory=list)  # each model's report (GitHub summary)

    @property
    def exit_code(self) -> int:
        return exit_code(r.status for r in self.plan.rules)

    def as_dict(self) -> dict[str, Any]:
        return self.plan.as_dict()


@dataclass
class ApplyRun(_Executed):
    plan: Plan
    result: ApplyResult
    exact: bool  # a saved plan applied as is (the text report then omits the plan)
    registry: str
    reports: list[ModelReport] = field(default_factory=list)
    notifications: NotifyReport | None = None  # None: the policy names no notify target


def _notified(code: int, notes: NotifyReport | None) -> int:
    return after_notifications(code, notes is not None and notes.required_failed)


def _notes(notes: NotifyReport | None) -> dict[str, Any]:
    """The ``notifications`` field of a result's JSON, when the policy names targets."""
    return {} if notes is None else {"notifications": notes.as_dict()}


@dataclass
class CheckEntry:
    file: str
    policy: Policy | None
    issues: list[PolicyIssue]


@dataclass
class CheckRun:
    entries: list[CheckEntry]

    @property
    def issues(self) -> list[PolicyIssue]:
        return [i for e in self.entries for i in e.issues]

    @property
    def exit_code(self) -> int:
        return exit_code([Status.INVALID] if self.issues else [])

    def as_dict(self) -> list[dict[str, Any]]:
        return [
            {
                "file": e.file,
                "ok": not e.issues,
                "rules": len(e.policy.promotions) if e.policy else None,
                "retention": len(e.policy.retention) if e.policy else None,
                "issues": [i.__dict__ for i in e.issues],
            }
            for e in self.entries
        ]


@dataclass
class StatusView:
    model: str
    versions: Sequence[Version]  # newest first, at most the limit
    aliases: Mapping[str, int]
    metrics: Sequence[str]  # columns to show

    exit_code = int(ExitCode.OK)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "aliases": dict(self.aliases),
            "versions": [
                {
                    "version": v.number,
                    "created_at": v.created_at.isoformat(),
                    "created_by": v.created_by,
                    "aliases": list(v.aliases),
                    "metrics": dict(v.metrics),
                    "metadata": dict(v.metadata),
                    "lineage": [str(i) for i in v.lineage],
                    "source": v.source,
                }
                for v in self.versions
            ],
        }


@dataclass
class HistoryView:
    model: str
    records: list[dict[str, Any]]  # newest first
    verification: Verification
    verify: bool

    @property
    def exit_code(self) -> int:
        return exit_code([Status.BROKEN] if self.verify and not self.verification.ok else [])

    def as_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "records": self.records}
        if self.verify:
            payload["verification"] = self.verification.as_dict()
        return payload


@dataclass
class ReportView:
    report: Report

    exit_code = int(ExitCode.OK)

    def as_dict(self) -> dict[str, Any]:
        from aliasgate.report import as_dict

        return as_dict(self.report)


@dataclass
class RollbackRun:
    model: str
    alias: str
    rollback: RollbackPlan
    dry_run: bool
    record: dict[str, Any] | None
    registry: str
    reports: list[ModelReport] = field(default_factory=list)
    notifications: NotifyReport | None = None

    @property
    def exit_code(self) -> int:
        return _notified(int(ExitCode.OK), self.notifications)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "alias": self.alias,
            "from": self.rollback.current,
            "to": self.rollback.target,
            "dry_run": self.dry_run,
            "record": self.record,
            **_notes(self.notifications),
        }


@dataclass
class CleanupRun(_Executed):
    plan: CleanupPlan
    result: CleanupResult
    ttl_plan: TtlPlan | None = None
    notifications: NotifyReport | None = None


@dataclass
class WhoamiView:
    registry: str
    principal: Principal

    exit_code = int(ExitCode.OK)

    def as_dict(self) -> dict[str, Any]:
        return {"registry": self.registry, **self.principal.as_dict()}


@dataclass
class ModelsView:
    """``promote registry list``: each model with its newest version and its aliases."""

    rows: list[tuple[str, int | None, dict[str, int]]]

    exit_code = int(ExitCode.OK)

    def as_dict(self) -> list[dict[str, Any]]:
        return [{"model": m, "latest": n, "aliases": a} for m, n, a in self.rows]


@dataclass
class NotifyRun:
    """``promote notify --test``: one delivery per target; exit 1 if any failed."""

    policy: str
    report: NotifyReport

    @property
    def exit_code(self) -> int:
        return int(ExitCode.REGISTRY if self.report.failed else ExitCode.OK)

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "notifications": self.report.as_dict()}


@dataclass
class ApproveRun:
    """What ``promote approve`` recorded (or withdrew)."""

    plan_id: str
    principal: Principal
    revoke: bool
    records: list[dict[str, Any]] = field(default_factory=list)

    exit_code = int(ExitCode.OK)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan_id,
            "principal": self.principal.as_dict(),
            "revoke": self.revoke,
            "records": self.records,
        }


@dataclass
class ApprovalsView:
    """``promote approvals MODEL``: every approval and revocation in the verified chain."""

    model: str
    rows: list[dict[str, Any]]  # oldest first
    verified: bool  # False: the chain is broken; only the records before the break are listed

    exit_code = int(ExitCode.OK)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "chain_intact": self.verified, "approvals": self.rows}
