"""Secrets: remembered when read, scrubbed from everything aliasgate writes.

Backends call :func:`register` for every token or password they read. Output,
error messages and audit records pass through :func:`redact`; on GitHub the
CLI also emits ``::add-mask::`` for each registered value so the runner hides
it from logs written by anything else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

MASK = "***"
_MIN_LEN = 4
_values: set[str] = set()
_listeners: list[Callable[[str], None]] = []

# Environment variable names whose values are secrets wherever they appear.
SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL|AUTH(?!OR))", re.IGNORECASE
)
# Shapes of well-known tokens, scrubbed even if never registered.
TOKEN_SHAPES = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|"
    r"(?:sk|pk|rk)-[A-Za-z0-9_-]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|"
    r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
)
# user:password@ in URLs
URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/@\s]+@")


def register(value: str | None) -> None:
    """Remember a secret so it is masked everywhere from now on."""
    if not value or len(value) < _MIN_LEN or value in _values:
        return
    _values.add(value)
    for listener in _listeners:
        listener(value)


def on_register(listener: Callable[[str], None]) -> None:
    """Call ``listener`` for every secret registered, past and future (GitHub masking)."""
    _listeners.append(listener)
    for value in sorted(_values):
        listener(value)


def registered() -> frozenset[str]:
    return frozenset(_values)


def register_environment(names: Iterable[str] | None = None) -> None:
    """Register the values of secret-looking environment variables (or of ``names``)."""
    for name, value in os.environ.items():
        if (names is not None and name in names) or (names is None and SECRET_NAME.search(name)):
            register(value)


def redact(text: str) -> str:
    """Replace every registered secret, token-shaped string and URL credential with ***."""
    if not text:
        return text
    for value in sorted(_values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    text = TOKEN_SHAPES.sub(MASK, text)
    return URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def strip_userinfo(url: str) -> str:
    """A URL without user:password@ (git remotes, registry URLs)."""
    return URL_USERINFO.sub(lambda m: m.group("scheme"), url)


def reset_for_tests() -> None:
    _values.clear()
    _listeners.clear()
