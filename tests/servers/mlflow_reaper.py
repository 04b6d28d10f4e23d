"""Ends an MLflow server's process group once the test process that started it is gone.

Usage: ``python mlflow_reaper.py PARENT_PID SERVER_PGID``. The normal path is
``MlflowServer.stop()``, which also ends this reaper; the reaper only matters when the test
process dies without running its finalizers (SIGKILL, a CI timeout), so no server outlives it.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by someone else
        return True
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


def main() -> int:
    parent, pgid = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while alive(parent):
        time.sleep(1.0)
        if not group_alive(pgid):
            return 0
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return 0
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_alive(pgid):
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
