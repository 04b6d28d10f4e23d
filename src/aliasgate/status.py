"""Every status a run can end in, and the one place a command's exit code is derived from them.

A rule in a plan, a rule applied, a version deleted, a TTL written: each ends in a :class:`Status`,
and the whole run may carry one more (cleanup aborted by its cap, a policy with problems, an audit
chain that fails verification). :func:`exit_code` turns the statuses of a run into the exit code
README's table documents; an exception's exit code comes from
:func:`aliasgate.errors.exit_code_for`. Statuses are strings too: they compare equal to, and
serialise as, their value (``"applied"``), which is what the JSON output and saved plans carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from aliasgate.errors import ExitCode


class Status(str, Enum):
    # a rule at planning time
    MOVE = "move"
    UP_TO_DATE = "up-to-date"
    BLOCKED = "blocked"  # a gate blocked it (also: a saved plan's rule now blocked)
    # a rule applied
    APPLIED = "applied"  # (also: a native TTL written and read back)
    CONFLICT = "conflict"  # an alias moved under us: nothing of the rule remains applied
    FAILED = "failed"
    DRY_RUN = "dry-run"
    INTERRUPTED = "interrupted"  # a stop signal arrived; nothing of this rule remains applied
    # a planned deletion
    DELETED = "deleted"
    SKIPPED = "skipped"  # it gained an alias (or an alias moved onto it) since planning: kept
    GONE = "gone"  # someone else deleted it first; no audit record from us
    NOT_STARTED = "not-started"  # stopped (signal or fatal error) before it was attempted
    # a native TTL write
    IGNORED = "ignored"  # W&B answered success and kept the old TTL (the team reserves TTL to admins)
    # the whole run
    ABORTED = "aborted"  # cleanup's deletion cap refused the run: nothing was deleted
    INVALID = "invalid"  # the input has problems (policy check)
    BROKEN = "broken"  # the audit chain fails verification

    def __str__(self) -> str:
        return str(self.value)


#: The exit code of a run, by precedence: the first row with a status the run has decides.
_PRECEDENCE: tuple[tuple[frozenset[Status], ExitCode], ...] = (
    (frozenset({Status.ABORTED}), ExitCode.BLOCKED),
    (frozenset({Status.INTERRUPTED}), ExitCode.INTERRUPTED),
    (frozenset({Status.FAILED, Status.IGNORED, Status.BROKEN}), ExitCode.REGISTRY),
    (frozenset({Status.INVALID}), ExitCode.INVALID),
    (frozenset({Status.CONFLICT}), ExitCode.CONFLICT),
    (frozenset({Status.BLOCKED}), ExitCode.BLOCKED),
)


def exit_code(statuses: Iterable[Status], *, signal: int | None = None) -> int:
    """The exit code of a run that ended in ``statuses``: 3 when cleanup's cap aborted it; when a
    signal stopped it, 128 + the signal (130 if unknown); 1 when anything failed (or W&B ignored
    a write, or the chain is broken); 2 for invalid input; 4 for a conflict; 3 when a gate
    blocked; else 0."""
    found = set(statuses)
    for members, code in _PRECEDENCE:
        if found & members:
            if code is ExitCode.INTERRUPTED and signal:
                return 128 + signal
            return int(code)
    return int(ExitCode.OK)
