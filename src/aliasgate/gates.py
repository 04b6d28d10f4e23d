"""Gates: pure functions from a gate and what the registry showed to a verdict with evidence.

Rules of evaluation, the same for every gate:
* fail closed: a missing metric, a NaN, an unreadable value, unknown lineage fail;
* every gate reports the value it observed, pass or fail;
* the caller evaluates every gate of a rule even after one fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aliasgate.durations import format_duration
from aliasgate.model import Principal, Version
from aliasgate.policy.model import (
    ApprovalsGate,
    FreezeGate,
    Gate,
    LineageGate,
    MaxAgeGate,
    MetadataGate,
    MetricGate,
    PrincipalsGate,
    SoakGate,
)
from aliasgate.published import promoted_record, publish_record, same_model

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.audit import AuditLog

# Margins are compared with this relative tolerance, so 0.3 beats 0.1 by 0.2 even in binary floats.
EPSILON = 1e-9


@dataclass(frozen=True)
class GateResult:
    kind: str
    gate: str  # the gate as a person reads it: "val_f1 >= 0.89"
    passed: bool
    observed: Any  # what the registry showed (JSON-able)
    detail: str  # why it passed or failed
    model: str | None = None
    line: int | None = None
    path: str | None = None
    # For gates that depend on when and by whom a plan is applied (freeze, principals):
    # their definition, so a saved plan can be re-checked at apply time.
    spec: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        from aliasgate.audit import jsonable

        out = {
            "kind": self.kind,
            "gate": self.gate,
            "passed": self.passed,
            "observed": jsonable(self.observed),
            "detail": self.detail,
        }
        if self.model:
            out["model"] = self.model
        if self.line:
            out["line"] = self.line
        if self.spec:
            out["spec"] = dict(self.spec)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        return cls(
            kind=data["kind"],
            gate=data["gate"],
            passed=bool(data["passed"]),
            observed=data.get("observed"),
            detail=data.get("detail", ""),
            model=data.get("model"),
            line=data.get("line"),
            spec=data.get("spec"),
        )


@dataclass(frozen=True)
class Context:
    """What gates may look at.

    ``holder(model, alias)`` is the version holding an alias now (the champion for
    ``beats``); ``after(model, alias)`` answers as the registry will look once the
    rule applies, so a lineage gate about a model moving in the same bundle checks
    against its new holder."""

    now: datetime
    principal: Principal
    holder: Callable[[str, str], Version | None]
    after: Callable[[str, str], Version | None] | None = None
    #: a model's audit records and whether its chain verified (lineage gates with ``rule``)
    records: Callable[[str], tuple[Sequence[Mapping[str, Any]], bool]] | None = None
    #: a model's audit trail (soak and approvals read it); None: gates that need it fail closed
    audit: Callable[[str], AuditLog] | None = None


def evaluate(gate: Gate, candidate: Version | None, ctx: Context) -> GateResult:
    """One gate against one candidate (None when the rule has no candidate)."""
    line = gate.loc.line or None
    path = gate.loc.path
    if isinstance(gate, PrincipalsGate):
        spec: dict[str, Any] = {"principals": list(gate.names)}
        return _done(_principals(gate, ctx), line, path, spec=spec)
    if isinstance(gate, FreezeGate):
        spec = {"freeze": {"windows": [w.text for w in gate.windows], "tz": gate.tz}}
        return _done(_freeze(gate, ctx), line, path, spec=spec)
    if candidate is None:
        return GateResult(gate.kind, describe(gate), False, None, "no candidate to check", None, line, path)
    if isinstance(gate, MetricGate):
        result = _metric(gate, candidate, ctx)
    elif isinstance(gate, MetadataGate):
        result = _metadata(gate, candidate)
    elif isinstance(gate, LineageGate):
        result = _lineage(gate, candidate, ctx)
    elif isinstance(gate, MaxAgeGate):
        result = _max_age(gate, candidate, ctx)
    elif isinstance(gate, SoakGate):
        result = _soak(gate, candidate, ctx)
    else:  # pragma: no cover - the Gate union is closed
        raise TypeError(gate)
    return _done(result, line, path, model=candidate.model)


def _done(
    result: GateResult,
    line: int | None,
    path: str,
    model: str | None = None,
    spec: dict[str, Any] | None = None,
) -> GateResult:
    return GateResult(
        result.kind, result.gate, result.passed, result.observed, result.detail, model, line, path, spec
    )


def recheck(spec: Mapping[str, Any], ctx: Context) -> GateResult | None:
    """Re-evaluate a time- or principal-bound gate of a saved plan at apply time."""
    from aliasgate.freeze import parse_window

    if "freeze" in spec:
        f = spec["freeze"]
        return _freeze(FreezeGate(tuple(parse_window(w) for w in f["windows"]), f.get("tz", "UTC")), ctx)
    if "principals" in spec:
        return _principals(PrincipalsGate(tuple(spec["principals"])), ctx)
    return None


def describe(gate: Gate) -> str:
    """The gate as one line: what it requires."""
    if isinstance(gate, MetricGate):
        parts = []
        if gate.min is not None:
            parts.append(f"{gate.metric} >= {gate.min:g}")
        if gate.max is not None:
            parts.append(f"{gate.metric} <= {gate.max:g}")
        if gate.beats is not None:
            margin = f"{gate.by * 100:g}%" if gate.relative else f"{gate.by:g}"
            better = "higher" if gate.direction == "higher" else "lower"
            by = f" by {margin}" if gate.by else ""
            parts.append(f"{gate.metric} beats {gate.beats}{by} ({better} is better)")
        if gate.top is not None:
            parts.append(f"top {gate.top} by {gate.metric} ({gate.direction} is better)")
        text = " and ".join(parts)
    elif isinstance(gate, MetadataGate):
        if gate.keys:
            text = "metadata has " + ", ".join(gate.keys)
        else:
            text = "metadata " + ", ".join(f"{k}={v}" for k, v in gate.values.items())
    elif isinstance(gate, LineageGate):
        text = f"derived from {gate.model}" + (f":{gate.alias}" if gate.alias else "")
        text += f" via rule {gate.rule}" if gate.rule else ""
    elif isinstance(gate, MaxAgeGate):
        text = f"younger than {gate.text}"
    elif isinstance(gate, SoakGate):
        from aliasgate import soak

        text = soak.describe(gate)
    elif isinstance(gate, ApprovalsGate):
        from aliasgate import approvals

        text = approvals.describe(gate)
    elif isinstance(gate, FreezeGate):
        text = f"outside freeze {'; '.join(w.text for w in gate.windows)} ({gate.tz})"
    else:
        text = "applied by " + ", ".join(gate.names)
    of = getattr(gate, "of", None)
    return f"{of}: {text}" if of else text


def _fmt(value: float | None) -> str:
    if value is None:
        return "missing"
    return "NaN" if math.isnan(value) else f"{value:.6g}"


def _metric(gate: MetricGate, cand: Version, ctx: Context) -> GateResult:
    label = describe(gate)
    value = cand.metric(gate.metric)
    if value is None:
        raw = cand.metrics.get(gate.metric)
        why = "is missing" if raw is None else f"is not a number ({raw!r})"
        return GateResult("metric", label, False, raw, f"{gate.metric} {why} on {cand} (fails closed)")
    if math.isnan(value) or math.isinf(value):
        return GateResult(
            "metric", label, False, value, f"{gate.metric} is {_fmt(value)} on {cand} (fails closed)"
        )
    checks: list[tuple[bool, str]] = []
    observed: Any = value
    if gate.min is not None:
        checks.append((value >= gate.min, f"{_fmt(value)} {'>=' if value >= gate.min else '<'} {gate.min:g}"))
    if gate.max is not None:
        checks.append((value <= gate.max, f"{_fmt(value)} {'<=' if value <= gate.max else '>'} {gate.max:g}"))
    if gate.beats is not None:
        passed, detail, observed = _beats(gate, cand, value, ctx)
        checks.append((passed, detail))
    return GateResult("metric", label, all(ok for ok, _ in checks), observed, "; ".join(d for _, d in checks))


def _beats(gate: MetricGate, cand: Version, value: float, ctx: Context) -> tuple[bool, str, Any]:
    assert gate.beats is not None
    champion = ctx.holder(cand.model, gate.beats)
    if champion is None:
        return (
            True,
            f"nothing holds {cand.model}:{gate.beats} yet: nothing to beat (passes)",
            {
                "candidate": value,
                "champion": None,
            },
        )
    if champion.number == cand.number:
        return True, f"{cand} already holds {gate.beats}", {"candidate": value, "champion": value}
    theirs = champion.metric(gate.metric)
    observed = {"candidate": value, "champion": theirs, "champion_version": str(champion)}
    if theirs is None or math.isnan(theirs) or math.isinf(theirs):
        return (
            False,
            f"champion {champion} has {gate.metric} {_fmt(theirs)}: cannot compare (fails closed)",
            observed,
        )
    gain = value - theirs if gate.direction == "higher" else theirs - value
    if gate.relative:
        if theirs == 0:
            needed = 0.0
            passed = gain > 0
            how = "champion is 0: must be strictly better"
        else:
            needed = gate.by * abs(theirs)
            passed = gain > 0 and gain >= needed - EPSILON * max(1.0, abs(theirs))
            how = f"needs {gate.by * 100:g}% = {needed:.6g}"
    elif gate.by > 0:
        needed = gate.by
        passed = gain >= needed - EPSILON * max(1.0, abs(value), abs(theirs))
        how = f"needs {gate.by:g}"
    else:
        needed = 0.0
        passed = gain > 0
        how = "must be strictly better"
    observed["gain"] = gain
    verb = "beats" if passed else "does not beat"
    return passed, f"{_fmt(value)} {verb} {champion}'s {_fmt(theirs)} (gain {gain:+.6g}, {how})", observed


def _metadata(gate: MetadataGate, cand: Version) -> GateResult:
    label = describe(gate)
    md = cand.metadata
    if gate.keys:
        missing = [k for k in gate.keys if md.get(k) in (None, "")]
        observed = {k: md.get(k) for k in gate.keys}
        if missing:
            return GateResult("metadata", label, False, observed, f"{cand} lacks {', '.join(missing)}")
        return GateResult("metadata", label, True, observed, "all present")
    wrong = {k: md.get(k) for k, want in gate.values.items() if not _same(md.get(k), want)}
    observed = {k: md.get(k) for k in gate.values}
    if wrong:
        shown = ", ".join(f"{k}={v!r} (want {gate.values[k]!r})" for k, v in wrong.items())
        return GateResult("metadata", label, False, observed, f"{cand} has {shown}")
    return GateResult("metadata", label, True, observed, "all match")


def _same(have: Any, want: Any) -> bool:
    """Equal, or equal as text: MLflow tags are strings, so '10' matches 10 and 'true' matches true."""
    if have is None:
        return False
    if have == want and type(have) is type(want):
        return True
    if isinstance(want, bool) or isinstance(have, bool):
        return str(have).lower() == str(want).lower()
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        try:
            return float(have) == float(want)
        except (TypeError, ValueError):
            return False
    return str(have) == str(want)


def _lineage(gate: LineageGate, cand: Version, ctx: Context) -> GateResult:
    label = describe(gate)
    origin = cand.published_from
    published = [origin] if origin is not None and same_model(origin.model, gate.model) else []
    if not cand.lineage_recorded and not published:
        return GateResult(
            "lineage", label, False, None, f"the registry records no lineage for {cand} (fails closed)"
        )
    inputs = [str(i) for i in cand.lineage]
    mine = published + [i for i in cand.lineage if same_model(i.model, gate.model)]
    if not mine:
        shown = ", ".join(inputs) or "none"
        return GateResult(
            "lineage", label, False, inputs, f"{cand} was not derived from {gate.model} (inputs: {shown})"
        )
    if gate.alias is None:
        if gate.rule is not None:
            return _published_by(gate, cand, mine, ctx, label, inputs)
        return GateResult("lineage", label, True, inputs, f"derived from {', '.join(str(i) for i in mine)}")
    target = (ctx.after or ctx.holder)(gate.model, gate.alias)
    if target is None:
        return GateResult("lineage", label, False, inputs, f"nothing holds {gate.model}:{gate.alias}")
    ok = any(i.number == target.number for i in mine)
    if ok and gate.rule is not None:
        return _published_by(gate, cand, [i for i in mine if i.number == target.number], ctx, label, inputs)
    detail = (
        f"derived from {target} = {gate.model}:{gate.alias}"
        if ok
        else f"derived from {', '.join(str(i) for i in mine)}, but {gate.model}:{gate.alias} is {target}"
    )
    return GateResult("lineage", label, ok, {"inputs": inputs, "required": str(target)}, detail)


def _published_by(
    gate: LineageGate, cand: Version, mine: Sequence[Any], ctx: Context, label: str, inputs: list[str]
) -> GateResult:
    """Was ``cand`` published from one of ``mine`` by ``gate.rule``, its gates passed? The source
    chain's ``publish`` record says so; a chain that does not verify is not believed."""
    for src in mine:
        records, intact = ctx.records(src.model) if ctx.records else ((), False)
        rec = publish_record(records, src.number, cand.model, cand.number, rule=gate.rule) if intact else None
        if (
            rec is None and ctx.records and gate.rule
        ):  # the destination's side of the edge (source only readable)
            records, intact = ctx.records(cand.model)
            rec = promoted_record(records, src, cand.number, rule=gate.rule) if intact else None
        if rec is not None:
            detail = f"published from {src} by rule {gate.rule} (audit #{rec.get('seq')}, gates passed)"
            return GateResult("lineage", label, True, {"inputs": inputs, "record": rec.get("seq")}, detail)
    shown = ", ".join(str(i) for i in mine)
    return GateResult(
        "lineage",
        label,
        False,
        inputs,
        f"no verified record that rule {gate.rule} published {cand} from {shown}",
    )


