"""Graceful stops: SIGTERM/SIGINT during a write finish the step in flight, then stop.

A CI runner cancelling a job sends SIGTERM. Killed mid-bundle on a registry
without transactions, aliasgate would leave a model promoted and its tokenizer
not; killed between a move and its audit record, a move without a record.
Inside :func:`deferred`, a signal only sets a flag that the applier (and
cleanup) check between steps: they undo a partial bundle, write the records
of what happened, and return. A second signal stops at once.

Waiting is not a step: code that only waits (for a registry lock, with nothing of its own in
flight) sleeps through :func:`pause`, which wakes as soon as a stop is requested, so a
cancelled job does not linger for the whole wait.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopFlag:
    """Set when a stop was requested; checked between steps."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.woken = threading.Event()  # set with the signal: wakes every pause()

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def __call__(self) -> bool:
        return self.requested


NEVER = StopFlag()

_open: list[StopFlag] = []  # the flags of the deferred() blocks now open


def requested() -> bool:
    """True once a stop was requested in an open :func:`deferred` block (any thread may ask)."""
    return any(flag.requested for flag in list(_open))


def pause(seconds: float) -> bool:
    """Sleep ``seconds``, waking early when a stop is requested: True when one was (at once if
    it was requested before). Outside a :func:`deferred` block, a plain sleep."""
    flags = list(_open)
    if not flags:
        time.sleep(seconds)
        return False
    if requested():
        return True
    flags[-1].woken.wait(seconds)
    return requested()


@contextmanager
def deferred() -> Iterator[StopFlag]:
    """Defer SIGTERM and SIGINT for the duration of the block (main thread only)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.requested:  # a second signal: stop now
            raise KeyboardInterrupt
        flag.signal = signum
        flag.woken.set()

    for s in previous:
        signal.signal(s, handler)
    _open.append(flag)
    try:
        yield flag
    finally:
        _open.remove(flag)
        for s, h in previous.items():
            signal.signal(s, h)
