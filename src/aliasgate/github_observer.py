"""What each command leaves on GitHub: step summary, annotations and step outputs.

The observer is handed the same typed result as the text or JSON reporter (see
:mod:`aliasgate.reporters`); :func:`observe` picks the handler by the result's type,
:func:`observe_error` turns an error from the funnel into an annotation (and, for a
policy, one annotation per problem at its file, line and column).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aliasgate import github, summary
from aliasgate.errors import AliasgateError, PolicyError
from aliasgate.model_reports import ModelReport
from aliasgate.results import (
    ApplyRun,
    CheckRun,
    CleanupRun,
    NotifyRun,
    PlanRun,
    ReportView,
    RollbackRun,
)
from aliasgate.summary import CleanupLine, cleanup_lines, version_label


def _rule_annotations(plan: Any, result: Any | None) -> None:
    final = result is not None and not result.dry_run
    outcome = {o.rule: o for o in result.outcomes} if result is not None else {}
    for r in plan.rules:
        o = outcome.get(r.rule)
        status = o.status if o is not None else r.status
        title = f"aliasgate: {r.rule} {'blocked' if r.status == 'blocked' else status}"
        if r.status == "blocked":
            failed = [g for g in r.gates if not g.passed]
            level = "error" if final else "warning"
            if not failed:
                github.annotate(level, f"{r.rule}: {r.reason}", file=r.file, line=r.line, title=title)
            for g in failed:
                github.annotate(
                    level, f"{r.rule}: {g.gate}: {g.detail}", file=r.file, line=g.line or r.line, title=title
                )
        elif status in ("conflict", "failed") and o is not None:
            github.annotate("error", f"{r.rule}: {o.message}", file=r.file, line=r.line, title=title)
        elif status == "applied" and o is not None:
            done = "; ".join(
                f"{mv.model}:{mv.alias} {version_label(mv.expected)} -> {version_label(mv.target)}"
                for mv in o.moves
            )
            github.annotate("notice", f"{r.rule}: {done}", file=r.file, line=r.line, title=title)
    github.flush_annotations()


def report_plan(
    plan: Any,
    result: Any | None,
    reports: Sequence[ModelReport] = (),
    saved: str | None = None,
    exit_code: int | None = None,
) -> None:
    """Summary (with each model's report), annotations and step outputs of a plan or an apply."""
    github.append_summary(summary.plan_markdown(plan, result, summary.model_markdown(reports)))
    _rule_annotations(plan, result)
    final = result is not None and not result.dry_run
    applied = [o for o in (result.outcomes if result is not None else []) if o.status == "applied"]
    if final:
        moves = [mv.as_dict() for o in applied for mv in o.moves]
    else:
        moves = [mv.as_dict() for mv in plan.moves]
    if exit_code is None:
        exit_code = int(result.exit_code) if result is not None else (3 if plan.blocked else 0)
    outputs = {
        "changed": "true" if final and applied else "false",
        "moves": json.dumps(moves),
        "exit-code": str(exit_code),
    }
    if saved:
        outputs["plan"] = str(saved)
    github.set_outputs(outputs)


def _plan(run: PlanRun) -> None:
    report_plan(run.plan, None, run.reports, run.saved)


def _apply(run: ApplyRun) -> None:
    report_plan(run.plan, run.result, run.reports, exit_code=run.exit_code)
    notifications(run.notifications)


def notifications(report: Any) -> None:
    """An annotation per failed delivery (an error when the target is required); targets are
    named by their variable, never their URL."""
    for d in report.failed if report is not None else []:
        github.command("error" if d.required else "warning", d.line(), title="aliasgate: notification")


def _notify(run: NotifyRun) -> None:
    notifications(run.report)


def _rollback(run: RollbackRun) -> None:
    current, target = run.rollback.current, run.rollback.target
    text = summary.rollback_markdown(
        run.model, run.alias, current, target, dry_run=run.dry_run, record=run.record
    )
    shown = summary.model_markdown(run.reports)
    github.append_summary("\n".join([text, *(["<hr>", "", *shown] if shown else [])]))
    changed = run.record is not None
    if changed:
        github.command(
            "notice",
            f"rolled back {run.model}:{run.alias} {version_label(current)} -> {version_label(target)}",
            title="aliasgate: rollback",
        )
    move = {"model": run.model, "alias": run.alias, "expected": current, "target": target, "kind": "rollback"}
    github.set_outputs(
        {
            "changed": "true" if changed else "false",
            "moves": json.dumps([move] if current != target else []),
            "exit-code": str(run.exit_code),
        }
    )
    notifications(run.notifications)


def policy_errors(issues: Iterable[Any]) -> None:
    """An error annotation at the file, line and column of each policy problem."""
    for issue in issues:
        github.annotate(
            "error",
            f"{issue.path}: {issue.message}",
            file=issue.file,
            line=issue.line or None,
            col=issue.column or None,
            title="aliasgate: invalid policy",
        )
    github.flush_annotations()


def _check(run: CheckRun) -> None:
    policy_errors(run.issues)
    github.append_summary(summary.check_markdown(run.entries))
    github.set_outputs({"changed": "false", "moves": "[]", "exit-code": str(run.exit_code)})


def report_cleanup(
    lines: list[CleanupLine],
    *,
    dry_run: bool,
    exit_code: int,
    file: str | None = None,
    line: int | None = None,
    native_ttl: Any = None,
) -> None:
    """Summary, annotations and outputs of ``promote cleanup``: ``changed`` (anything deleted),
    ``moves`` (the deletions, or on a dry run the would-be deletions), and with ``--native-ttl``
    ``ttl-disabled`` and ``ttl-failed``."""
    gone = [c for c in lines if c.verdict == "deleted" or (dry_run and c.verdict == "delete")]
    github.append_summary(summary.cleanup_markdown(lines, dry_run=dry_run, native_ttl=native_ttl))
    if exit_code == 3:
        github.annotate(
            "error", "cleanup aborted before deleting anything: the deletion cap", file=file, line=line
        )
    levels = {"failed": "error", "skipped": "warning"}
    for c in lines:
        if c.verdict in levels:
            github.annotate(
                levels[c.verdict],
                f"{c.model}:v{c.version}: {c.reason}",
                file=file,
                line=line,
                title="aliasgate: cleanup",
            )
    outputs = {
        "changed": "true" if not dry_run and any(c.verdict == "deleted" for c in lines) else "false",
        "moves": json.dumps([{"model": c.model, "version": c.version, "kind": "delete"} for c in gone]),
        "exit-code": str(int(exit_code)),
    }
    if native_ttl is not None:
        outputs.update(annotate_native_ttl(native_ttl, file=file, line=line))
    github.flush_annotations()
    github.set_outputs(outputs)


def annotate_native_ttl(result: Any, *, file: str | None = None, line: int | None = None) -> dict[str, str]:
    """Errors for the TTL writes W&B ignored (one, naming the fix) or refused (one per version) and
    for changes left unaudited; returns the outputs ``ttl-disabled`` and ``ttl-failed``."""
    from aliasgate import native_ttl as nt

    title = "aliasgate: native TTL"
    if result.ignored_message:
        github.annotate("error", result.ignored_message, file=file, line=line, title=title)
    for o in result.of(nt.FAILED):
        why = o.message.removeprefix(f"{o}: ")  # a registry error names the version itself
        github.annotate("error", f"{o}: TTL not disabled: {why}", file=file, line=line, title=title)
    for problem in result.record_errors:
        github.annotate("error", problem, file=file, line=line, title=title)
    if result.not_run and not result.dry_run:
        github.annotate("warning", f"native TTL: {result.not_run}", file=file, line=line, title=title)
    return {
        "ttl-disabled": str(result.count(nt.APPLIED)),
        "ttl-failed": str(result.count(nt.IGNORED) + result.count(nt.FAILED)),
    }


def _cleanup(run: CleanupRun) -> None:
    report_cleanup(
        cleanup_lines(run.plan, run.result),
        dry_run=run.result.dry_run,
        exit_code=run.exit_code,
        file=run.plan.policy_path,
        native_ttl=run.result.native_ttl,
    )
    notifications(run.notifications)


def _report(view: ReportView) -> None:
    from aliasgate import report

    github.append_summary(report.markdown(view.report))


_HANDLERS: dict[type, Callable[[Any], None]] = {
    PlanRun: _plan,
    ApplyRun: _apply,
    RollbackRun: _rollback,
    CheckRun: _check,
    CleanupRun: _cleanup,
    ReportView: _report,
    NotifyRun: _notify,
}


def observe(result: object) -> None:
    """Leave on GitHub what ``result`` says (results with nothing to say are ignored)."""
    handler = _HANDLERS.get(type(result))
    if handler is not None:
        handler(result)


def observe_error(exc: BaseException) -> None:
    """An error annotation for what the funnel caught (per problem for a policy)."""
    if isinstance(exc, PolicyError):
        policy_errors(exc.issues)
    elif isinstance(exc, AliasgateError):
        github.command("error", exc.message, title=f"aliasgate: {type(exc).__name__}")
    elif not isinstance(exc, KeyboardInterrupt):
        github.command(
            "error", f"internal error (a bug in aliasgate): {type(exc).__name__}", title="aliasgate: bug"
        )
