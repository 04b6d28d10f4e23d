"""Retention: which versions `promote cleanup` deletes, and deleting them without harm.

Planning is pure: retention rules + a snapshot of every model's versions -> one
:class:`Verdict` per version with every reason it stays or goes. The safe reading
throughout: a version goes only when *every* rule matching its model lets it go and
nothing else keeps it.

A version is kept when any of these holds (all are reported, not just the first):

* it is the newest version (``latest`` is automatic: deleting it would move ``latest``);
* it holds an alias matching the rule's ``protect`` globs (default ``['*']``: any alias);
* it is among the rule's newest ``keep_last`` versions (by version number);
* it is younger than the rule's ``ttl`` (age counted from creation; exactly ``ttl`` old
  still stays);
* a ``keep_if`` gate passes (``top: N`` keeps the best N by a metric; a missing or NaN
  value never counts as best);
* a kept version (of any model) was derived from it, transitively. Where the backend
  records no lineage the plan says so and this protection cannot apply.

Execution deletes with bounded parallelism (models in parallel, one batch per model at a
time) through the backend's ``delete_versions`` where it has one (the embedded registry:
one transaction per batch; MLflow: one lock, one audit segment, one head write), else
``Registry.delete_version`` one at a time. Either re-checks each version's aliases at
the last moment and stores an audit record with each deletion; a version that gained an
alias is skipped, never deleted. Transient registry errors are retried. A stop request
(SIGTERM/SIGINT) takes no new batches, lets the in-flight ones finish with their audit
records, and reports the rest as not started. On W&B, ``--native-ttl`` then pins the kept versions' own TTL
(``aliasgate.native_ttl``; its result rides on :class:`CleanupResult`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import json
import math
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aliasgate import gates as gates_mod
from aliasgate.durations import format_duration
from aliasgate.errors import AliasgateError, AuthError, Conflict, ExitCode, NotFound, RegistryError
from aliasgate.model import AliasOp, Principal, Version, VersionId, iso
from aliasgate.policy.model import MetricGate, RetentionRule
from aliasgate.provenance import Provenance
from aliasgate.registry import DeleteResult, Registry

CLEANUP_FORMAT = 1
KEEP = "keep"
DELETE = "delete"

# Outcomes of one planned deletion.
DELETED = "deleted"
SKIPPED = "skipped"  # it gained an alias (or an alias moved onto it) since planning: kept
GONE = "gone"  # someone else deleted it first; no audit record from us
FAILED = "failed"
NOT_STARTED = "not-started"  # stopped (signal or fatal error) before it was attempted

DEFAULT_MAX_DELETIONS = 100
DEFAULT_PARALLEL = 4
MAX_PARALLEL = 32
DEFAULT_RETRIES = 3
MAX_DEPENDANTS_SHOWN = 3


# -- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What happens to one version, and every reason why."""

    model: str
    number: int
    created_at: datetime
    aliases: tuple[str, ...]
    action: str  # keep | delete
    reasons: tuple[str, ...]
    rules: tuple[str, ...]  # labels of the retention rules that match the model
    #: aliases the version holds that no matching rule protects; removed (audited) before deleting
    unprotected: tuple[str, ...] = ()

    @property
    def id(self) -> VersionId:
        return VersionId(self.model, self.number)

    def __str__(self) -> str:
        return f"{self.model}:v{self.number}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "version": self.number,
            "created_at": iso(self.created_at),
            "aliases": list(self.aliases),
            "verdict": self.action,
            "reasons": list(self.reasons),
            "rules": list(self.rules),
        }
        if self.unprotected:
            out["unprotected_aliases"] = list(self.unprotected)
        return out


