"""The GitHub step summary's Markdown for each command: pure functions from results to text.

Every registry-controlled string passes through :mod:`aliasgate.markdown` (code spans,
table cells, Mermaid labels) before it lands here; the GitHub observer
(:mod:`aliasgate.github_observer`) appends the text to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aliasgate.github import workspace_path
from aliasgate.markdown import md_cell, md_code
from aliasgate.model_reports import ModelReport
from aliasgate.report import Report

# -- plans and applies ----------------------------------------------------------------------------------

_ICONS = {
    "applied": "✅",
    "move": "➡️",
    "dry-run": "➡️",
    "up-to-date": "⏸️",
    "blocked": "⛔",
    "conflict": "⚠️",
    "failed": "❌",
}


def version_label(n: int | None) -> str:
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
        lines.append(f"### {_ICONS.get(status, '❔')} {md_code(r.rule)} — {status}")
        lines.append("")
        into = f"{md_code(r.publish['model'])}:" if r.publish else ""  # publishing into another model
        lines.append(
            f"{kind}{md_code(r.source)} → {into}{md_code(r.to)}"
            + (f" · defined at {md_code(where)}" if where else "")
        )
        lines.append("")
        lines.append("| model | candidate | holder | move |")
        lines.append("|---|---|---|---|")
        for m in r.models:
            move = next((mv for mv in r.moves if mv.model == m and mv.kind == "promote"), None)
            shown = f"{version_label(move.expected)} → {version_label(move.target)}" if move else "—"
            lines.append(
                f"| {md_code(m)} | {version_label(r.candidates.get(m))} ({md_cell(r.source)}) "
                f"| {version_label(r.holders.get(m))} ({md_cell(r.to)}) | {shown} |"
            )
        if r.publish:  # the destination's holder, and the published version once applied
            made = next((mv for mv in (o.moves if o is not None else r.moves) if mv.kind == "publish"), None)
            held = r.holders.get(r.publish["model"])
            shown = f"{version_label(held)} → {version_label(made.target) if made else '—'}"
            lines.append(
                f"| {md_code(r.publish['model'])} | published | {version_label(held)} ({md_cell(r.to)}) | {shown} |"
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


def model_markdown(items: Sequence[ModelReport]) -> list[str]:
    """Each model report as Markdown under a plan, an apply or a rollback."""
    from aliasgate import report

    return [
        report.markdown(r, heading=3)
        if isinstance(r, Report)
        else f"### {md_cell(r.model)}\n\n_Report unavailable: {md_cell(r.reason)}_\n"
        for r in items
    ]


# -- rollback, check, cleanup ---------------------------------------------------------------------------


def rollback_markdown(
    model: str, alias: str, current: int | None, target: int | None, *, dry_run: bool, record: Any
) -> str:
    ref = md_code(f"{model}:{alias}")
    if current == target:
        what = f"{ref} is already on {version_label(target)}; nothing to do"
    elif dry_run:
        what = f"would move {ref} {version_label(current)} → {version_label(target)} (dry run: nothing sent)"
    else:
        seq = f" (audit #{md_cell(record['seq'])})" if record else ""
        what = f"rolled back {ref} {version_label(current)} → {version_label(target)}{seq}"
    return "\n".join([f"## aliasgate rollback{' (dry run)' if dry_run else ''}", "", what, ""])


def check_markdown(entries: Sequence[Any]) -> str:
    lines = ["## aliasgate check", "", "| policy | result |", "|---|---|"]
    for e in entries:
        if e.issues:
            lines.append(f"| {md_code(workspace_path(e.file))} | ❌ {len(e.issues)} problem(s) |")
        else:
            n, k = len(e.policy.promotions), len(e.policy.retention)
            lines.append(
                f"| {md_code(workspace_path(e.file))} | ✅ {n} promotion rule(s), {k} retention rule(s) |"
            )
    problems = [i for e in entries for i in e.issues]
    if problems:
        lines += ["", "| where | path | problem |", "|---|---|---|"]
        for i in problems:
            where = md_code(f"{workspace_path(i.file)}:{i.line}:{i.column}")
            lines.append(f"| {where} | {md_code(i.path)} | {md_cell(i.message)} |")
    return "\n".join(lines)


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


def cleanup_markdown(lines: Sequence[CleanupLine], *, dry_run: bool, native_ttl: Any = None) -> str:
    counts: dict[str, int] = {}
    for c in lines:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    out = [f"## aliasgate cleanup{' (dry run: nothing deleted)' if dry_run else ''}", ""]
    out.append(" · ".join(f"{n} {md_cell(v)}" for v, n in sorted(counts.items())) or "nothing to clean")
    out.append("")
    if lines:
        out += ["| model | version | verdict | why |", "|---|---|---|---|"]
        for c in sorted(lines, key=lambda c: (c.model, -c.version)):
            out.append(f"| {md_code(c.model)} | v{c.version} | {md_cell(c.verdict)} | {md_cell(c.reason)} |")
    if native_ttl is not None:
        out += ["", native_ttl_markdown(native_ttl)]
    return "\n".join(out)


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
