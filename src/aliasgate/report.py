"""A model's report as Markdown or JSON: versions, aliases, the alias history, a metric chart.

The same Markdown serves ``promote report`` locally and the GitHub step summary,
where it sits under the plan. The chart is Mermaid ``xychart-beta``, which
GitHub renders in summaries, pull-request comments and README files: one bar
per recent version (oldest on the left), the holder of the alias in question
and the candidate named on the x axis, and a flat line at the holder's value
so a reader sees at once what the candidate has to beat.

:func:`build` reads the registry once; :func:`markdown` and :func:`as_dict`
are pure, so they are tested without a registry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aliasgate import audit
from aliasgate.errors import InvalidInput
from aliasgate.markdown import md_cell, md_code, mermaid_label
from aliasgate.model import Version, iso
from aliasgate.published import edge_text

DEFAULT_LIMIT = 10


class _Unset:
    """Marks "not given" where None is a meaningful value (an alias held by nothing)."""


UNSET = _Unset()
_VERSION_REF = re.compile(r"^v?(\d+)$")


@dataclass(frozen=True)
class Report:
    """What a reader needs to judge a promotion of one model."""

    model: str
    registry: str
    aliases: Mapping[str, int]
    versions: tuple[Version, ...]  # newest first, at most ``limit``
    total_versions: int
    history: tuple[Mapping[str, Any], ...]  # audit records, newest first, at most ``limit``
    total_history: int
    verification: audit.Verification
    metric: str | None  # the charted metric (None when no version has any metric)
    columns: tuple[str, ...]  # metric columns of the versions table
    alias: str | None = None  # the alias whose holder is "current"
    current: int | None = None  # that holder
    candidate: int | None = None  # the version that would take the alias
    moved: bool = False  # the candidate has taken the alias (a report after apply)

    def value(self, number: int | None) -> float | None:
        if number is None or self.metric is None:
            return None
        for v in self.versions:
            if v.number == number:
                return _finite(v.metric(self.metric))
        return None

    def points(self) -> list[tuple[Version, float]]:
        """(version, value) of the charted metric, oldest first; versions without it are left out."""
        if self.metric is None:
            return []
        out = []
        for v in reversed(self.versions):
            value = _finite(v.metric(self.metric))
            if value is not None:
                out.append((v, value))
        return out


def build(
    registry: Any,
    model: str,
    *,
    metric: str | None = None,
    limit: int = DEFAULT_LIMIT,
    alias: str | None = None,
    candidate: str | int | None = None,
    holder: int | _Unset | None = UNSET,
    moved: bool = False,
) -> Report:
    """Read versions, aliases and the audit log of ``model``.

    ``alias`` names the alias whose holder is marked "current"; ``candidate`` (a
    version number, ``v4`` or an alias such as ``staging``) is marked "new".
    A plan passes ``holder`` (the holder it saw) and, after apply, ``moved``."""
    if limit < 1:
        raise InvalidInput(f"--limit must be at least 1, not {limit}")
    versions = list(registry.versions(model))
    aliases = dict(registry.aliases(model))
    log = registry.audit_log(model)
    records = [dict(r) for r in log.records]
    verification = audit.verify(log)
    shown = tuple(versions[:limit])
    names = sorted({k for v in versions for k in v.metrics})
    if metric is not None and metric not in names:
        known = ", ".join(names) or "none"
        raise InvalidInput(f"no version of {model} has the metric {metric!r} (metrics: {known})")
    chosen = metric or _default_metric(shown, names)
    columns = tuple(dict.fromkeys([*([chosen] if chosen else []), *names]))[:6]
    current = aliases.get(alias) if alias else None
    if alias and alias not in aliases and alias != "latest":
        current = None
    if alias == "latest":
        current = versions[0].number if versions else None
    if not isinstance(holder, _Unset):
        current = holder
    return Report(
        model=model,
        registry=str(registry.uri),
        aliases=aliases,
        versions=shown,
        total_versions=len(versions),
        history=tuple(reversed(records))[:limit],
        total_history=len(records),
        verification=verification,
        metric=chosen,
        columns=columns,
        alias=alias,
        current=current,
        candidate=_resolve(candidate, aliases, model),
        moved=moved,
    )


def _resolve(ref: str | int | None, aliases: Mapping[str, int], model: str) -> int | None:
    if ref is None or isinstance(ref, int):
        return ref
    m = _VERSION_REF.match(ref)
    if m:
        return int(m.group(1))
    if ref not in aliases:
        raise InvalidInput(f"{model} has no alias {ref!r} (aliases: {', '.join(sorted(aliases)) or 'none'})")
    return aliases[ref]


def _default_metric(versions: Sequence[Version], names: Sequence[str]) -> str | None:
    """The metric most recent versions carry (ties: alphabetical), so the chart has the most bars."""
    if not names:
        return None
    counts = {n: sum(1 for v in versions if _finite(v.metric(n)) is not None) for n in names}
    return max(names, key=lambda n: (counts[n], -names.index(n)))


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


# -- Markdown -----------------------------------------------------------------------------------------


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return md_cell(value)


def _v(n: Any) -> str:
    return "—" if n is None else f"v{n}"


def markdown(report: Report, *, heading: int = 2) -> str:
    """The report as GitHub-flavoured Markdown (tables and a Mermaid chart)."""
    h = "#" * max(1, min(heading, 5))
    r = report
    aliases = ", ".join(f"{md_code(a)} → v{n}" for a, n in sorted(r.aliases.items())) or "none"
    lines = [
        f"{h} {md_cell(r.model)}",
        "",
        f"Registry {md_code(r.registry)} · {r.total_versions} version(s) · aliases: {aliases}",
        "",
    ]
    chart = mermaid_chart(r)
    if chart:
        lines += [f"{h}# {md_cell(r.metric)} across recent versions", "", chart, ""]
        marks = _marks_line(r)
        if marks:
            lines += [marks, ""]
    elif r.metric is None:
        lines += ["_No version carries a metric to chart._", ""]
    else:
        lines += [f"_Too few recent versions carry {md_code(r.metric)} to chart._", ""]
    lines += [f"{h}# Versions (newest first)", ""]
    lines += _versions_table(r)
    lines += ["", f"{h}# Alias history (newest first)", ""]
    lines += _history_table(r)
    lines.append("")
    v = r.verification
    if v.ok:
        lines.append(f"Audit chain verified: {v.checked} record(s), intact.")
    else:
        lines.append(f"**Audit chain BROKEN at record #{v.first_bad}: {md_cell(v.problem)}**")
    return "\n".join(lines).rstrip() + "\n"


def _marks_line(r: Report) -> str:
    if r.moved and r.alias is not None and r.candidate is not None:
        cur, new = r.value(r.current), r.value(r.candidate)
        text = f"**{md_cell(r.alias)}** moved {_v(r.current)} → v{r.candidate}"
        if cur is not None and new is not None:
            text += f" ({md_cell(r.metric)} {cur:.4g} → {new:.4g}, {new - cur:+.4g})"
        elif new is not None:
            text += f" ({md_cell(r.metric)} {new:.4g})"
        return text
    parts = []
    if r.alias is not None:
        if r.current is None:
            parts.append(f"**{md_cell(r.alias)}** holds nothing yet")
        else:
            parts.append(f"**{md_cell(r.alias)}** holds v{r.current} ({_metric_text(r, r.current)})")
    if r.candidate is not None and r.candidate == r.current and r.alias is not None:
        parts.append(f"candidate v{r.candidate} already holds it")
    elif r.candidate is not None:
        text = f"candidate v{r.candidate} ({_metric_text(r, r.candidate)}"
        cur, new = r.value(r.current), r.value(r.candidate)
        if cur is not None and new is not None and r.candidate != r.current:
            text += f", {new - cur:+.4g}"
        parts.append(text + ")")
    if parts and r.alias is not None and r.value(r.current) is not None:
        parts.append(f"the line marks the {md_cell(r.alias)} holder's value")
    return " · ".join(parts)


def _metric_text(r: Report, number: int) -> str:
    value = r.value(number)
    if value is None:
        shown = {v.number for v in r.versions}
        why = "not among the recent versions" if number not in shown else "missing"
        return f"{md_cell(r.metric)} {why}"
    return f"{md_cell(r.metric)} {value:.4g}"


def _versions_table(r: Report) -> list[str]:
    if not r.versions:
        return ["_No versions._"]
    head = ["version", "created (UTC)", "by", "aliases", *r.columns]
    rows = ["| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    newest = r.versions[0].number if r.total_versions else None
    for v in r.versions:
        names = [md_code(a) for a in v.aliases]
        if v.number == newest:
            names.append("_latest_")
        mark = ""
        if r.candidate == v.number and r.candidate != r.current:
            mark = " ▲ promoted" if r.moved else " ▲ candidate"
        cells = [
            f"v{v.number}{mark}",
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            md_cell(v.created_by or ""),
            " ".join(names),
            *[_num(v.metrics.get(c)) for c in r.columns],
        ]
        rows.append("| " + " | ".join(cells) + " |")
    if r.total_versions > len(r.versions):
        rows += ["", f"_{r.total_versions - len(r.versions)} older version(s) not shown._"]
    return rows


def _history_table(r: Report) -> list[str]:
    if not r.history:
        return ["_No audited moves yet._"]
    rows = [
        "| # | at (UTC) | kind | alias | from → to | principal | actor | rule | run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rec in r.history:
        ci = rec.get("ci") or {}
        run = f"[run]({ci['run_url']})" if ci.get("run_url") and _safe_url(ci["run_url"]) else ""
        if rec.get("kind") == "delete":
            move = f"v{rec.get('version')} deleted"
        elif (edge := edge_text(rec)) is not None:  # a publish: where it went, or where it came from
            move = md_cell(f"{edge[0]} → {edge[1]}")
        else:
            move = f"{_v(rec.get('from'))} → {_v(rec.get('to'))}"
        rows.append(
            "| "
            + " | ".join(
                [
                    md_cell(rec.get("seq", "")),
                    md_cell(str(rec.get("at", ""))[:19].replace("T", " ")),
                    md_cell(rec.get("kind", "")),
                    md_cell(rec.get("alias") or ""),
                    move,
                    md_cell((rec.get("principal") or {}).get("name", "")),
                    md_cell(rec.get("actor") or ""),
                    md_cell(rec.get("rule") or ""),
                    run,
                ]
            )
            + " |"
        )
    if r.total_history > len(r.history):
        rows += [
            "",
            f"_{r.total_history - len(r.history)} older record(s): {md_code(f'promote history {r.model}')}._",
        ]
    return rows


def _safe_url(url: str) -> bool:
    return bool(re.match(r"^https://[^\s()<>\[\]]+$", url))


# -- Mermaid -------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def axis_range(values: Sequence[float]) -> tuple[float, float]:
    """A y range a little wider than the data, so the smallest bar is still visible."""
    lo, hi = min(values), max(values)
    span = hi - lo
    pad = span * 0.15 if span > 0 else (abs(hi) * 0.05 or 1.0)
    low = lo - pad
    if lo >= 0 > low:
        low = 0.0  # a non-negative metric keeps a non-negative axis
    return float(f"{low:.4g}"), float(f"{hi + pad:.4g}")


def mermaid_chart(report: Report) -> str:
    """A fenced ``mermaid`` xychart of the metric over recent versions, or "" with under two points."""
    points = report.points()
    if len(points) < 2 or report.metric is None:
        return ""
    labels = []
    for v, _ in points:
        label = f"v{v.number}"
        is_new = report.candidate is not None and v.number == report.candidate != report.current
        if report.alias is not None and v.number == report.current:
            label += (
                f" (was {report.alias})"
                if report.moved and report.candidate is not None
                else f" ({report.alias})"
            )
        if is_new:
            label += f" ({report.alias})" if report.moved and report.alias else " (candidate)"
        labels.append(label)
    values = [value for _, value in points]
    lo, hi = axis_range(values)
    metric = mermaid_label(report.metric)
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "{mermaid_label(report.model)}: {metric}"',
        "    x-axis [" + ", ".join(f'"{mermaid_label(x)}"' for x in labels) + "]",
        f'    y-axis "{metric}" {_fmt(lo)} --> {_fmt(hi)}',
        "    bar [" + ", ".join(_fmt(x) for x in values) + "]",
    ]
    holder = report.value(report.current)
    if holder is not None:
        lines.append("    line [" + ", ".join(_fmt(holder) for _ in values) + "]")
    lines.append("```")
    return "\n".join(lines)


# -- JSON ----------------------------------------------------------------------------------------------


def as_dict(report: Report) -> dict[str, Any]:
    r = report
    return {
        "model": r.model,
        "registry": r.registry,
        "aliases": dict(r.aliases),
        "total_versions": r.total_versions,
        "versions": [
            {
                "version": v.number,
                "created_at": iso(v.created_at),
                "created_by": v.created_by,
                "aliases": list(v.aliases),
                "metrics": audit.jsonable(dict(v.metrics)),
                "metadata": audit.jsonable(dict(v.metadata)),
                "lineage": [str(i) for i in v.lineage],
            }
            for v in r.versions
        ],
        "metric": r.metric,
        "chart": {
            "metric": r.metric,
            "points": [{"version": v.number, "value": value} for v, value in r.points()],
            "alias": r.alias,
            "current": r.current,
            "candidate": r.candidate,
            "moved": r.moved,
        },
        "history": [audit.jsonable(dict(h)) for h in r.history],
        "total_history": r.total_history,
        "verification": r.verification.as_dict(),
    }
