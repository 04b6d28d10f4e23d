"""The cleanup engine: deleting exactly what a retention plan lets go, without harm.

Execution deletes with bounded parallelism (models in parallel, one batch per model at a
time) through the backend's ``delete_versions`` where it has one (the embedded registry:
one transaction per batch; MLflow: one lock, one audit segment, one head write), else
``Registry.delete_version`` one at a time. Either re-checks each version's aliases at
the last moment and stores an audit record with each deletion; a version that gained an
alias is skipped, never deleted. Transient registry errors are retried. A stop request
(:mod:`aliasgate.interrupt`: SIGTERM/SIGINT, or a permission error here) takes no new
batches, lets the in-flight ones finish with their audit records, and reports the rest as
not started. On W&B, ``--native-ttl`` then pins the kept versions' own TTL
(``aliasgate.native_ttl``; its result rides on :class:`CleanupResult`).

What to delete is decided, purely, by :mod:`aliasgate.retention`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aliasgate.errors import AliasgateError, AuthError, Conflict, NotFound, RegistryError
from aliasgate.model import AliasOp, Move, iso
from aliasgate.provenance import Provenance
from aliasgate.registry import BatchDeletes, DeleteResult, Registry
from aliasgate.retention import CleanupPlan, OfVersion, Verdict
from aliasgate.status import Status, exit_code

# Outcomes of one planned deletion.
DELETED = Status.DELETED
SKIPPED = Status.SKIPPED
GONE = Status.GONE
FAILED = Status.FAILED
NOT_STARTED = Status.NOT_STARTED

DEFAULT_MAX_DELETIONS = 100
DEFAULT_PARALLEL = 4
MAX_PARALLEL = 32
DEFAULT_RETRIES = 3


@dataclass(frozen=True)
class Outcome(OfVersion):
    model: str
    number: int
    status: Status  # deleted | skipped | gone | failed | not-started
    message: str = ""
    record: Mapping[str, Any] | None = None  # the sealed audit record of the deletion
    removed: tuple[Mapping[str, Any], ...] = ()  # sealed records of unprotected aliases removed first
    attempts: int = 0
    fatal: bool = False  # every other deletion would fail the same way (permission missing)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self._about(),
            "status": self.status,
            "message": self.message,
            "attempts": self.attempts,
        }
        if self.record is not None:
            out["audit"] = {"seq": self.record.get("seq"), "hash": self.record.get("hash")}
        if self.removed:
            out["aliases_removed"] = [
                {"alias": r.get("alias"), "seq": r.get("seq"), "hash": r.get("hash")} for r in self.removed
            ]
        return out


@dataclass
class CleanupResult:
    plan: CleanupPlan
    outcomes: list[Outcome] = field(default_factory=list)
    dry_run: bool = False
    max_deletions: int = DEFAULT_MAX_DELETIONS
    aborted: str | None = None  # why nothing was deleted (the deletion cap)
    stopped: str | None = None  # why deletions stopped early (a signal, an auth error)
    signal: int | None = None
    native_ttl: Any = None  # a native_ttl.TtlResult with --native-ttl (W&B)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        """0 done (skipped-because-aliased included: keeping it is the correct outcome),
        1 a deletion failed or auth is missing (or, with --native-ttl, W&B ignored or refused a
        TTL), 3 the deletion cap aborted the run, 128+N stopped by signal N."""
        return exit_code(self.statuses(), signal=self.signal)

    def statuses(self) -> list[Status]:
        """Each deletion's status, the run's own (aborted, interrupted, stopped) and the TTL writes'."""
        run = [o.status for o in self.outcomes]
        if self.aborted:
            run.append(Status.ABORTED)
        if self.signal is not None:
            run.append(Status.INTERRUPTED)
        if self.stopped:
            run.append(Status.FAILED)
        if self.native_ttl is not None:
            run.extend(self.native_ttl.statuses())
        return run

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.id,
            "dry_run": self.dry_run,
            "max_deletions": self.max_deletions,
            "aborted": self.aborted,
            "stopped": self.stopped,
            "exit_code": self.exit_code,
            "summary": {
                "planned": len(self.plan.deletions),
                DELETED: self.count(DELETED),
                SKIPPED: self.count(SKIPPED),
                GONE: self.count(GONE),
                FAILED: self.count(FAILED),
                NOT_STARTED: self.count(NOT_STARTED),
            },
            "outcomes": [o.as_dict() for o in self.outcomes],
            **({"native_ttl": self.native_ttl.as_dict()} if self.native_ttl is not None else {}),
        }


@dataclass(frozen=True)
class Options:
    max_deletions: int = DEFAULT_MAX_DELETIONS
    parallel: int = DEFAULT_PARALLEL
    retries: int = DEFAULT_RETRIES  # extra attempts after a transient registry error
    backoff: float = 0.5  # seconds before the first retry, doubled each time
    batch: int | None = None  # versions per backend call; None: the backend's delete_batch