def _max_age(gate: MaxAgeGate, cand: Version, ctx: Context) -> GateResult:
    age = (ctx.now - cand.created_at).total_seconds()
    ok = age <= gate.seconds
    observed = {"age": format_duration(age), "created_at": cand.created_at.isoformat()}
    verb = "<=" if ok else ">"
    return GateResult(
        "max_age", describe(gate), ok, observed, f"age {format_duration(age)} {verb} {gate.text}"
    )


def _soak(gate: SoakGate, cand: Version, ctx: Context) -> GateResult:
    from aliasgate import soak

    if ctx.audit is None:  # pragma: no cover - the planner always gives the trail
        return GateResult("soak", describe(gate), False, None, "no audit trail to read (fails closed)")
    holder = ctx.holder(cand.model, gate.alias)
    passed, observed, detail = soak.evaluate(
        gate, cand, holder.number if holder else None, ctx.audit, ctx.now
    )
    return GateResult("soak", describe(gate), passed, observed, detail)


def _freeze(gate: FreezeGate, ctx: Context) -> GateResult:
    from zoneinfo import ZoneInfo

    local = ctx.now.astimezone(ZoneInfo(gate.tz))
    wall = local.replace(tzinfo=None)
    hits = [w.text for w in gate.windows if w.contains(wall)]
    shown = local.strftime("%a %Y-%m-%d %H:%M %Z")
    if hits:
        return GateResult("freeze", describe(gate), False, shown, f"{shown} is inside freeze {hits[0]!r}")
    return GateResult("freeze", describe(gate), True, shown, f"{shown} is outside every freeze window")


def _principals(gate: PrincipalsGate, ctx: Context) -> GateResult:
    p = ctx.principal
    observed = {"name": p.name, "authenticated": p.authenticated, "source": p.source}
    if p.name not in gate.names:
        return GateResult(
            "principals", describe(gate), False, observed, f"{p.name!r} may not apply this rule"
        )
    if p.authenticated:
        return GateResult(
            "principals", describe(gate), True, observed, f"{p.name!r} authenticated by the registry"
        )
    return GateResult(
        "principals",
        describe(gate),
        True,
        observed,
        f"{p.name!r} from {p.source} (this registry does not authenticate; trusted as configured)",
    )
