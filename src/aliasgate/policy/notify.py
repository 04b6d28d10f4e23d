"""The policy's ``notify:`` targets, typed, with the checks a schema cannot make.

The schema already refuses a literal URL or secret (only environment variable names are
accepted); here a target named twice, or a webhook whose URL and secret are one variable,
is reported at its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aliasgate.policy.marks import PathT
from aliasgate.policy.model import NOTIFY_EVENTS, Loc, NotifyTarget


class _Builder(Protocol):
    def loc(self, path: PathT) -> Loc: ...

    def issue(self, path: PathT, message: str, *, key: bool = False) -> None: ...


def targets(builder: _Builder, raw: Any) -> tuple[NotifyTarget, ...]:
    """Every well-formed target of ``notify:`` (malformed ones are the schema's to report)."""
    out: list[NotifyTarget] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        path: PathT = ("notify", i)
        target = _target(builder, item, path)
        if target is None:
            continue
        if target.url_env in seen:
            builder.issue(
                (*path, "url_env" if target.kind == "webhook" else "slack_env"),
                f"${target.url_env} is already a target (notify[{seen[target.url_env]}]): "
                "each endpoint would hear of every event twice",
            )
            continue
        seen[target.url_env] = i
        out.append(target)
    return tuple(out)


def _target(builder: _Builder, item: Any, path: PathT) -> NotifyTarget | None:
    if not isinstance(item, Mapping):
        return None
    on = item.get("on", list(NOTIFY_EVENTS))
    if not isinstance(on, list) or not all(e in NOTIFY_EVENTS for e in on):
        return None
    required = item.get("required", False)
    if not isinstance(required, bool):
        return None
    events = tuple(e for e in NOTIFY_EVENTS if e in on)
    if isinstance(item.get("url_env"), str) and "slack_env" not in item:
        secret = item.get("secret_env")
        if not isinstance(secret, str):
            return None
        if secret == item["url_env"]:
            builder.issue(
                (*path, "secret_env"),
                "the signing secret and the URL must be two variables (the URL is sent; the secret never is)",
            )
            return None
        return NotifyTarget("webhook", item["url_env"], secret, events, required, builder.loc(path))
    if isinstance(item.get("slack_env"), str) and "url_env" not in item:
        return NotifyTarget("slack", item["slack_env"], None, events, required, builder.loc(path))
    return None
