"""Graceful stops: SIGTERM/SIGINT during a write finish the step in flight, then stop.

A CI runner cancelling a job sends SIGTERM. Killed mid-bundle on a registry
without transactions, aliasgate would leave a model promoted and its tokenizer
not; killed between a move and its audit record, a move without a record.
Inside :func:`deferred`, a signal only sets a flag that the applier (and
cleanup) check between steps: they undo a partial bundle, write the records
of what happened, and return. A second signal stops at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopFlag:
    """Set when a stop was requested; checked between steps."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def __call__(self) -> bool:
        return self.requested


NEVER = StopFlag()


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

    for s in previous:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
