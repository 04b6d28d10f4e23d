"""GitHub Actions integration: masks, annotations, step summary, step outputs.

Used by the CLI only when ``GITHUB_ACTIONS=true``. Workflow commands go to
stdout (the runner reads them there); files named by ``GITHUB_STEP_SUMMARY``
and ``GITHUB_OUTPUT`` are appended to, never truncated.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from aliasgate import secrets

_masking_on = False


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **props: Any) -> None:
    """Emit a workflow command (``::error file=...,line=...::message``) on stdout."""
    shown = ",".join(f"{k}={_escape_prop(str(v))}" for k, v in props.items() if v is not None)
    line = f"::{name}{' ' + shown if shown else ''}::{_escape_data(secrets.redact(message))}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def mask_secrets() -> None:
    """``::add-mask::`` every secret aliasgate has read or will read, so the runner hides it."""
    global _masking_on
    if _masking_on:
        return
    _masking_on = True

    def mask(value: str) -> None:
        sys.stdout.write(f"::add-mask::{_escape_data(value)}\n")
        sys.stdout.flush()

    secrets.on_register(mask)


def policy_errors(issues: Iterable[Any]) -> None:
    for issue in issues:
        command(
            "error",
            f"{issue.path}: {issue.message}",
            file=issue.file,
            line=issue.line or None,
            col=issue.column or None,
            title="aliasgate: invalid policy",
        )


def set_outputs(values: Mapping[str, str]) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for key, value in values.items():
            if "\n" in value:
                delim = f"ghadelim_{uuid.uuid4().hex}"
                fh.write(f"{key}<<{delim}\n{value}\n{delim}\n")
            else:
                fh.write(f"{key}={value}\n")


def append_summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(secrets.redact(markdown).rstrip() + "\n\n")


def _v(n: int | None) -> str:
    return "—" if n is None else f"v{n}"


def plan_markdown(plan: Any, result: Any | None) -> str:
    """Each rule: candidate, holder, every gate with value and verdict, the move or why not."""
    outcome = {o.rule: o for o in result.outcomes} if result is not None else {}
    title = "aliasgate apply" if result is not None and not result.dry_run else "aliasgate plan"
    lines = [
        f"## {title}",
        "",
        f"Registry `{plan.registry}` · principal `{plan.principal.name}` · plan `{plan.id}`",
        "",
    ]
    for r in plan.rules:
        o = outcome.get(r.rule)
        status = o.status if o is not None else r.status
        icon = {"applied": "✅", "move": "➡️", "dry-run": "➡️", "up-to-date": "⏸️", "blocked": "⛔"}.get(
            status, "❌"
        )
        lines.append(f"### {icon} `{r.rule}` — {status}")
        lines.append("")
        lines.append("| model | candidate | holder |")
        lines.append("|---|---|---|")
        for m in r.models:
            lines.append(
                f"| `{m}` | {m}:{_v(r.candidates.get(m))} ({r.source}) | {m}:{_v(r.holders.get(m))} ({r.to}) |"
            )
        if r.gates:
            lines += ["", "| gate | verdict | observed |", "|---|---|---|"]
            for g in r.gates:
                verdict = "✅ pass" if g.passed else "❌ fail"
                lines.append(f"| {_cell(g.gate)} | {verdict} | {_cell(g.detail)} |")
        lines.append("")
        if o is not None and o.message and status not in ("applied",):
            lines.append(f"> {_cell(o.message)}")
        else:
            lines.append(f"> {_cell(r.reason)}")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_plan(plan: Any, result: Any | None) -> None:
    """Summary, annotations for blocked gates at their policy line, and step outputs."""
    append_summary(plan_markdown(plan, result))
    for r in plan.rules:
        if r.status != "blocked":
            continue
        failed = [g for g in r.gates if not g.passed] or [None]
        for g in failed:
            command(
                "error" if result is not None and not result.dry_run else "warning",
                f"{r.rule}: {g.gate}: {g.detail}" if g else f"{r.rule}: {r.reason}",
                file=r.file,
                line=(g.line if g and g.line else r.line),
                title=f"aliasgate: {r.rule} blocked",
            )
    moves = [m.as_dict() for m in plan.moves]
    changed = bool(result is not None and result.changed)
    outputs = {
        "changed": "true" if changed else "false",
        "moves": json.dumps(
            [
                m.as_dict()
                for o in (result.outcomes if result else [])
                if o.status == "applied"
                for m in o.moves
            ]
            if result is not None and not result.dry_run
            else moves
        ),
        "exit-code": str(int(result.exit_code) if result is not None else (3 if plan.blocked else 0)),
    }
    set_outputs(outputs)
