"""One error root, one exit code per failure class.

The CLI maps any :class:`AliasgateError` to its ``exit_code`` in one place, so
CI can tell "not promoted" (3) from "conflict" (4) from "broken" (1, 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done, or nothing to do
    REGISTRY = 1  # registry, auth or network error; audit chain broken
    INVALID = 2  # invalid input: policy, reference, usage
    BLOCKED = 3  # gates blocked a promotion
    CONFLICT = 4  # an alias moved under us (compare-and-swap failed, stale plan)
    SOFTWARE = 70  # a bug in aliasgate (sysexits EX_SOFTWARE): the traceback is written to a file
    INTERRUPTED = 130  # stopped by SIGINT after finishing (or undoing) the step in flight
    TERMINATED = 143  # stopped by SIGTERM likewise


class AliasgateError(Exception):
    """Root of every error aliasgate reports to a user."""

    exit_code: ExitCode = ExitCode.REGISTRY

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidInput(AliasgateError):
    """Bad input from the user: nothing was sent to any registry."""

    exit_code = ExitCode.INVALID


class OutputError(AliasgateError):
    """A file aliasgate was asked to write (``-o``, ``$GITHUB_OUTPUT``, the step summary) cannot be
    written. Exit 2 when it is the user's path and nothing was sent, 1 when the registry may
    already have changed (the report of a finished command)."""

    def __init__(
        self, message: str, *, exit_code: ExitCode = ExitCode.INVALID, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class BadReference(InvalidInput):
    """A reference such as ``model:alias`` that cannot be parsed."""


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy file, located for humans (file:line:col) and tools (JSON path)."""

    file: str
    line: int
    column: int
    path: str  # JSON path, e.g. $.promotions[0].gates[1].min
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {self.message}"


class PolicyError(InvalidInput):
    """A policy file failed to load; carries every issue found, not just the first."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        files = sorted({i.file for i in issues})
        super().__init__(f"{len(issues)} problem(s) in {', '.join(files)}")


class RegistryError(AliasgateError):
    """The registry refused or failed a request; names the model and version involved."""

    exit_code = ExitCode.REGISTRY

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        version: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if model is not None:
            where = f"{model}:v{version}" if version is not None else model
            message = f"{where}: {message}"
        super().__init__(message, hint=hint)
        self.model = model
        self.version = version


class NotFound(RegistryError):
    """A model, version or alias does not exist."""


class AuthError(RegistryError):
    """401/403: names the account and the permission missing, never the secret."""


class OutcomeUnknown(RegistryError):
    """A write neither confirmed nor refused, and not readable back: whether it happened is not
    known; its audit record is left for whoever holds the lock next to settle."""


class AuditError(AliasgateError):
    """The audit chain is broken (edited or deleted record)."""

    exit_code = ExitCode.REGISTRY


class Blocked(AliasgateError):
    """A gate stops a promotion (e.g. a saved plan applied inside a freeze window)."""

    exit_code = ExitCode.BLOCKED


class Conflict(AliasgateError):
    """Compare-and-swap failed: the alias is not where the plan saw it."""

    exit_code = ExitCode.CONFLICT

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        alias: str | None = None,
        expected: int | None = None,
        actual: int | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.alias = alias
        self.expected = expected
        self.actual = actual


def conflict(model: str, alias: str, expected: int | None, actual: int | None) -> Conflict:
    """The one wording of a failed compare-and-swap, used by every backend."""

    def show(v: int | None) -> str:
        return "nothing" if v is None else f"v{v}"

    return Conflict(
        f"{model}:{alias} moved: expected it on {show(expected)}, found it on {show(actual)}",
        model=model,
        alias=alias,
        expected=expected,
        actual=actual,
    )


def still_held(model: str, number: int, aliases: list[str]) -> Conflict:
    """The one wording of "this version gained an alias, so it was not deleted", for every backend."""
    held = sorted(aliases)
    return Conflict(
        f"{model}:v{number} holds {', '.join(held)} now; not deleted",
        model=model,
        alias=held[0],
        expected=None,
        actual=number,
    )


def after_notifications(code: int, required_failed: bool) -> int:
    """A finished command's exit code once its notifications are out: a delivery to a
    ``required`` target that failed turns 0 into 1 (what was done stays done and audited);
    any other code already says more and stays."""
    return int(ExitCode.REGISTRY) if required_failed and code == ExitCode.OK else int(code)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The one mapping from an exception to the documented exit code."""
    if isinstance(exc, AliasgateError):
        return ExitCode(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.SOFTWARE
