"""Reading a file a user named (a policy, a saved plan): only regular files, never more than a cap.

A FIFO would block ``read`` forever and ``/dev/zero`` never ends, so the file is opened
without blocking, checked to be a regular file, and read up to its cap plus one byte.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aliasgate.errors import InvalidInput

MiB = 1024 * 1024


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_input(path: str | Path, *, what: str, limit: int, hint: str | None = None) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); InvalidInput (exit 2) otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} not found", hint=hint) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInput(f"cannot read {what} {path}: {reason}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidInput(f"{what} {path} is {_kind(mode)}; only a regular file is read")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(MiB, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise InvalidInput(f"{what} {path} is larger than the limit of {limit // MiB} MiB")
    return b"".join(chunks)
