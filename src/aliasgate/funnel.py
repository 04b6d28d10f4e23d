"""The one error funnel: every command of the CLI and the Action's entry point run inside it.

An :class:`~aliasgate.errors.AliasgateError` is printed as ``error: ...`` (plus its hint)
and exits with its documented code; Ctrl-C exits 130; anything else is a bug: one line
saying so and naming the file the (redacted) traceback was written to, exit 70
(``EX_SOFTWARE``). ``--traceback`` prints the redacted traceback instead, with the same
exit code. Nothing here knows Typer: callers pass the work as a function.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

from aliasgate import secrets
from aliasgate.errors import AliasgateError, ExitCode, PolicyError, exit_code_for

Observer = Callable[[BaseException], None]


def _say(stream: TextIO, text: str) -> None:
    safe = secrets.redact(text)
    if os.environ.get("GITHUB_ACTIONS") == "true":  # registry text in a message runs no command
        from aliasgate.github import neutralize

        safe = neutralize(safe)
    stream.write(safe + "\n")
    stream.flush()


def traceback_text(exc: BaseException) -> str:
    import traceback as tb

    return secrets.redact("".join(tb.format_exception(type(exc), exc, exc.__traceback__)))


def write_traceback(exc: BaseException) -> str | None:
    """Write the redacted traceback to a new file; its path, or None when even that fails."""
    import tempfile
    import time

    try:
        fd, path = tempfile.mkstemp(
            prefix=f"aliasgate-traceback-{time.strftime('%Y%m%dT%H%M%S')}-", suffix=".txt"
        )
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(traceback_text(exc))
        return path
    except OSError:
        return None


def report(exc: BaseException, *, show_traceback: bool = False, stream: TextIO | None = None) -> ExitCode:
    """Print ``exc`` the one documented way and return its exit code."""
    err = stream or sys.stderr
    code = exit_code_for(exc)
    if show_traceback:
        err.write(traceback_text(exc))
    if isinstance(exc, PolicyError):
        for issue in exc.issues:
            _say(err, str(issue))
    if isinstance(exc, AliasgateError):
        _say(err, f"error: {exc.message}")
        if exc.hint:
            _say(err, f"hint: {exc.hint}")
    elif isinstance(exc, KeyboardInterrupt):
        _say(err, "interrupted")
    else:
        where = "above" if show_traceback else (write_traceback(exc) or "nowhere (could not write a file)")
        first = (secrets.redact(str(exc)).splitlines() or [""])[0][:300]  # redacted, then cut
        _say(
            err,
            f"internal error (a bug in aliasgate, exit {int(code)}): {type(exc).__name__}: {first}; "
            f"traceback written to {where}; please report it",
        )
    return code


def guarded(
    work: Callable[[], int],
    *,
    show_traceback: bool = False,
    observers: tuple[Observer, ...] = (),
    passthrough: tuple[type[BaseException], ...] = (),
) -> int:
    """Run ``work`` and return its exit code, or the documented code of what it raised.

    ``observers`` also see the exception (the GitHub observer turns it into an annotation);
    an observer that fails is itself reported, never hides the first error.
    ``passthrough`` exceptions (the CLI framework's own exits) are re-raised untouched."""
    try:
        return work()
    except passthrough:
        raise
    except (Exception, KeyboardInterrupt) as exc:
        for observe in observers:
            try:
                observe(exc)
            except Exception as second:  # the observer's own failure (an unwritable output)
                report(second, show_traceback=show_traceback)
        return int(report(exc, show_traceback=show_traceback))
