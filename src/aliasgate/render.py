"""Human output: tables and plan reports, styled on a terminal and plain when piped.

Pure functions from values to text; the CLI decides where text goes and
whether it is a terminal. Everything passes through secret redaction on the
way out (in the CLI), so renderers never need to think about it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aliasgate.audit import Verification
from aliasgate.durations import format_duration
from aliasgate.model import Principal, Version
from aliasgate.published import edge_text


@dataclass(frozen=True)
class Style:
    """ANSI styling on a terminal; plain text when piped or NO_COLOR is set."""

    color: bool = False

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def bold(self, t: str) -> str:
        return self._c("1", t)

    def dim(self, t: str) -> str:
        return self._c("2", t)

    def good(self, t: str) -> str:
        return self._c("32", t)

    def bad(self, t: str) -> str:
        return self._c("31", t)

    def warn(self, t: str) -> str:
        return self._c("33", t)

    def mark(self, passed: bool) -> str:
        if self.color:
            return self.good("✓") if passed else self.bad("✗")
        return "PASS" if passed else "FAIL"


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], style: Style) -> str:
    """Aligned columns; no box drawing, so piped output stays greppable."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(style.bold(h.ljust(widths[i])) for i, h in enumerate(headers)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def principal_line(p: Principal) -> str:
    how = "authenticated" if p.authenticated else "unauthenticated"
    return f"{p.name} ({how}, {p.source})"


def _v(n: int | None) -> str:
    return "(none)" if n is None else f"v{n}"


def plan_text(plan: Any, style: Style) -> str:
    """terraform-plan-like report: per rule, candidate, holder, every gate with its value, the move."""
    out = [
        f"{style.bold('Plan')} {plan.id} on {plan.registry} as {principal_line(plan.principal)}",
    ]
    if plan.policy_path:
        out.append(f"policy {plan.policy_path} (sha256 {str(plan.policy_sha256)[:12]})")
    for r in plan.rules:
        out.append("")
        where = f" ({r.file}:{r.line})" if r.file and r.line else ""
        kind = "bundle " if len(r.models) > 1 else ""
        if r.publish is not None:
            out += _publish_lines(r, where, style)
        else:
            out.append(f"{style.bold('rule ' + r.rule)}{style.dim(where)}  {kind}{r.source} -> {r.to}")
        for m in r.models if r.publish is None else ():
            cand = r.candidates.get(m)
            out.append(
                f"  {m}: candidate {m}:{_v(cand)} ({r.source}), holder {m}:{_v(r.holders.get(m))} ({r.to})"
            )
        if r.gates:
            width = max(len(g.gate) for g in r.gates)
            for g in r.gates:
                out.append(f"    {style.mark(g.passed)} {g.gate.ljust(width)}  {g.detail}")
        out.append("  " + _verdict(r, style))
    counts = _counts(plan.rules)
    out.append("")
    out.append(
        f"Plan: {counts['move']} to move, {counts['blocked']} blocked, {counts['up-to-date']} up to date."
    )
    return "\n".join(out)


def _publish_lines(r: Any, where: str, style: Style) -> list[str]:
    """A publishing rule: its source candidate, and both steps (publish, then move)."""
    src, dest = r.models[0], r.publish["model"]
    reuses = r.publish.get("reuses")
    return [
        f"{style.bold('rule ' + r.rule)}{style.dim(where)}  publish {src}:{r.source} -> {dest}:{r.to}",
        f"  {src}: candidate {src}:{_v(r.candidates.get(src))} ({r.source})",
        f"  {dest}: holder {dest}:{_v(r.holders.get(dest))} ({r.to}); "
        + (f"already published as {dest}:v{reuses}" if reuses is not None else "not yet published"),
    ]


def _move_text(m: Any) -> str:
    if m.kind == "publish":
        into = (
            f"reuse {m.model}:v{m.target}"
            if m.target is not None
            else f"publish into {m.model} (new version)"
        )
        return f"{into}, then move {m.model}:{m.alias} {_v(m.expected)} -> the published version"
    if m.target is None:
        return f"remove {m.model}:{m.alias} from {_v(m.expected)}"
    return f"move {m.model}:{m.alias} {_v(m.expected)} -> {_v(m.target)}"


def _verdict(r: Any, style: Style) -> str:
    if r.status == "move" and any(m.kind == "publish" for m in r.moves):
        return style.good("=> " + "; ".join(_move_text(m) for m in r.moves))
    if r.status == "move":
        moves = "; ".join(
            f"remove {m.model}:{m.alias} from {_v(m.expected)}"
            if m.target is None
            else f"move {m.model}:{m.alias} {_v(m.expected)} -> {_v(m.target)}"
            for m in r.moves
        )
        return style.good("=> " + moves)
    if r.status == "blocked":
        return style.bad("=> blocked: " + r.reason)
    return style.dim("=> up to date: " + r.reason)


