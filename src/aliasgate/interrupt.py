"""Graceful stops: SIGTERM/SIGINT during a write finish the step in flight, then stop.

A CI runner cancelling a job sends SIGTERM. Killed mid-bundle on a registry
without transactions, aliasgate would leave a model promoted and its tokenizer
not; killed between a move and its audit record, a move without a record.
Inside :func:`deferred`, a signal only sets a flag that the applier and the
cleanup engine check between steps (and that their waits wake on): they undo a
partial bundle or let in-flight deletions finish, write the records of what
happened, and return. A second signal stops at once.

Waiting is not a step: code that only waits (for a registry lock, with nothing of its own in
flight) sleeps through :func:`pause`, which wakes as soon as a stop is requested, so a
cancelled job does not linger for the whole wait.

This is the one place that installs signal handlers.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopFlag(threading.Event):
    """Set when a stop was requested; checked between steps.

    A :class:`threading.Event`: worker threads may ``wait(seconds)`` on it (a backoff that a
    stop cuts short) and code may ``set()`` it to stop the run for a reason of its own (a
    permission error). ``signal`` is the signal that asked for the stop, if one did."""

    def __init__(self) -> None:
        super().__init__()
        # The signal handler sets the flag in the main thread, which may be inside this flag's own
        # wait() holding its lock at that moment: with the Event's default Lock that would deadlock.
        self._cond = threading.Condition(threading.RLock())
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.is_set()

    def __call__(self) -> bool:
        return self.requested

    def request(self, signum: int | None = None) -> None:
        """Ask for a stop (``signum``: the signal that asked, the first one kept)."""
        if self.signal is None:
            self.signal = signum
        self.set()


class _Never(StopFlag):
    def set(self) -> None:
        raise RuntimeError("interrupt.NEVER is shared and never set: make a StopFlag of your own")


NEVER: StopFlag = _Never()

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
    flags[-1].wait(seconds)
    return requested()


@contextmanager
def deferred(also: threading.Event | None = None) -> Iterator[StopFlag]:
    """Defer SIGTERM and SIGINT for the duration of the block (main thread only): the first
    sets the flag yielded (and ``also``, a stop event of the caller's), a second raises
    KeyboardInterrupt."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        flag.request(signum)
        if also is not None:
            also.set()

    for s in previous:
        signal.signal(s, handler)
    _open.append(flag)
    try:
        yield flag
    finally:
        _open.remove(flag)
        for s, h in previous.items():
            signal.signal(s, h)
