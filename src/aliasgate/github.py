"""GitHub Actions integration: masks, annotations, step summary, step outputs.

Used by the CLI only when ``GITHUB_ACTIONS=true``; the formats follow GitHub's
"Workflow commands for GitHub Actions" and ``@actions/core``:

* workflow commands go to stdout as ``::name key=value,...::message``; the
  message escapes ``%``, CR and LF, property values also ``:`` and ``,``;
* ``::add-mask::`` for every secret aliasgate reads (each line of a multi-line
  secret too, since the runner matches masks line by line);
* text that comes from a registry (metadata, names) could start a line with
  ``::`` and so inject a command: :func:`neutralize` fences such text with
  ``::stop-commands::``;
* step outputs are appended to ``$GITHUB_OUTPUT`` in the ``name<<DELIMITER``
  form with a random delimiter (safe for any value, one line or many);
* the step summary is appended to ``$GITHUB_STEP_SUMMARY``, never truncated,
  and kept under GitHub's 1 MiB limit per step;
* GitHub shows at most 10 error and 10 warning annotations per step, so the
  rest are folded into one annotation pointing at the summary.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aliasgate import secrets
from aliasgate.report import md_cell, md_code

SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub accepts in one step's summary
ANNOTATION_LIMIT = 10  # annotations of one level GitHub shows per step
_PROPS = {"file": "file", "line": "line", "end_line": "endLine", "col": "col", "end_column": "endColumn"}

_masking_on = False
_shown: dict[str, int] = {}
_held: dict[str, list[str]] = {}


def enabled(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def reset_for_tests() -> None:
    global _masking_on
    _masking_on = False
    _shown.clear()
    _held.clear()


# -- workflow commands ---------------------------------------------------------------------------------


def escape_data(text: str) -> str:
    """Escape a command's message, as ``@actions/core`` does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property value: the message escapes plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_command(name: str, message: str = "", **props: Any) -> str:
    """``::name k=v,...::message`` with everything escaped; None-valued properties are left out."""
    shown = ",".join(
        f"{_PROPS.get(k, k)}={escape_property(str(v))}" for k, v in props.items() if v is not None and v != ""
    )
    return f"::{name}{' ' + shown if shown else ''}::{escape_data(message)}"


def command(name: str, message: str = "", **props: Any) -> None:
    """Emit a workflow command on stdout; the message and properties are redacted first."""
    safe = {k: (secrets.redact(v) if isinstance(v, str) else v) for k, v in props.items()}
    _write(format_command(name, secrets.redact(message), **safe))


def _write(line: str) -> None:
    sys.stdout.flush()
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def workspace_path(file: str | os.PathLike[str] | None) -> str | None:
    """A path GitHub can attach an annotation to: relative to the checkout, with slashes."""
    if file is None or str(file) == "":
        return None
    p = Path(file)
    ws = os.environ.get("GITHUB_WORKSPACE")
    base = Path(ws) if ws else Path.cwd()
    try:
        return Path(os.path.abspath(p)).relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return p.as_posix()


def annotate(
    level: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    end_line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> None:
    """An ``error``, ``warning`` or ``notice`` annotation, at a file and line when known.

    Past GitHub's per-step limit the message is held back; :func:`flush_annotations`
    then emits one annotation saying how many more there are."""
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"unknown annotation level {level!r}")
    _shown[level] = _shown.get(level, 0) + 1
    if _shown[level] >= ANNOTATION_LIMIT:
        _held.setdefault(level, []).append(message)
        return
    command(
        level,
        message,
        title=title,
        file=workspace_path(file),
        line=line or None,
        end_line=end_line or None,
        col=col or None,
    )


def flush_annotations() -> None:
    for level, held in list(_held.items()):
        if not held:
            continue
        if len(held) == 1:
            command(level, held[0])
        else:
            command(level, f"{len(held)} more: {held[0]} (all are listed in the step summary)")
        held.clear()


# -- secrets and untrusted text ------------------------------------------------------------------------