@dataclass(frozen=True)
class CleanupPlan:
    """Every version of every model a retention rule matches, with its verdict. A value:
    printable, JSON-able, and what execution deletes exactly (nothing is re-decided)."""

    registry: str
    created_at: datetime
    principal: Principal
    verdicts: tuple[Verdict, ...]
    lineage_recorded: bool
    policy_path: str | None = None
    policy_sha256: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def deletions(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.action == DELETE]

    @property
    def kept(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.action == KEEP]

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(v.model for v in self.verdicts))

    @functools.cached_property
    def id(self) -> str:
        """A digest of the content (computed once: execution stamps it on every record)."""
        body = json.dumps(self._content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @functools.cached_property
    def _content(self) -> dict[str, Any]:
        return {
            "format": CLEANUP_FORMAT,
            "registry": self.registry,
            "created_at": iso(self.created_at),
            "principal": self.principal.as_dict(),
            "policy": {"path": self.policy_path, "sha256": self.policy_sha256},
            "lineage_recorded": self.lineage_recorded,
            "notes": list(self.notes),
            "versions": [v.as_dict() for v in self.verdicts],
        }

    def as_dict(self) -> dict[str, Any]:
        body = dict(self._content)
        body["id"] = self.id
        body["summary"] = {
            "models": len(self.models),
            "versions": len(self.verdicts),
            "delete": len(self.deletions),
            "keep": len(self.verdicts) - len(self.deletions),
        }
        return body


def plan(
    rules: Sequence[RetentionRule],
    registry: Registry,
    *,
    now: datetime,
    principal: Principal,
    model_glob: str | None = None,
    policy_path: str | None = None,
    policy_sha256: str | None = None,
) -> CleanupPlan:
    """Read what planning needs from ``registry`` (never writes) and decide."""
    snapshot = read_snapshot(registry, rules, model_glob=model_glob)
    return decide(
        rules,
        snapshot,
        now=now,
        principal=principal,
        registry=registry.uri,
        lineage_recorded=registry.lineage_recorded,
        model_glob=model_glob,
        policy_path=policy_path,
        policy_sha256=policy_sha256,
    )


def read_snapshot(
    registry: Registry, rules: Sequence[RetentionRule], *, model_glob: str | None = None
) -> dict[str, list[Version]]:
    """Every live version the decision depends on, per model.

    With lineage, that is every model: a version of a model no rule touches still keeps
    what it was derived from. Without lineage only the matched models are read."""
    names = registry.models()
    wanted = names if registry.lineage_recorded else [m for m in names if _selected(m, rules, model_glob)]
    return {m: registry.versions(m) for m in wanted}


def _selected(model: str, rules: Sequence[RetentionRule], model_glob: str | None) -> bool:
    if model_glob is not None and not fnmatch.fnmatchcase(model, model_glob):
        return False
    return any(fnmatch.fnmatchcase(model, r.pattern) for r in rules)


def decide(
    rules: Sequence[RetentionRule],
    snapshot: Mapping[str, Sequence[Version]],
    *,
    now: datetime,
    principal: Principal,
    registry: str,
    lineage_recorded: bool,
    model_glob: str | None = None,
    policy_path: str | None = None,
    policy_sha256: str | None = None,
) -> CleanupPlan:
    """The pure core: rules + versions -> a verdict per version of every matched model."""
    holders = _holders(snapshot)

    def holder(model: str, alias: str) -> Version | None:
        return holders.get((model, alias))

    ctx = gates_mod.Context(now=now, principal=principal, holder=holder)
    notes: list[str] = []
    draft: dict[VersionId, _Draft] = {}
    matched_any: set[str] = set()
    for model in sorted(snapshot):
        if model_glob is not None and not fnmatch.fnmatchcase(model, model_glob):
            continue
        matching = [r for r in rules if fnmatch.fnmatchcase(model, r.pattern)]
        if not matching:
            continue
        for r in matching:
            matched_any.add(r.label)
        for d in _decide_model(model, snapshot[model], matching, now, ctx):
            draft[d.version.id] = d

    for r in rules:
        if r.label not in matched_any:
            scope = f" and --model {model_glob}" if model_glob else ""
            notes.append(f"{r.label} ({r.loc}): no model matches {r.pattern!r}{scope}")
    if lineage_recorded:
        _protect_lineage(snapshot, draft)
        blind = [
            v
            for versions in snapshot.values()
            for v in versions
            if not v.lineage_recorded and (v.id not in draft or not draft[v.id].deleting)
        ]
        if blind:
            shown = ", ".join(str(v) for v in sorted(blind, key=lambda v: v.id)[:MAX_DEPENDANTS_SHOWN])
            notes.append(
                f"{len(blind)} kept version(s) record no lineage ({shown}"
                f"{', ...' if len(blind) > MAX_DEPENDANTS_SHOWN else ''}): "
                "whatever they were derived from is not protected by lineage"
            )
    else:
        notes.append(
            "this registry records no lineage: a version a kept version was derived from "
            "cannot be recognised, so lineage protection does not apply"
        )
    verdicts = tuple(d.verdict() for d in draft.values())
    return CleanupPlan(
        registry=registry,
        created_at=now,
        principal=principal,
        verdicts=verdicts,
        lineage_recorded=lineage_recorded,
        policy_path=policy_path,
        policy_sha256=policy_sha256,
        notes=tuple(notes),
    )


def _holders(snapshot: Mapping[str, Sequence[Version]]) -> dict[tuple[str, str], Version]:
    out: dict[tuple[str, str], Version] = {}
    for model, versions in snapshot.items():
        for v in versions:
            for a in v.aliases:
                out[(model, a)] = v
    return out


@dataclass
class _Draft:
    version: Version
    rules: tuple[str, ...]
    keep: list[str]
    go: list[str]
    unprotected: tuple[str, ...]
    dependants: list[VersionId] = field(default_factory=list)

    @property
    def deleting(self) -> bool:
        return not self.keep and not self.dependants

    def verdict(self) -> Verdict:
        v = self.version
        if self.deleting:
            return Verdict(
                v.model,
                v.number,
                v.created_at,
                v.aliases,
                DELETE,
                tuple(self.go),
                self.rules,
                self.unprotected,
            )
        reasons = list(self.keep)
        if self.dependants:
            shown = ", ".join(str(d) for d in self.dependants[:MAX_DEPENDANTS_SHOWN])
            more = len(self.dependants) - MAX_DEPENDANTS_SHOWN
            reasons.append(
                f"kept version(s) derived from it: {shown}" + (f" (+{more} more)" if more > 0 else "")
            )
        return Verdict(v.model, v.number, v.created_at, v.aliases, KEEP, tuple(reasons), self.rules)


def _decide_model(
    model: str,
    versions: Sequence[Version],
    rules: Sequence[RetentionRule],
    now: datetime,
    ctx: gates_mod.Context,
) -> list[_Draft]:
    ordered = sorted(versions, key=lambda v: v.number, reverse=True)
    if not ordered:
        return []
    newest = ordered[0].number
    labels = tuple(r.label for r in rules)
    prefix = len(rules) > 1
    keep: dict[int, list[str]] = {v.number: [] for v in ordered}
    go: dict[int, list[str]] = {v.number: [] for v in ordered}
    protected: dict[int, set[str]] = {v.number: set() for v in ordered}
    keep[newest].append("newest version (holds `latest`)")
    ages = [(now - v.created_at).total_seconds() for v in ordered]
    for rule in rules:
        tag = f"{rule.label}: " if prefix else ""
        tops = [_top(g, ordered) for g in rule.keep_if if isinstance(g, MetricGate) and g.top is not None]
        for rank, v in enumerate(ordered):
            reasons: list[str] = []
            held = (
                [a for a in v.aliases if any(fnmatch.fnmatchcase(a, p) for p in rule.protect)]
                if v.aliases
                else []
            )
            if held:
                protected[v.number].update(held)
                reasons.append(f"holds {', '.join(held)} (protect: {', '.join(rule.protect)})")
            if rule.keep_last is not None and rank < rule.keep_last:
                reasons.append(f"#{rank + 1} newest (keep_last: {rule.keep_last})")
            age = ages[rank]
            if rule.ttl_seconds is not None and age <= rule.ttl_seconds:
                reasons.append(f"age {format_duration(age)} within ttl {rule.ttl_text}")
            if rule.keep_if:
                reasons.extend(_keep_if(rule, v, tops, ctx))
            if reasons:
                keep[v.number].extend(tag + r for r in reasons)
            else:
                go[v.number].append(tag + _go_reason(rule, rank, age))
    drafts = []
    for v in ordered:
        unprotected = tuple(a for a in v.aliases if a not in protected[v.number])
        drafts.append(_Draft(v, labels, keep[v.number], go[v.number], unprotected))
    return drafts


def _go_reason(rule: RetentionRule, rank: int, age: float) -> str:
    parts = []
    if rule.ttl_seconds is not None:
        parts.append(f"age {format_duration(age)} > ttl {rule.ttl_text}")
    if rule.keep_last is not None:
        parts.append(f"#{rank + 1} newest, beyond keep_last {rule.keep_last}")
    if rule.keep_if:
        parts.append("no keep_if passes")
    return ", ".join(parts)


@dataclass(frozen=True)
class _Top:
    gate: MetricGate
    ranks: Mapping[int, tuple[int, float]]  # version number -> (1-based rank, value), best N only


def _top(gate: MetricGate, versions: Sequence[Version]) -> _Top:
    """The best ``gate.top`` versions by the metric; missing and NaN never count. Ties go to
    the newer version, so the result does not depend on listing order."""
    scored = []
    for v in versions:
        value = v.metric(gate.metric)
        if value is None or math.isnan(value):
            continue
        scored.append((value, v.number))
    sign = -1.0 if gate.direction == "higher" else 1.0
    scored.sort(key=lambda t: (sign * t[0], -t[1]))
    n = gate.top or 0
    return _Top(gate, {number: (i + 1, value) for i, (value, number) in enumerate(scored[:n])})


def _keep_if(rule: RetentionRule, v: Version, tops: Sequence[_Top], ctx: gates_mod.Context) -> list[str]:
    reasons = []
    top_iter = iter(tops)
    for gate in rule.keep_if:
        if isinstance(gate, MetricGate) and gate.top is not None:
            top = next(top_iter)
            hit = top.ranks.get(v.number)
            if hit is not None and _within(gate, hit[1]):
                reasons.append(
                    f"keep_if {gates_mod.describe(gate)}: #{hit[0]} ({gate.metric} = {hit[1]:.6g})"
                )
            continue
        result = gates_mod.evaluate(gate, v, ctx)
        if result.passed:
            reasons.append(f"keep_if {result.gate}: {result.detail}")
    return reasons


def _within(gate: MetricGate, value: float) -> bool:
    """``top`` combined with min/max: only values inside the bounds count."""
    if gate.min is not None and value < gate.min:
        return False
    return not (gate.max is not None and value > gate.max)


def _protect_lineage(snapshot: Mapping[str, Sequence[Version]], draft: dict[VersionId, _Draft]) -> None:
    """Keep every version a kept version was derived from, transitively and across models.

    Versions of models no rule matches are all kept, so they protect their inputs too."""
    inputs: dict[VersionId, tuple[VersionId, ...]] = {}
    for versions in snapshot.values():
        for v in versions:
            if v.lineage:
                inputs[v.id] = v.lineage
    work: deque[VersionId] = deque(vid for vid in inputs if vid not in draft or not draft[vid].deleting)
    while work:
        kept = work.popleft()
        for source in inputs.get(kept, ()):
            d = draft.get(source)
            if d is None:
                continue  # unmatched model (kept anyway) or a version that no longer exists
            was_deleting = d.deleting
            d.dependants.append(kept)
            if was_deleting:
                work.append(source)


# -- execution -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    model: str
    number: int
    status: str  # deleted | skipped | gone | failed | not-started
    message: str = ""
    record: Mapping[str, Any] | None = None  # the sealed audit record of the deletion
    removed: tuple[Mapping[str, Any], ...] = ()  # sealed records of unprotected aliases removed first
    attempts: int = 0
    fatal: bool = False  # every other deletion would fail the same way (permission missing)

    def __str__(self) -> str:
        return f"{self.model}:v{self.number}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "version": self.number,
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

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        """0 done (skipped-because-aliased included: keeping it is the correct outcome),
        1 a deletion failed or auth is missing (or, with --native-ttl, W&B ignored or refused a
        TTL), 3 the deletion cap aborted the run, 128+N stopped by signal N."""
        if self.aborted:
            return int(ExitCode.BLOCKED)
        if self.signal is not None:
            return 128 + self.signal
        if self.count(FAILED) or self.stopped:
            return int(ExitCode.REGISTRY)
        if self.native_ttl is not None and self.native_ttl.exit_code:
            return int(self.native_ttl.exit_code)
        return int(ExitCode.OK)

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

    The deletion cap is checked first: over it, nothing is deleted. ``stop`` (set by a
    signal handler) ends the run after the batches in flight finish."""
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
    batch = getattr(registry, "delete_versions", None)
    if callable(batch):
        size = options.batch or int(getattr(registry, "delete_batch", 1))
        return batch, max(1, size)

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
        self, status: str, message: str, record: Mapping[str, Any] | None = None, *, fatal: bool = False
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
            job.removed.extend(_retrying(job, functools.partial(registry.apply, [op], [body]), options, stop))


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


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, received: list[int]) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT set ``stop`` (and are recorded) instead of killing the
    process, so in-flight deletions finish with their audit records. Outside the main
    thread (where Python cannot install handlers) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