Clock = Callable[[], datetime]


def over_cap(plan: CleanupPlan, max_deletions: int) -> str | None:
    n = len(plan.deletions)
    if n <= max_deletions:
        return None
    return (
        f"{n} deletions planned, more than --max-deletions {max_deletions}: nothing deleted "
        f"(if the plan is right, re-run with --max-deletions {n})"
    )


def execute(
    registry: Registry,
    plan: CleanupPlan,
    prov: Provenance,
    *,
    now: Clock,
    options: Options = Options(),
    stop: threading.Event | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> CleanupResult:
    """Delete exactly ``plan.deletions``, each re-checked and audited by the backend.

    The deletion cap is checked first: over it, nothing is deleted. ``stop`` (an
    :class:`aliasgate.interrupt.StopFlag` that a signal sets) ends the run after the batches
    in flight finish; a permission error sets it too."""
    result = CleanupResult(plan, max_deletions=options.max_deletions)
    result.aborted = over_cap(plan, options.max_deletions)
    if result.aborted or not plan.deletions:
        return result
    stop = stop or threading.Event()
    fatal: list[str] = []
    parallel = max(1, min(options.parallel, MAX_PARALLEL))
    deleter, size = _deleter(registry, options)
    # One batch per model at a time, oldest first: every backend seals a model's audit records
    # one after another (a transaction, or a lock on MLflow), so parallel calls on one model
    # would only queue; models proceed in parallel.
    queues: dict[str, deque[Verdict]] = {}
    for verdict in sorted(plan.deletions, key=lambda d: (d.model, d.number)):
        queues.setdefault(verdict.model, deque()).append(verdict)
    running: dict[Future[list[Outcome]], str] = {}

    def report(outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="cleanup") as pool:
        while True:
            while len(running) < parallel and not stop.is_set():
                busy = set(running.values())
                model = next((m for m, q in queues.items() if q and m not in busy), None)
                if model is None:
                    break
                queue = queues[model]
                batch = [queue.popleft() for _ in range(min(size, len(queue)))]
                fut = pool.submit(_delete_batch, registry, deleter, plan, batch, prov, now, options, stop)
                running[fut] = model
            if not running:
                break  # all done, or stopped with nothing in flight
            done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                del running[fut]
                for outcome in fut.result():
                    report(outcome)
                    if outcome.fatal and not stop.is_set():
                        fatal.append(outcome.message)
                        stop.set()
    todo = [v for q in queues.values() for v in q]
    for verdict in todo:
        report(Outcome(verdict.model, verdict.number, NOT_STARTED, "stopped before it was attempted"))
    if fatal:
        result.stopped = fatal[0]
    elif stop.is_set():
        result.stopped = "stopped by request"
    return result


Deleter = Callable[[str, list[int], list[Mapping[str, Any]]], list[DeleteResult]]


def _deleter(registry: Registry, options: Options) -> tuple[Deleter, int]:
    """The backend's batch deletion and its batch size, else ``delete_version`` one at a time."""
    if isinstance(registry, BatchDeletes):
        return registry.delete_versions, max(1, options.batch or registry.delete_batch)

    def one_by_one(model: str, numbers: list[int], records: list[Mapping[str, Any]]) -> list[DeleteResult]:
        results: list[DeleteResult] = []
        for number, record in zip(numbers, records, strict=True):
            try:
                results.append(registry.delete_version(model, number, record))
            except Exception as exc:
                results.append(exc)
        return results

    return one_by_one, 1


@dataclass
class _Job:
    """One planned deletion on its way through a batch."""

    verdict: Verdict
    body: Mapping[str, Any] | None = None
    attempts: int = 0
    removed: list[Mapping[str, Any]] = field(default_factory=list)
    error: Exception | None = None  # the last transient error, while it may still be retried

    def outcome(
        self, status: Status, message: str, record: Mapping[str, Any] | None = None, *, fatal: bool = False
    ) -> Outcome:
        v = self.verdict
        return Outcome(v.model, v.number, status, message, record, tuple(self.removed), self.attempts, fatal)


def _delete_batch(
    registry: Registry,
    deleter: Deleter,
    plan: CleanupPlan,
    verdicts: Sequence[Verdict],
    prov: Provenance,
    now: Clock,
    options: Options,
    stop: threading.Event,
) -> list[Outcome]:
    """Delete the versions of one model: first each version's unprotected aliases (audited
    compare-and-swaps), then the versions in one backend call, sending again what the backend
    did not reach and retrying transient errors with backoff.

    Runs in a worker thread; never raises (every failure becomes an Outcome)."""
    plan_ref = {"id": plan.id, "created_at": iso(plan.created_at)}
    done: dict[int, Outcome] = {}
    ready: list[_Job] = []
    for verdict in verdicts:
        job = _Job(verdict)
        try:
            _remove_unprotected(registry, job, prov, now, plan_ref, options, stop)
        except Exception as exc:
            done[verdict.number] = _failure(job, exc)
            if done[verdict.number].fatal:
                break
            continue
        job.body = prov.deletion(
            verdict.model,
            verdict.number,
            now=now(),
            rule=", ".join(verdict.rules),
            reason="; ".join(verdict.reasons),
            plan=plan_ref,
            extra={
                "created_at": iso(verdict.created_at),
                **({"aliases_removed": list(verdict.unprotected)} if verdict.unprotected else {}),
            },
        )
        ready.append(job)
    model = verdicts[0].model
    delay = options.backoff
    fatal = any(o.fatal for o in done.values())
    first = True
    while ready and not fatal:
        if not first and stop.is_set():
            break  # a stop takes no new backend call; what is left is reported below
        first = False
        results = _call_deleter(deleter, model, ready)
        again: list[_Job] = []
        for job, res in zip(ready, results, strict=True):
            if res is None:
                again.append(job)  # not reached: sent again
                continue
            job.attempts += 1
            if isinstance(res, dict):
                done[job.verdict.number] = job.outcome(DELETED, "deleted", res)
            elif _transient(res) and job.attempts <= options.retries:
                job.error = res
                again.append(job)
            else:
                done[job.verdict.number] = _failure(job, res)
                fatal = fatal or done[job.verdict.number].fatal
        ready = again
        if any(job.error is not None for job in ready):
            if stop.wait(delay):
                break
            delay *= 2
    for job in ready:  # stopped, or a permission error ended the batch
        number = job.verdict.number
        done[number] = (
            _failure(job, job.error)
            if job.error is not None
            else job.outcome(NOT_STARTED, "stopped before it was attempted")
        )
    return [
        done.get(v.number) or Outcome(v.model, v.number, NOT_STARTED, "stopped before it was attempted")
        for v in verdicts
    ]


def _call_deleter(deleter: Deleter, model: str, jobs: Sequence[_Job]) -> list[DeleteResult]:
    """One backend call; a raised error (nothing was deleted) becomes every job's result."""
    try:
        results = deleter(model, [j.verdict.number for j in jobs], [j.body or {} for j in jobs])
        if len(results) != len(jobs):
            raise RegistryError(f"the registry answered {len(results)} results for {len(jobs)} deletions")
    except AuthError as exc:
        return [exc, *([None] * (len(jobs) - 1))]  # the first fails; the permission error stops the rest
    except Exception as exc:
        return [exc] * len(jobs)
    if all(r is None for r in results):  # no progress at all: count it as a failed attempt
        stuck = RegistryError(f"the registry attempted none of {len(jobs)} deletions", model=model)
        return [stuck] * len(jobs)
    return results


def _transient(exc: Exception) -> bool:
    return isinstance(exc, AliasgateError) and not isinstance(exc, (Conflict, NotFound, AuthError))


def _remove_unprotected(
    registry: Registry,
    job: _Job,
    prov: Provenance,
    now: Clock,
    plan_ref: Mapping[str, Any],
    options: Options,
    stop: threading.Event,
) -> None:
    """Remove the version's aliases that no rule protects, each an audited compare-and-swap."""
    verdict = job.verdict
    reason = "; ".join(verdict.reasons)
    for alias in verdict.unprotected:
        op = AliasOp(verdict.model, alias, verdict.number, None)
        body = prov.body(
            op,
            kind="remove",
            now=now(),
            rule=", ".join(verdict.rules),
            reason=f"cleanup: {alias} is not protected and {verdict} is deleted ({reason})",
            plan=dict(plan_ref),
        )
        # Conflict: it moved elsewhere already, so it is no longer on this version.
        with contextlib.suppress(Conflict):
            job.removed.extend(
                _retrying(job, functools.partial(registry.apply, [Move(op, body)]), options, stop)
            )


def _retrying(job: _Job, fn: Callable[[], Any], options: Options, stop: threading.Event) -> Any:
    """Run ``fn`` with retries of transient registry errors."""
    delay = options.backoff
    for attempt in range(options.retries + 1):
        job.attempts += 1
        try:
            return fn()
        except AliasgateError as exc:
            if not _transient(exc) or attempt == options.retries or stop.wait(delay):
                raise
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _failure(job: _Job, exc: Exception) -> Outcome:
    """The outcome of a deletion that did not happen, by the error that stopped it."""
    if isinstance(exc, Conflict):
        return job.outcome(SKIPPED, f"kept: {exc}")
    if isinstance(exc, NotFound):
        if exc.version is None and exc.model is not None:
            return job.outcome(FAILED, str(exc))
        return job.outcome(
            GONE, "already gone (deleted by someone else, or by an earlier attempt whose answer was lost)"
        )
    if isinstance(exc, AuthError):
        return job.outcome(FAILED, str(exc), fatal=True)
    if isinstance(exc, AliasgateError):
        return job.outcome(FAILED, str(exc))
    return job.outcome(FAILED, f"internal error: {type(exc).__name__}: {exc}")  # a backend bug