def mask(value: str) -> None:
    """``::add-mask::`` a secret, and each line of a multi-line one."""
    if not value:
        return
    parts = [value]
    if "\n" in value or "\r" in value:
        parts += [p for p in value.replace("\r", "\n").split("\n") if len(p.strip()) >= 4]
    for part in parts:
        _write(f"::add-mask::{escape_data(part)}")


def mask_secrets() -> None:
    """Mask every secret aliasgate has read or will read, so the runner hides it in every log."""
    global _masking_on
    if _masking_on:
        return
    _masking_on = True
    secrets.on_register(mask)


def neutralize(text: str) -> str:
    """Fence text holding a line that starts with ``::`` so the runner reads no command in it."""
    if not any(line.lstrip().startswith("::") for line in text.splitlines()):
        return text
    token = f"aliasgate-{uuid.uuid4().hex}"
    return f"::stop-commands::{token}\n{text}\n::{token}::"


# -- outputs and summary --------------------------------------------------------------------------------


def set_outputs(values: Mapping[str, str], env: Mapping[str, str] | None = None) -> None:
    """Append step outputs to ``$GITHUB_OUTPUT`` (``name<<DELIM`` form, redacted)."""
    path = (env if env is not None else os.environ).get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8", newline="\n") as fh:
        for key, raw in values.items():
            if not key or any(c in key for c in "\r\n=<"):
                raise ValueError(f"invalid output name {key!r}")
            value = secrets.redact(raw)
            delim = f"ghadelimiter_{uuid.uuid4()}"
            while delim in value:  # pragma: no cover - a random uuid in the value
                delim = f"ghadelimiter_{uuid.uuid4()}"
            fh.write(f"{key}<<{delim}\n{value}\n{delim}\n")


