"""The reporters a command's result is handed to: text or JSON, chosen once from a table.

A command makes one typed call into :mod:`aliasgate.api` and gives the result to
:meth:`Face.emit`, which renders it with the chosen reporter, lets the GitHub observer
see it when on GitHub, and returns the exit code the result carries. Cleanup's plan
(printed before deleting) and progress (a bar on a terminal, one line per deletion
when piped) also live here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from aliasgate import render, secrets
from aliasgate.model import utcnow
from aliasgate.render import Style
from aliasgate.results import (
    ApplyRun,
    ApprovalsView,
    ApproveRun,
    CheckRun,
    CleanupRun,
    HistoryView,
    ModelsView,
    NotifyRun,
    PlanRun,
    ReportView,
    RollbackRun,
    StatusView,
    WhoamiView,
)

Lines = Callable[[Any, Style], "list[tuple[str, bool]]"]  # (text, to stderr)


def _on_github() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def terminal_style(stream: TextIO | None = None) -> Style:
    s = stream or sys.stdout
    color = s.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    return Style(color=bool(color))


def write(text: str, *, err: bool = False, fence: bool = True) -> None:
    """Every line aliasgate prints: redacted, and on GitHub fenced against workflow commands
    (``fence=False`` for text that cannot carry one, such as :func:`to_json`'s)."""
    safe = secrets.redact(text)
    if fence and _on_github():
        from aliasgate import github

        safe = github.neutralize(safe)
    stream = sys.stderr if err else sys.stdout
    stream.write(safe + "\n")
    stream.flush()


def prepare() -> None:
    """Before anything prints: remember secret-looking variables (redaction only) and, on
    GitHub, mask each credential aliasgate sends as soon as a backend reads it (on stderr)."""
    secrets.register_environment()
    if _on_github():
        from aliasgate import github

        github.mask_secrets()


def error_observers() -> tuple[Callable[[BaseException], None], ...]:
    """Who else sees an error the funnel caught: on GitHub, an annotation."""
    if not _on_github():
        return ()
    from aliasgate import github_observer

    return (github_observer.observe_error,)


# -- text ---------------------------------------------------------------------------------------------


def _plan(run: PlanRun, style: Style) -> list[tuple[str, bool]]:
    out = [(render.plan_text(run.plan, style), False)]
    if run.saved:
        out.append((f"saved plan {run.plan.id} to {run.saved}", False))
    return out


def _apply(run: ApplyRun, style: Style) -> list[tuple[str, bool]]:
    head = [] if run.exact else [(render.plan_text(run.plan, style), False), ("", False)]
    return [*head, (render.apply_text(run.result, style), False), *_notified(run.notifications)]


def _notified(report: Any) -> list[tuple[str, bool]]:
    """One line per delivery: on stdout when taken, a warning (an error if required) on stderr when not."""
    if report is None:
        return []
    out = []
    for d in report.deliveries:
        level = "" if d.ok else ("error: " if d.required else "warning: ")
        out.append((level + d.line(), not d.ok))
    return out


def _notify(run: NotifyRun, style: Style) -> list[tuple[str, bool]]:
    lines = _notified(run.report)
    if not run.report.deliveries:
        lines.append((f"{run.policy}: no notify target", True))
    return lines


def _check(run: CheckRun, style: Style) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for e in run.entries:
        if e.policy is not None:
            out.append(
                (
                    f"ok: {e.file} ({len(e.policy.promotions)} promotion rule(s), {len(e.policy.retention)} retention rule(s))",
                    False,
                )
            )
        out += [(str(issue), True) for issue in e.issues]
    if run.issues:
        files = sum(1 for e in run.entries if e.issues)
        out.append((f"error: {len(run.issues)} problem(s) in {files} file(s)", True))
    return out


def _status(view: StatusView, style: Style) -> list[tuple[str, bool]]:
    return [
        (render.status_text(view.model, view.versions, view.aliases, view.metrics, utcnow(), style), False)
    ]


def _history(view: HistoryView, style: Style) -> list[tuple[str, bool]]:
    out = [(render.history_text(view.records, style), False)]
    if view.verify:
        v = view.verification
        out.append((render.verification_text(view.model, v, style), False))
        if not v.ok:
            out.append(
                (f"error: audit chain of {view.model} broken at record #{v.first_bad}: {v.problem}", True)
            )
    return out


def _report(view: ReportView, style: Style) -> list[tuple[str, bool]]:
    from aliasgate import report

    return [(report.markdown(view.report).rstrip(), False)]


def _rollback(run: RollbackRun, style: Style) -> list[tuple[str, bool]]:
    rb, ref = run.rollback, f"{run.model}:{run.alias}"
    if rb.current == rb.target:
        text = f"{ref} is already on v{rb.target}; nothing to do"
    elif run.dry_run:
        text = f"would move {ref} v{rb.current} -> v{rb.target} (dry run: nothing sent)"
    else:
        seq = (run.record or {}).get("seq")
        text = f"rolled back {ref} v{rb.current} -> v{rb.target} (audit #{seq})"
    return [(text, False), *_notified(run.notifications)]


def _cleanup(run: CleanupRun, style: Style) -> list[tuple[str, bool]]:
    out = [(render.cleanup_result_text(run.result, style), False)]
    if run.result.native_ttl is not None:
        out.append((render.native_ttl_result_text(run.result.native_ttl, style), False))
    return out + _notified(run.notifications)


def _whoami(view: WhoamiView, style: Style) -> list[tuple[str, bool]]:
    return [(f"{render.principal_line(view.principal)} on {view.registry}", False)]


def _models(view: ModelsView, style: Style) -> list[tuple[str, bool]]:
    rows = [[m, f"v{n}" if n else "-", ", ".join(f"{k}=v{v}" for k, v in a.items())] for m, n, a in view.rows]
    return [(render.table(["model", "latest", "aliases"], rows, style), False)]


def _approve(run: ApproveRun, style: Style) -> list[tuple[str, bool]]:
    verb = "revoked" if run.revoke else "approved"
    who = render.principal_line(run.principal)
    out = [
        (f"{verb} {r.get('model')}:{r.get('alias')} {_v(r.get('from'))} -> {_v(r.get('to'))} "
         f"(rule {r.get('rule')}, plan {run.plan_id}, audit #{r.get('seq')})", False)
        for r in run.records
    ]  # fmt: skip
    return [*out, (f"as {who}", False)]


def _v(n: Any) -> str:
    return "(none)" if n is None else f"v{n}"


def _approvals(view: ApprovalsView, style: Style) -> list[tuple[str, bool]]:
    if not view.rows:
        out = [(f"no approvals recorded for {view.model}", False)]
    else:
        rows = [
            [f"#{r['seq']}", r["kind"], str(r["at"]), str(r["principal"]),
             f"{r['alias']} {_v(r['from'])} -> {_v(r['to'])}", str(r["rule"]),
             str(r["policy_sha256"] or "")[:12], r["state"], r["comment"] or ""]
            for r in reversed(view.rows)
        ]  # fmt: skip
        headers = ["seq", "kind", "at", "principal", "move", "rule", "policy", "state", "comment"]
        out = [(render.table(headers, rows, style), False)]
    if not view.verified:
        out.append((f"warning: the audit chain of {view.model} is broken; only records before the "
                    "break are listed (run `promote history --verify`)", True))  # fmt: skip
    return out


TEXT: dict[type, Callable[[Any, Style], list[tuple[str, bool]]]] = {
    PlanRun: _plan,
    ApplyRun: _apply,
    ApproveRun: _approve,
    ApprovalsView: _approvals,
    CheckRun: _check,
    StatusView: _status,
    HistoryView: _history,
    ReportView: _report,
    RollbackRun: _rollback,
    CleanupRun: _cleanup,
    WhoamiView: _whoami,
    ModelsView: _models,
    NotifyRun: _notify,
}


class Reporter(Protocol):
    def show(self, result: Any) -> None: ...

    def cleanup_planned(self, plan: Any, ttl_plan: Any) -> None: ...

    def progress(self, total: int) -> Callable[[Any], None]: ...


class TextReporter:
    def show(self, result: Any) -> None:
        style = terminal_style()
        for text, err in TEXT[type(result)](result, style):
            write(text, err=err)

    def cleanup_planned(self, plan: Any, ttl_plan: Any) -> None:
        style = terminal_style()
        write(render.cleanup_plan_text(plan, style))
        if ttl_plan is not None:
            write("")
            write(render.native_ttl_plan_text(ttl_plan, style))
        write("")

    def progress(self, total: int) -> Callable[[Any], None]:
        return Progress(total)


class JsonReporter:
    """One JSON document on stdout: nothing else is ever written there."""

    def show(self, result: Any) -> None:
        write(to_json(result.as_dict()), fence=False)

    def cleanup_planned(self, plan: Any, ttl_plan: Any) -> None:
        return None

    def progress(self, total: int) -> Callable[[Any], None]:
        return Progress(total)


def to_json(data: Any) -> str:
    """JSON whose text can carry no workflow command: no line starts with ``::`` (strings are
    quoted, line breaks escaped), and ``##[`` only ever appears inside a string, where
    ``#\\u0023[`` decodes to the same value."""
    return render.to_json(data).replace("##[", "#\\u0023[")


REPORTERS: dict[str, Callable[[], Reporter]] = {"text": TextReporter, "json": JsonReporter}


@dataclass
class Face:
    """The reporter chosen once, plus the GitHub observer when running on GitHub."""

    reporter: Reporter
    github: bool = False
    progress_bars: list[Progress] = field(default_factory=list)

    @classmethod
    def choose(cls, fmt: str) -> Face:
        return cls(REPORTERS[fmt](), github=_on_github())

    def emit(self, result: Any) -> int:
        for bar in self.progress_bars:
            bar.finish()
        if self.github:
            from aliasgate import github_observer

            github_observer.observe(result)
        self.reporter.show(result)
        return int(result.exit_code)

    def cleanup_planned(self, plan: Any, ttl_plan: Any) -> None:
        self.reporter.cleanup_planned(plan, ttl_plan)

    def cleanup_progress(self, plan: Any, ttl_plan: Any) -> None:
        """The plan is out: print it and start the progress of its deletions."""
        self.cleanup_planned(plan, ttl_plan)
        self.progress_bars.append(Progress(len(plan.deletions)))

    def on_outcome(self, outcome: Any) -> None:
        if self.progress_bars:
            self.progress_bars[-1](outcome)


class Progress:
    """Progress on stderr: a bar redrawn in place on a terminal, one plain line per deletion when piped."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.counts: dict[str, int] = {}
        self.tty = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
        self.style = terminal_style(sys.stderr) if self.tty else Style()

    def __call__(self, outcome: Any) -> None:
        self.done += 1
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if self.tty:
            sys.stderr.write("\r" + render.cleanup_progress_bar(self.done, self.total, self.counts))
            sys.stderr.flush()
        else:
            write(render.cleanup_progress_line(outcome, self.style), err=True)

    def finish(self) -> None:
        if self.tty and self.done:
            sys.stderr.write("\n")
            sys.stderr.flush()
        self.done = 0