def _counts(rules: Sequence[Any]) -> dict[str, int]:
    counts = {"move": 0, "blocked": 0, "up-to-date": 0}
    for r in rules:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def apply_text(result: Any, style: Style) -> str:
    out = []
    for o in result.outcomes:
        if o.status == "applied":
            recs = ", ".join(f"{r['model']}#{r['seq']}" for r in o.records)
            moves = "; ".join(f"{m.model}:{m.alias} {_v(m.expected)} -> {_v(m.target)}" for m in o.moves)
            out.append(style.good(f"applied {o.rule}: {moves}") + style.dim(f" (audit {recs})"))
        elif o.status == "conflict":
            out.append(style.bad(f"conflict {o.rule}: {o.message}"))
        elif o.status == "failed":
            out.append(style.bad(f"failed {o.rule}: {o.message}"))
        elif o.status == "blocked":
            out.append(style.warn(f"blocked {o.rule}: {o.message}"))
        elif o.status == "interrupted":
            out.append(style.bad(f"interrupted {o.rule}: {o.message}"))
        elif o.status == "dry-run":
            out.append(f"would apply {o.rule} (dry run: nothing sent)")
        else:
            out.append(style.dim(f"{o.status} {o.rule}: {o.message}"))
        if o.undone:
            out.append(style.warn(f"  undone: {'; '.join(o.undone)}"))
    applied = sum(1 for o in result.outcomes if o.status == "applied")
    out.append(f"Apply: {applied} rule(s) applied, exit {int(result.exit_code)}.")
    return "\n".join(out)


def status_text(
    model: str,
    versions: Sequence[Version],
    aliases: Mapping[str, int],
    metrics: Sequence[str],
    now: datetime,
    style: Style,
) -> str:
    with_source = any(v.source for v in versions)  # e.g. MLflow's source run and logged model
    headers = ["version", "created", "age", "by", "aliases", *metrics, *(["source"] if with_source else [])]
    newest = versions[0].number if versions else None
    rows = []
    for v in versions:
        names = list(v.aliases) + (["latest"] if v.number == newest else [])
        rows.append(
            [
                f"v{v.number}",
                v.created_at.strftime("%Y-%m-%d %H:%M"),
                format_duration((now - v.created_at).total_seconds()),
                v.created_by or "",
                ",".join(names),
                *[_num(v.metrics.get(m)) for m in metrics],
                *([v.source or ""] if with_source else []),
            ]
        )
    head = f"{style.bold(model)}: {len(versions)} version(s); aliases: " + (
        ", ".join(f"{a}=v{n}" for a, n in sorted(aliases.items())) or "none"
    )
    return head + "\n" + table(headers, rows, style)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def history_text(records: Sequence[Mapping[str, Any]], style: Style) -> str:
    headers = ["#", "at (UTC)", "kind", "alias", "from", "to", "principal", "actor", "rule", "commit"]
    rows = []
    for r in records:
        git = r.get("git") or {}
        commit = (git.get("commit") or "")[:8] + ("+dirty" if git.get("dirty") else "") if git else ""
        rows.append(
            [
                r.get("seq"),
                str(r.get("at", ""))[:19].replace("T", " "),
                r.get("kind"),
                r.get("alias") or "",
                *_history_from_to(r),
                (r.get("principal") or {}).get("name", ""),
                r.get("actor") or "",
                r.get("rule") or "",
                commit or "-",
            ]
        )
    return table(headers, rows, style) if rows else "no audited moves"


def _history_from_to(r: Mapping[str, Any]) -> tuple[str, str]:
    if r.get("kind") == "delete":
        return f"v{r.get('version')}", "deleted"
    if r.get("kind") == "ttl":  # one record per cleanup run: the versions whose W&B TTL changed
        changed = [v for v in r.get("versions") or [] if v.get("status") == "applied"]
        shown = ",".join(f"v{v.get('version')}" for v in changed[:3]) + ("+" if len(changed) > 3 else "")
        return shown, f"TTL disabled ({len(changed)})"
    edge = edge_text(r)
    return edge if edge is not None else (_v(r.get("from")), _v(r.get("to")))


def verification_text(model: str, v: Verification, style: Style) -> str:
    if v.ok:
        return style.good(f"audit chain of {model} verified: {v.checked} record(s), intact")
    return style.bad(f"audit chain of {model} is BROKEN at record #{v.first_bad}: {v.problem}")


# -- cleanup ------------------------------------------------------------------------------------------


