"""Graceful stops: SIGTERM/SIGINT during a write finish the step in flight, then stop.

A CI runner cancelling a job sends SIGTERM. Killed mid-bundle on a registry
without transactions, aliasgate would leave a model promoted and its tokenizer
not; killed between a move and its audit record, a move without a record.
Inside :func:`deferred`, a signal only sets a flag that the applier and the
cleanup engine check between steps (and that their waits wake on): they undo a
partial bundle or let in-flight deletions finish, write the records of what
happened, and return. A second signal stops at once.

This is the one place that installs signal handlers.
"""

from __future__ import annotations

import signal
import threading
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
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
