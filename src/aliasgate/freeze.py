"""Freeze windows: weekly ('Fri 16:00-Mon 08:00'), daily ('18:00-08:00') or dated
('2026-12-24..2026-12-26', inclusive; times allowed).

Windows are wall-clock times in their time zone: 'Fri 16:00' means 16:00 on
the office clock in winter and in summer. On the night a DST change skips an
hour, a window edge inside the skipped hour takes effect when the clock jumps
past it; in the repeated hour of the autumn change both passes count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from aliasgate.errors import InvalidInput

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKLY = re.compile(r"^\s*(\w{3})\s+(\d{1,2}):(\d{2})\s*-\s*(\w{3})\s+(\d{1,2}):(\d{2})\s*$")
_DAILY = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DATED = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}:\d{2}))?\s*\.\.\s*(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}:\d{2}))?\s*$"
)


@dataclass(frozen=True)
class Window:
    text: str
    kind: str  # weekly | daily | dated
    start: int | datetime  # minute of week/day, or naive local datetime
    end: int | datetime

    def contains(self, local: datetime) -> bool:
        """``local`` is a naive wall-clock datetime in the window's time zone."""
        if self.kind == "dated":
            assert isinstance(self.start, datetime) and isinstance(self.end, datetime)
            return self.start <= local < self.end
        assert isinstance(self.start, int) and isinstance(self.end, int)
        minute = local.hour * 60 + local.minute
        if self.kind == "weekly":
            minute += local.weekday() * 1440
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end  # wraps over the week/day boundary


def _minutes(h: str, m: str, text: str) -> int:
    hour, minute = int(h), int(m)
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise InvalidInput(f"freeze window {text!r}: {h}:{m} is not a time of day")
    return hour * 60 + minute


def _day(name: str, text: str) -> int:
    if name not in DAYS:
        raise InvalidInput(f"freeze window {text!r}: {name!r} is not a weekday (use {', '.join(DAYS)})")
    return DAYS.index(name)


def parse_window(text: str) -> Window:
    m = _WEEKLY.match(text)
    if m:
        start = _day(m.group(1), text) * 1440 + _minutes(m.group(2), m.group(3), text)
        end = _day(m.group(4), text) * 1440 + _minutes(m.group(5), m.group(6), text)
        if start == end:
            raise InvalidInput(f"freeze window {text!r} is empty: it starts where it ends")
        return Window(text, "weekly", start, end % (7 * 1440))
    m = _DAILY.match(text)
    if m:
        start = _minutes(m.group(1), m.group(2), text)
        end = _minutes(m.group(3), m.group(4), text)
        if start == end:
            raise InvalidInput(f"freeze window {text!r} is empty: it starts where it ends")
        return Window(text, "daily", start, end % 1440)
    m = _DATED.match(text)
    if m:
        try:
            d0, d1 = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(3))
        except ValueError as exc:
            raise InvalidInput(f"freeze window {text!r}: {exc}") from None
        t0 = _clock(m.group(2), text) if m.group(2) else time(0, 0)
        begins = datetime.combine(d0, t0)
        if m.group(4):
            ends = datetime.combine(d1, _clock(m.group(4), text))
        elif d1 == date.max:  # through the last day the calendar has
            ends = datetime.max
        else:
            ends = datetime.combine(d1 + timedelta(days=1), time(0, 0))  # a bare end date is inclusive
        if ends <= begins:
            raise InvalidInput(f"freeze window {text!r} ends before it starts")
        return Window(text, "dated", begins, ends)
    raise InvalidInput(
        f"freeze window {text!r}: expected 'Fri 16:00-Mon 08:00', '18:00-08:00' or '2026-12-24..2026-12-26'"
    )


def _clock(text: str, window: str) -> time:
    h, m = text.split(":")
    minutes = _minutes(h, m, window)
    if minutes == 1440:
        raise InvalidInput(f"freeze window {window!r}: use 00:00 of the next day instead of 24:00")
    return time(minutes // 60, minutes % 60)
