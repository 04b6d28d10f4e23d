"""Durations as policies write them: ``90s``, ``30m``, ``12h``, ``14d``, ``2w``, or combined ``1d12h``."""

from __future__ import annotations

import re

from aliasgate.errors import InvalidInput

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PATTERN = r"^(\d+[smhdw])+$"
_RE = re.compile(PATTERN)
_PART = re.compile(r"(\d+)([smhdw])")
HINT = "use a number and a unit, like 30m, 12h, 14d or 2w (units: s, m, h, d, w)"


def parse_duration(text: str) -> int:
    """Seconds in ``text``; raises InvalidInput with a plain message otherwise."""
    text = text.strip()
    if not _RE.match(text):
        raise InvalidInput(f"bad duration {text!r}: {HINT}")
    seconds = sum(int(n) * UNITS[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise InvalidInput(f"bad duration {text!r}: it must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Compact human form: 3d4h, 12m, 45s."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
        if len(parts) == 2:
            break
    return "".join(parts) or "0s"