def cleanup_plan_text(plan: Any, style: Style) -> str:
    """Every version of every matched model: its verdict and every reason it stays or goes."""
    out = [f"{style.bold('Cleanup plan')} {plan.id} on {plan.registry} as {principal_line(plan.principal)}"]
    if plan.policy_path:
        out.append(f"policy {plan.policy_path} (sha256 {str(plan.policy_sha256)[:12]})")
    for note in plan.notes:
        out.append(style.warn(f"note: {note}"))
    by_model: dict[str, list[Any]] = {}
    for v in plan.verdicts:
        by_model.setdefault(v.model, []).append(v)
    for model, verdicts in by_model.items():
        gone = sum(1 for v in verdicts if v.action == "delete")
        out.append("")
        out.append(
            f"{style.bold(model)}: {len(verdicts)} version(s), {gone} to delete"
            f" (rules: {', '.join(verdicts[0].rules)})"
        )
        rows = []
        for v in verdicts:
            verdict = style.bad("delete") if v.action == "delete" else style.good("keep")
            rows.append(
                [
                    f"v{v.number}",
                    format_duration((plan.created_at - v.created_at).total_seconds()),
                    ",".join(v.aliases) or "-",
                    verdict,
                    "; ".join(v.reasons),
                ]
            )
        out.append(table(["version", "age", "aliases", "verdict", "why"], rows, style))
    n = len(plan.deletions)
    out.append("")
    out.append(f"Cleanup: {n} to delete, {len(plan.verdicts) - n} to keep, in {len(by_model)} model(s).")
    return "\n".join(out)


def cleanup_progress_line(outcome: Any, style: Style) -> str:
    """One line per finished deletion, for logs (piped output)."""
    if outcome.status == "deleted":
        seq = (outcome.record or {}).get("seq")
        return style.good(f"deleted {outcome}") + style.dim(f" (audit #{seq})")
    if outcome.status == "skipped":
        return style.warn(f"skipped {outcome}: {outcome.message}")
    if outcome.status == "failed":
        return style.bad(f"failed {outcome}: {outcome.message}")
    return style.dim(f"{outcome.status} {outcome}: {outcome.message}")


def cleanup_progress_bar(done: int, total: int, counts: Mapping[str, int], width: int = 30) -> str:
    """``[#######.......]  12/40  deleted 11, skipped 1`` (redrawn in place on a terminal)."""
    filled = width if total <= 0 else int(width * done / total)
    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}" + (f"  {shown}" if shown else "")


def cleanup_result_text(result: Any, style: Style) -> str:
    out = []
    planned = len(result.plan.deletions)
    if result.aborted:
        out.append(style.bad(f"aborted: {result.aborted}"))
    elif result.dry_run:
        out.append(f"Dry run: would delete {planned} version(s); nothing sent.")
    else:
        for o in result.outcomes:
            if o.status != "deleted":
                out.append(cleanup_progress_line(o, style))
        if result.stopped:
            out.append(style.bad(f"stopped: {result.stopped}"))
        counts = {s: result.count(s) for s in ("deleted", "skipped", "gone", "failed", "not-started")}
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "deleted")
        out.append(f"Cleanup: {shown} of {planned} planned; exit {result.exit_code}.")
    return "\n".join(out)


# -- native TTL (W&B) ------------------------------------------------------------------------------


def native_ttl_plan_text(ttl_plan: Any, style: Style) -> str:
    """The W&B TTL change of each kept version (only the ones that change are listed)."""
    from aliasgate import native_ttl

    writes = ttl_plan.writes
    out = [
        f"{style.bold('Native TTL')} (W&B): disable on {len(writes)} kept version(s), "
        f"{ttl_plan.count(native_ttl.UNCHANGED)} already disabled, {ttl_plan.count(native_ttl.SKIP)} left alone"
    ]
    for note in ttl_plan.notes:
        out.append(style.warn(f"note: {note}"))
    if writes:
        rows = [
            [str(c), c.before.describe() if c.before else "-", native_ttl.describe_target(c.target), c.why]
            for c in writes
        ]
        out.append(table(["version", "TTL now", "TTL after", "kept because"], rows, style))
    return "\n".join(out)


def native_ttl_result_text(result: Any, style: Style) -> str:
    """What W&B did with each TTL write, as re-read after writing."""
    from aliasgate import native_ttl as nt

    writes = len(result.plan.writes)
    if result.dry_run:
        return f"Dry run: would disable W&B's TTL on {writes} version(s); nothing sent."
    if result.not_run:
        return style.warn(f"native TTL: {result.not_run}")
    out = []
    for o in result.outcomes:
        if o.status == nt.FAILED:
            out.append(style.bad(f"TTL failed {o}: {o.message}"))
        elif o.status in (nt.GONE, nt.NOT_STARTED):
            out.append(style.dim(f"TTL {o.status} {o}: {o.message}"))
    warning = result.ignored_message
    if warning:
        out.append(style.bad(f"warning: {warning}"))
    for problem in result.record_errors:
        out.append(style.bad(f"error: {problem}"))
    counts = {s: result.count(s) for s in (nt.APPLIED, nt.IGNORED, nt.FAILED, nt.GONE, nt.NOT_STARTED)}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == nt.APPLIED)
    audits = ", ".join(f"{r.get('model')} #{r.get('seq')}" for r in result.records)
    out.append(
        f"Native TTL: {shown} of {len(result.outcomes)} write(s)"
        + (f"; audited as {audits}" if audits else "")
        + f"; exit {result.exit_code}."
    )
    return "\n".join(out)
