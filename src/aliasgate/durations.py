"""Durations as policies write them: ``90s``, ``30m`` or ``30min``, ``12h``, ``14d``, ``2w``, or
combined ``1d12h``.

``m`` is minutes, as it always was; ``min`` says the same unmistakably, and it is what
:func:`format_duration` writes, so an age of two days and eight minutes reads ``2d8min``, never
"2d8m" (eight months?). There is no month or year unit (their length varies): ``6mo``, ``1M``
or ``1y`` are refused with a hint to write days or weeks.
"""

from __future__ import annotations

import re

from aliasgate.errors import InvalidInput

UNITS = {"s": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PATTERN = r"^(\d+(min|[smhdw]))+$"  # also in the policy schema's `duration`
_RE = re.compile(PATTERN)
_PART = re.compile(r"(\d+)(min|[smhdw])")
_MONTHS = re.compile(r"\d\s*((?i:mo|mon|mos|mth|mths|months?|y|yr|yrs|years?)|M)\b")
HINT = "use a number and a unit, like 30min, 12h, 14d or 2w (units: s, m or min = minutes, h, d, w)"
NO_MONTHS = "there is no month or year unit (m means minutes): write days or weeks, like 180d or 26w"


def parse_duration(text: str) -> int:
    """Seconds in ``text``; raises InvalidInput with a plain message otherwise."""
    text = text.strip()
    if not _RE.match(text):
        hint = NO_MONTHS if _MONTHS.search(text) else HINT
        raise InvalidInput(f"bad duration {text!r}: {hint}")
    seconds = sum(int(n) * UNITS[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise InvalidInput(f"bad duration {text!r}: it must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Compact human form, in the grammar :func:`parse_duration` reads: 3d4h, 2d8min, 12min, 45s."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
        if len(parts) == 2:
            break
    return "".join(parts) or "0s"
