"""The model reports a plan, an apply or a rollback carries for the GitHub step summary: read from the
registry by the core, rendered to Markdown by :mod:`aliasgate.summary`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aliasgate import report, secrets
from aliasgate.report import Report


@dataclass(frozen=True)
class Unavailable:
    """A report that could not be read (the summary is a courtesy: never fail a command over it)."""

    model: str
    reason: str


ModelReport = Report | Unavailable


def _first_metric(rule: Any, model: str) -> str | None:
    """The metric of the rule's first metric gate about ``model`` (the one worth charting)."""
    known = rule.metrics.get(model) or {}
    for g in rule.gates:
        if g.kind != "metric" or (g.model not in (None, model)):
            continue
        label = g.gate.split(": ", 1)[1] if g.model and g.gate.startswith(f"{g.model}: ") else g.gate
        name = label.split(" ", 1)[0]
        if name in known:
            return str(name)
    return None


def for_plan(plan: Any, registry: Any, *, moved: Iterable[str] = ()) -> list[ModelReport]:
    """A report of every model the plan looks at, marking holder and candidate."""
    done = set(moved)
    out: list[ModelReport] = []
    seen: set[str] = set()
    for r in plan.rules:
        for m in r.models:
            if m in seen:
                continue
            seen.add(m)
            try:
                out.append(
                    report.build(
                        registry,
                        m,
                        metric=_first_metric(r, m),
                        alias=r.to,
                        candidate=r.candidates.get(m),
                        holder=r.holders.get(m),
                        moved=m in done,
                    )
                )
            except Exception as exc:
                out.append(Unavailable(m, secrets.redact(str(exc))))
    return out


def for_rollback(
    registry: Any, model: str, alias: str, current: int | None, target: int | None, moved: bool
) -> list[ModelReport]:
    try:
        return [report.build(registry, model, alias=alias, candidate=target, holder=current, moved=moved)]
    except Exception as exc:
        return [Unavailable(model, secrets.redact(str(exc)))]