def append_summary(markdown: str, env: Mapping[str, str] | None = None) -> None:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY``, redacted, within GitHub's 1 MiB limit."""
    path = (env if env is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    text = secrets.redact(markdown).rstrip() + "\n\n"
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    room = SUMMARY_LIMIT - used
    data = text.encode("utf-8")
    if len(data) > room:
        note = "\n\n_…summary cut at GitHub's 1 MiB limit; run the command locally for the rest._\n\n"
        keep = room - len(note.encode("utf-8"))
        if keep <= 0:
            return
        text = data[:keep].decode("utf-8", errors="ignore") + note
    with open(path, "a", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


# -- plans and applies ------------------------------------------------------------------------------------

_ICONS = {
    "applied": "✅",
    "move": "➡️",
    "dry-run": "➡️",
    "up-to-date": "⏸️",
    "blocked": "⛔",
    "conflict": "⚠️",
    "failed": "❌",
}


def _v(n: int | None) -> str:
    return "—" if n is None else f"v{n}"


def _where(file: str | None, line: int | None) -> str:
    if not file:
        return ""
    shown = workspace_path(file) or file
    return f"{shown}:{line}" if line else shown


def plan_markdown(plan: Any, result: Any | None, reports: Sequence[str] = ()) -> str:
    """Each rule: candidate, holder, every gate with its value and verdict, the move or why not."""
    outcome = {o.rule: o for o in result.outcomes} if result is not None else {}
    if result is None:
        title = "aliasgate plan"
    elif result.dry_run:
        title = "aliasgate apply (dry run: nothing sent)"
    else:
        title = "aliasgate apply"
    p = plan.principal
    who = f"{md_code(p.name)}" + ("" if p.authenticated else " (unauthenticated)")
    lines = [f"## {title}", ""]
    lines.append(f"Registry {md_code(plan.registry)} · principal {who} · plan {md_code(plan.id)}")
    if plan.policy_path:
        sha = (plan.policy_sha256 or "")[:12]
        lines.append(f"Policy {md_code(workspace_path(plan.policy_path))} (sha256 {md_code(sha)})")
    lines.append("")
    counts: dict[str, int] = {}
    for r in plan.rules:
        o = outcome.get(r.rule)
        status = o.status if o is not None else r.status
        counts[status] = counts.get(status, 0) + 1
    lines.append(" · ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no rules")
    lines.append("")
    for r in plan.rules:
        o = outcome.get(r.rule)
        status = o.status if o is not None else r.status
        where = _where(r.file, r.line)
        kind = "bundle " if len(r.models) > 1 else ""
        lines.append(f"### {_ICONS.get(status, '❔')} `{md_cell(r.rule)}` — {status}")
        lines.append("")
        lines.append(
            f"{kind}{md_code(r.source)} → {md_code(r.to)}"
            + (f" · defined at {md_code(where)}" if where else "")
        )
        lines.append("")
        lines.append("| model | candidate | holder | move |")
        lines.append("|---|---|---|---|")
        for m in r.models:
            move = next((mv for mv in r.moves if mv.model == m and mv.kind == "promote"), None)
            shown = f"{_v(move.expected)} → {_v(move.target)}" if move else "—"
            lines.append(
                f"| {md_code(m)} | {_v(r.candidates.get(m))} ({md_cell(r.source)}) "
                f"| {_v(r.holders.get(m))} ({md_cell(r.to)}) | {shown} |"
            )
        if r.gates:
            lines += ["", "| gate | verdict | observed | line |", "|---|---|---|---|"]
            for g in r.gates:
                verdict = "✅ pass" if g.passed else "❌ fail"
                lines.append(
                    f"| {md_cell(g.gate)} | {verdict} | {md_cell(g.detail)} | {g.line or r.line or ''} |"
                )
        lines.append("")
        if o is not None and o.message and status != "applied":
            lines.append(f"> {md_cell(o.message)}")
        elif o is not None and status == "applied":
            audit = ", ".join(f"{rec['model']}#{rec['seq']}" for rec in o.records)
            lines.append(f"> applied{f' (audit {audit})' if audit else ''}")
        else:
            lines.append(f"> {md_cell(r.reason)}")
        if o is not None and o.undone:
            lines.append(f"> undone: {md_cell('; '.join(o.undone))}")
        lines.append("")
    for text in reports:
        lines += ["<hr>", "", text.rstrip(), ""]
    return "\n".join(lines)


def _first_metric(rule: Any, model: str) -> str | None:
    """The metric of the rule's first metric gate about ``model`` (the one worth charting)."""
    known = rule.metrics.get(model) or {}
    for g in rule.gates:
        if g.kind != "metric" or (g.model not in (None, model)):
            continue
        label = g.gate.split(": ", 1)[1] if g.model and g.gate.startswith(f"{g.model}: ") else g.gate
        name = label.split(" ", 1)[0]
        if name in known:
            return str(name)
    return None


def model_reports(plan: Any, registry: Any, *, moved: Iterable[str] = ()) -> list[str]:
    """The Markdown report of every model the plan looks at, marking holder and candidate."""
    from aliasgate import report

    done_models = set(moved)
    out: list[str] = []
    seen: set[str] = set()
    for r in plan.rules:
        for m in r.models:
            if m in seen:
                continue
            seen.add(m)
            try:
                rep = report.build(
                    registry,
                    m,
                    metric=_first_metric(r, m),
                    alias=r.to,
                    candidate=r.candidates.get(m),
                    holder=r.holders.get(m),
                    moved=m in done_models,
                )
                out.append(report.markdown(rep, heading=3))
            except Exception as exc:  # the summary is a courtesy: never fail a promotion over it
                out.append(f"### {md_cell(m)}\n\n_Report unavailable: {md_cell(secrets.redact(str(exc)))}_\n")
    return out


def report_plan(plan: Any, result: Any | None, *, registry: Any = None, saved: str | None = None) -> None:
    """Summary (with each model's report when ``registry`` is given), annotations, step outputs."""
    applied = [o for o in (result.outcomes if result is not None else []) if o.status == "applied"]
    moved = {mv.model for o in applied for mv in o.moves}
    reports = model_reports(plan, registry, moved=moved) if registry is not None else []
    append_summary(plan_markdown(plan, result, reports))
    final = result is not None and not result.dry_run
    outcome = {o.rule: o for o in result.outcomes} if result is not None else {}
    for r in plan.rules:
        o = outcome.get(r.rule)
        status = o.status if o is not None else r.status
        if r.status == "blocked":
            failed = [g for g in r.gates if not g.passed]
            if not failed:
                annotate(
                    "error" if final else "warning",
                    f"{r.rule}: {r.reason}",
                    file=r.file,
                    line=r.line,
                    title=f"aliasgate: {r.rule} blocked",
                )
            for g in failed:
                annotate(
                    "error" if final else "warning",
                    f"{r.rule}: {g.gate}: {g.detail}",
                    file=r.file,
                    line=g.line or r.line,
                    title=f"aliasgate: {r.rule} blocked",
                )
        elif status in ("conflict", "failed") and o is not None:
            annotate(
                "error",
                f"{r.rule}: {o.message}",
                file=r.file,
                line=r.line,
                title=f"aliasgate: {r.rule} {status}",
            )
        elif status == "applied" and o is not None:
            done = "; ".join(f"{mv.model}:{mv.alias} {_v(mv.expected)} -> {_v(mv.target)}" for mv in o.moves)
            annotate(
                "notice", f"{r.rule}: {done}", file=r.file, line=r.line, title=f"aliasgate: {r.rule} applied"
            )
    flush_annotations()
    if final:
        assert result is not None
        moves = [mv.as_dict() for o in applied for mv in o.moves]
        exit_code = int(result.exit_code)
    else:
        moves = [mv.as_dict() for mv in plan.moves]
        exit_code = int(result.exit_code) if result is not None else (3 if plan.blocked else 0)
    outputs = {
        "changed": "true" if final and applied else "false",
        "moves": json.dumps(moves),
        "exit-code": str(exit_code),
    }
    if saved:
        outputs["plan"] = str(saved)
    set_outputs(outputs)


# -- rollback, check, cleanup ---------------------------------------------------------------------------


def report_rollback(
    model: str,
    alias: str,
    current: int | None,
    target: int | None,
    *,
    dry_run: bool,
    record: Mapping[str, Any] | None,
    registry: Any = None,
) -> None:
    """Summary, a notice and outputs for ``promote rollback``."""
    changed = record is not None
    if current == target:
        what = f"{md_code(f'{model}:{alias}')} is already on {_v(target)}; nothing to do"
    elif dry_run:
        what = (
            f"would move {md_code(f'{model}:{alias}')} {_v(current)} → {_v(target)} (dry run: nothing sent)"
        )
    else:
        seq = f" (audit #{record['seq']})" if record else ""
        what = f"rolled back {md_code(f'{model}:{alias}')} {_v(current)} → {_v(target)}{seq}"
    parts = [f"## aliasgate rollback{' (dry run)' if dry_run else ''}", "", what, ""]
    if registry is not None:
        from aliasgate import report

        try:
            rep = report.build(registry, model, alias=alias, candidate=target, holder=current, moved=changed)
            parts += ["<hr>", "", report.markdown(rep, heading=3)]
        except Exception as exc:  # a courtesy, as in report_plan
            parts.append(f"_Report unavailable: {md_cell(secrets.redact(str(exc)))}_")
    append_summary("\n".join(parts))
    if changed:
        command(
            "notice",
            f"rolled back {model}:{alias} {_v(current)} -> {_v(target)}",
            title="aliasgate: rollback",
        )
    move = {"model": model, "alias": alias, "expected": current, "target": target, "kind": "rollback"}
    set_outputs(
        {
            "changed": "true" if changed else "false",
            "moves": json.dumps([move] if current != target else []),
            "exit-code": "0",
        }
    )


def policy_errors(issues: Iterable[Any]) -> None:
    """An error annotation at the file, line and column of each policy problem."""
    for issue in issues:
        annotate(
            "error",
            f"{issue.path}: {issue.message}",
            file=issue.file,
            line=issue.line or None,
            col=issue.column or None,
            title="aliasgate: invalid policy",
        )
    flush_annotations()


def report_check(results: Sequence[tuple[str, Any, Sequence[Any]]]) -> None:
    """Summary and outputs for ``promote check``; annotations come from :func:`policy_errors`."""
    lines = ["## aliasgate check", "", "| policy | result |", "|---|---|"]
    bad = 0
    for file, policy, issues in results:
        if issues:
            bad += len(issues)
            lines.append(f"| {md_code(workspace_path(file))} | ❌ {len(issues)} problem(s) |")
        else:
            n, k = len(policy.promotions), len(policy.retention)
            lines.append(
                f"| {md_code(workspace_path(file))} | ✅ {n} promotion rule(s), {k} retention rule(s) |"
            )
    problems = [i for _, _, issues in results for i in issues]
    if problems:
        lines += ["", "| where | path | problem |", "|---|---|---|"]
        for i in problems:
            lines.append(
                f"| {md_code(f'{workspace_path(i.file)}:{i.line}:{i.column}')} | {md_code(i.path)} | {md_cell(i.message)} |"
            )
    append_summary("\n".join(lines))
    set_outputs({"changed": "false", "moves": "[]", "exit-code": "2" if bad else "0"})


@dataclass(frozen=True)
class CleanupLine:
    """One version's fate in a cleanup, for the summary.

    ``verdict``: ``keep``; ``delete`` (a dry run: it would go); or what happened to a
    deletion: ``deleted``, ``skipped`` (gained an alias since planning), ``gone``
    (deleted by someone else), ``failed``, ``not-started``/``not-deleted`` (stopped or
    aborted by the deletion cap). ``reason`` says why."""

    model: str
    version: int
    verdict: str
    reason: str


def report_cleanup(
    lines: Sequence[CleanupLine],
    *,
    dry_run: bool,
    exit_code: int,
    file: str | None = None,
    line: int | None = None,
    native_ttl: Any = None,
) -> None:
    """Summary, annotations and outputs for ``promote cleanup`` (called by the retention command).

    Outputs: ``changed`` (anything deleted), ``moves`` (the deletions, or with
    ``dry_run`` the would-be deletions, as ``{model, version, kind: "delete"}``).
    With ``native_ttl`` (a ``native_ttl.TtlResult``, ``--native-ttl`` on W&B) also a
    section on W&B's TTL, an error for each write W&B ignored or refused, and the
    outputs ``ttl-disabled`` and ``ttl-failed``."""
    gone = [c for c in lines if c.verdict == "deleted" or (dry_run and c.verdict == "delete")]
    counts: dict[str, int] = {}
    for c in lines:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    out = [f"## aliasgate cleanup{' (dry run: nothing deleted)' if dry_run else ''}", ""]
    out.append(" · ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "nothing to clean")
    out.append("")
    if lines:
        out += ["| model | version | verdict | why |", "|---|---|---|---|"]
        for c in sorted(lines, key=lambda c: (c.model, -c.version)):
            out.append(f"| {md_code(c.model)} | v{c.version} | {md_cell(c.verdict)} | {md_cell(c.reason)} |")
    if native_ttl is not None:
        out += ["", native_ttl_markdown(native_ttl)]
    append_summary("\n".join(out))
    if exit_code == 3:
        annotate("error", "cleanup aborted before deleting anything: the deletion cap", file=file, line=line)
    for c in lines:
        if c.verdict == "failed":
            annotate(
                "error",
                f"{c.model}:v{c.version}: {c.reason}",
                file=file,
                line=line,
                title="aliasgate: cleanup",
            )
        elif c.verdict == "skipped":
            annotate(
                "warning",
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
    flush_annotations()
    set_outputs(outputs)


_TTL_ICONS = {"applied": "✅", "ignored": "⛔", "failed": "❌", "gone": "➖", "not-started": "⏸️"}


def native_ttl_markdown(result: Any) -> str:
    """The ``--native-ttl`` part of the cleanup summary: the plan's counts, what W&B did with
    each write as re-read (every status with its count), and each write that did not apply."""
    from aliasgate import native_ttl as nt

    plan = result.plan
    out = ["### W&B native TTL", ""]
    out.append(
        f"Plan: disable on {len(plan.writes)} kept version(s) · {plan.count(nt.UNCHANGED)} already "
        f"disabled (unchanged) · {plan.count(nt.SKIP)} skipped (W&B accepts no TTL on them)"
    )
    out.append("")
    for note in plan.notes:
        out.append(f"> note: {md_cell(note)}")
        out.append("")
    if result.dry_run:
        out.append(f"Dry run: would disable W&B's TTL on {len(plan.writes)} version(s); nothing sent.")
        return "\n".join(out)
    if result.not_run:
        out.append(f"> ⚠️ {md_cell(result.not_run)}")
        return "\n".join(out)
    statuses = (nt.APPLIED, nt.IGNORED, nt.FAILED, nt.GONE, nt.NOT_STARTED)
    out += ["| status | versions |", "|---|---|"]
    out += [
        f"| {_TTL_ICONS[s]} {s} | {result.count(s)} |" for s in statuses if result.count(s) or s == nt.APPLIED
    ]
    out.append(f"| unchanged (already disabled) | {plan.count(nt.UNCHANGED)} |")
    out.append(f"| skipped (no TTL allowed) | {plan.count(nt.SKIP)} |")
    out.append("")
    warning = result.ignored_message
    if warning:
        out += [f"> ⛔ {md_cell(warning)}", ""]
    for problem in result.record_errors:
        out += [f"> ❌ {md_cell(problem)}", ""]
    rank = {s: i for i, s in enumerate((nt.FAILED, nt.IGNORED, nt.GONE, nt.NOT_STARTED))}
    off = sorted(
        (o for o in result.outcomes if o.status != nt.APPLIED),
        key=lambda o: (rank.get(o.status, len(rank)), o.model, -o.number),
    )
    if off:
        out += ["| model | version | status | TTL before | TTL now | message |", "|---|---|---|---|---|---|"]
        for o in off:
            before = o.before.describe() if o.before is not None else "—"
            after = o.after.describe() if o.after is not None else "—"
            out.append(
                f"| {md_code(o.model)} | v{o.number} | {_TTL_ICONS.get(o.status, '')} {o.status} "
                f"| {md_cell(before)} | {md_cell(after)} | {md_cell(o.message)} |"
            )
        out.append("")
    audits = ", ".join(f"{md_code(r.get('model'))} #{r.get('seq')}" for r in result.records)
    if audits:
        out.append(f"Audited as {audits} (kind `ttl`).")
    return "\n".join(out)


def annotate_native_ttl(result: Any, *, file: str | None = None, line: int | None = None) -> dict[str, str]:
    """Errors for the writes W&B ignored (one, naming the fix) or refused (one per version) and
    for changes left unaudited; returns the step outputs ``ttl-disabled`` and ``ttl-failed``
    (ignored + refused)."""
    from aliasgate import native_ttl as nt

    title = "aliasgate: native TTL"
    warning = result.ignored_message
    if warning:
        annotate("error", warning, file=file, line=line, title=title)
    for o in result.of(nt.FAILED):
        why = o.message.removeprefix(f"{o}: ")  # a registry error names the version itself
        annotate("error", f"{o}: TTL not disabled: {why}", file=file, line=line, title=title)
    for problem in result.record_errors:
        annotate("error", problem, file=file, line=line, title=title)
    if result.not_run and not result.dry_run:
        annotate("warning", f"native TTL: {result.not_run}", file=file, line=line, title=title)
    return {
        "ttl-disabled": str(result.count(nt.APPLIED)),
        "ttl-failed": str(result.count(nt.IGNORED) + result.count(nt.FAILED)),
    }


def cleanup_lines(plan: Any, result: Any) -> list[CleanupLine]:
    """A retention plan and its result (``aliasgate.retention``) as :class:`CleanupLine` rows."""
    outcomes = {(o.model, o.number): o for o in (result.outcomes if result is not None else [])}
    lines = []
    for v in plan.verdicts:
        o = outcomes.get((v.model, v.number))
        if o is not None:
            lines.append(CleanupLine(v.model, v.number, o.status, o.message or "; ".join(v.reasons)))
        elif v.action == "delete" and result is not None and not result.dry_run:
            why = result.aborted or result.stopped or "not attempted"
            lines.append(CleanupLine(v.model, v.number, "not-deleted", why))
        else:
            lines.append(CleanupLine(v.model, v.number, v.action, "; ".join(v.reasons)))
    return lines
