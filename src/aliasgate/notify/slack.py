"""Slack incoming-webhook messages: a line a person reads, and the facts under it.

Every registry-controlled string is escaped (``&``, ``<``, ``>``) so a model name cannot
mention ``@channel``, link elsewhere or break the message; Slack's documented format is
``{"text": ..., "blocks": [...]}`` with ``text`` the fallback shown in notifications.
"""

from __future__ import annotations

from typing import Any

from aliasgate.notify import Event

_HEAD = {
    "moved": ":rocket: {ref} moved {frm} → {to}",
    "blocked": ":no_entry: {ref}: rule {rule} blocked ({reason})",
    "rolled_back": ":rewind: {ref} rolled back {frm} → {to}",
    "cleanup": ":wastebasket: {model}: cleanup deleted {count}",
    "test": ":white_check_mark: aliasgate notification test",
}


def escape(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _version(n: Any) -> str:
    return "nothing" if n is None else f"v{n}"


def headline(event: Event) -> str:
    d = event.data
    ref = f"{d.get('model') or ', '.join(d.get('models') or [])}:{d.get('alias')}"
    deleted = d.get("deleted") or []
    return _HEAD.get(event.type, "{type}").format(
        ref=escape(ref),
        frm=_version(d.get("from")),
        to=_version(d.get("to")),
        rule=escape(d.get("rule")),
        reason=escape(d.get("reason") or "gates failed"),
        model=escape(d.get("model")),
        count=", ".join(f"v{x.get('version')}" for x in deleted) or "nothing",
        type=escape(event.type),
    )


def _facts(event: Event) -> list[str]:
    d = event.data
    facts = []
    principal = (d.get("principal") or {}).get("name") if isinstance(d.get("principal"), dict) else None
    if principal:
        facts.append(f"by {escape(principal)}")
    if d.get("rule") and event.type != "blocked":
        facts.append(f"rule {escape(d['rule'])}")
    if d.get("git_commit"):
        facts.append(f"commit `{escape(str(d['git_commit'])[:12])}`")
    if d.get("policy_sha256"):
        facts.append(f"policy `{escape(str(d['policy_sha256'])[:12])}`")
    run = d.get("ci_run_url")
    if isinstance(run, str) and run.startswith("https://"):
        facts.append(f"<{escape(run)}|CI run>")
    audit = d.get("audit") or {}
    if audit.get("seq") is not None:
        facts.append(f"audit #{audit['seq']}")
    return facts


def _gate_lines(event: Event) -> list[str]:
    failed = [g for g in event.data.get("gates") or [] if isinstance(g, dict) and not g.get("passed")]
    return [f"• {escape(g.get('gate'))}: {escape(g.get('detail'))}" for g in failed[:10]]


def message(event: Event) -> dict[str, Any]:
    head = headline(event)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    gates = _gate_lines(event) if event.type == "blocked" else []
    if gates:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(gates)}})
    facts = _facts(event)
    if facts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]})
    return {"text": head, "blocks": blocks}
