"""Retention planning: which versions `promote cleanup` deletes, and why each survivor stays.

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

Deleting what a plan lets go is :mod:`aliasgate.cleanup`'s job; nothing here writes.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aliasgate import gates as gates_mod
from aliasgate.durations import format_duration
from aliasgate.model import Principal, Version, VersionId, iso
from aliasgate.policy.model import MetricGate, RetentionRule
from aliasgate.registry import Registry

CLEANUP_FORMAT = 1
KEEP = "keep"
DELETE = "delete"
MAX_DEPENDANTS_SHOWN = 3


class OfVersion:
    """What a verdict or a deletion outcome is about: one version, ``model:vN``."""

    model: str
    number: int

    @property
    def id(self) -> VersionId:
        return VersionId(self.model, self.number)

    def __str__(self) -> str:
        return str(self.id)

    def _about(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.number}


@dataclass(frozen=True)
class Verdict(OfVersion):
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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self._about(),
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
    where = {"model_glob": model_glob, "policy_path": policy_path, "policy_sha256": policy_sha256}
    return decide(
        rules, snapshot, now=now, principal=principal, registry=registry.uri,
        lineage_recorded=registry.lineage_recorded, **where,
    )  # fmt: skip


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
    notes.extend(_lineage(snapshot, draft, lineage_recorded))
    verdicts = tuple(d.verdict() for d in draft.values())
    body = (registry, now, principal, verdicts, lineage_recorded, policy_path, policy_sha256, tuple(notes))
    return CleanupPlan(*body)


def _lineage(
    snapshot: Mapping[str, Sequence[Version]], draft: dict[VersionId, _Draft], recorded: bool
) -> list[str]:
    """Apply lineage protection where the registry records lineage; the notes the plan owes."""
    if not recorded:
        return [
            "this registry records no lineage: a version a kept version was derived from "
            "cannot be recognised, so lineage protection does not apply"
        ]
    _protect_lineage(snapshot, draft)
    blind = [
        v
        for versions in snapshot.values()
        for v in versions
        if not v.lineage_recorded and (v.id not in draft or not draft[v.id].deleting)
    ]
    if not blind:
        return []
    shown = ", ".join(str(v) for v in sorted(blind, key=lambda v: v.id)[:MAX_DEPENDANTS_SHOWN])
    more = ", ..." if len(blind) > MAX_DEPENDANTS_SHOWN else ""
    return [
        f"{len(blind)} kept version(s) record no lineage ({shown}{more}): "
        "whatever they were derived from is not protected by lineage"
    ]


def _holders(snapshot: Mapping[str, Sequence[Version]]) -> dict[tuple[str, str], Version]:
    return {(model, a): v for model, versions in snapshot.items() for v in versions for a in v.aliases}


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
            about = (v.model, v.number, v.created_at, v.aliases)
            return Verdict(*about, DELETE, tuple(self.go), self.rules, self.unprotected)
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
            held = [a for a in v.aliases if any(fnmatch.fnmatchcase(a, p) for p in rule.protect)]
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
    unprotected = {v.number: tuple(a for a in v.aliases if a not in protected[v.number]) for v in ordered}
    return [_Draft(v, labels, keep[v.number], go[v.number], unprotected[v.number]) for v in ordered]


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
    values = ((v.metric(gate.metric), v.number) for v in versions)
    scored = [(value, number) for value, number in values if value is not None and not math.isnan(value)]
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
