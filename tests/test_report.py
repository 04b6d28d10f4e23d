"""promote report: versions, aliases, alias history and a Mermaid chart, as Markdown or JSON."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from aliasgate import audit, report
from aliasgate.errors import InvalidInput
from aliasgate.model import Version
from aliasgate.registry.local import LocalRegistry
from tests.conftest import Demo

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def v(n: int, **metrics: float) -> Version:
    return Version("m", n, T0 + timedelta(days=n), created_by="trainer", metrics=metrics)


def rep(versions: list[Version], **kw: Any) -> report.Report:
    base: dict[str, Any] = {
        "model": "m",
        "registry": "local:x.db",
        "aliases": {},
        "versions": tuple(sorted(versions, key=lambda x: -x.number)),
        "total_versions": len(versions),
        "history": (),
        "total_history": 0,
        "verification": audit.Verification(True, 0),
        "metric": "acc",
        "columns": ("acc",),
    }
    base.update(kw)
    return report.Report(**base)


def test_build_reads_the_demo(demo: Demo) -> None:
    reg = LocalRegistry(demo.db)
    try:
        r = report.build(reg, "bert-classifier", alias="production", candidate="staging")
    finally:
        reg.close()
    assert [x.number for x in r.versions] == [4, 3, 2, 1]
    assert r.metric == "val_f1"  # as many versions carry it as val_loss; alphabetical first
    assert r.columns == ("val_f1", "val_loss")
    assert (r.current, r.candidate) == (2, 4)
    assert [h["seq"] for h in r.history] == [2, 1]  # newest first
    assert r.verification.ok


def test_build_refuses_an_unknown_metric_alias_or_limit(demo: Demo) -> None:
    reg = LocalRegistry(demo.db)
    try:
        with pytest.raises(InvalidInput, match=r"metric 'f2'.*val_f1, val_loss"):
            report.build(reg, "bert-classifier", metric="f2")
        with pytest.raises(InvalidInput, match="no alias 'canary'"):
            report.build(reg, "bert-classifier", candidate="canary")
        with pytest.raises(InvalidInput, match="--limit"):
            report.build(reg, "bert-classifier", limit=0)
        assert report.build(reg, "bert-classifier", candidate="v3").candidate == 3
        assert report.build(reg, "bert-classifier", alias="latest").current == 4
    finally:
        reg.close()


def test_chart_marks_holder_and_candidate() -> None:
    r = rep([v(1, acc=0.8), v(2, acc=0.85), v(3, acc=0.9)], alias="production", current=2, candidate=3)
    assert report.mermaid_chart(r) == "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            '    title "m: acc"',
            '    x-axis ["v1", "v2 (production)", "v3 (candidate)"]',
            '    y-axis "acc" 0.785 --> 0.915',
            "    bar [0.8, 0.85, 0.9]",
            "    line [0.85, 0.85, 0.85]",
            "```",
        ]
    )


def test_chart_after_a_move() -> None:
    r = rep([v(1, acc=0.8), v(2, acc=0.9)], alias="production", current=1, candidate=2, moved=True)
    assert 'x-axis ["v1 (was production)", "v2 (production)"]' in report.mermaid_chart(r)
    assert "**production** moved v1 → v2 (acc 0.8 → 0.9, +0.1)" in report.markdown(r)


def test_marks_when_the_candidate_already_holds_the_alias() -> None:
    r = rep([v(1, acc=0.8), v(2, acc=0.9)], alias="production", current=2, candidate=2)
    assert "**production** holds v2 (acc 0.9) · candidate v2 already holds it" in report.markdown(r)
    assert 'x-axis ["v1", "v2 (production)"]' in report.mermaid_chart(r)


def test_chart_leaves_out_versions_without_a_finite_value() -> None:
    r = rep([v(1, acc=0.5), v(2), v(3, acc=math.nan), v(4, acc=0.7)])
    chart = report.mermaid_chart(r)
    assert 'x-axis ["v1", "v4"]' in chart and "bar [0.5, 0.7]" in chart
    assert "line" not in chart  # no alias asked about: no holder line


def test_no_chart_with_fewer_than_two_points() -> None:
    assert report.mermaid_chart(rep([v(1, acc=0.5), v(2)])) == ""
    assert "_Too few recent versions carry `acc` to chart._" in report.markdown(rep([v(1, acc=0.5)]))
    assert "_No version carries a metric to chart._" in report.markdown(rep([v(1)], metric=None, columns=()))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.8, 0.9], (0.785, 0.915)),
        ([0.01, 0.9], (0.0, 1.034)),  # a non-negative metric keeps a non-negative axis
        ([5.0, 5.0], (4.75, 5.25)),
        ([0.0, 0.0], (0.0, 1.0)),
        ([-3.0, -1.0], (-3.3, -0.7)),
    ],
)
def test_axis_range(values: list[float], expected: tuple[float, float]) -> None:
    assert report.axis_range(values) == expected


def test_labels_and_cells_cannot_break_out() -> None:
    evil = Version("m", 1, T0, created_by='a|b<script>"x"\n', metrics={"acc": 0.5})
    r = rep([evil, v(2, acc=0.6)], model='m"odel')
    md = report.markdown(r)
    assert 'a\\|b&lt;script&gt;"x" ' in md
    assert 'title "m\'odel: acc"' in md
    assert report.md_code("a`b") == "``a`b``"


def test_history_links_only_https_run_urls() -> None:
    history = (
        {
            "seq": 2,
            "at": "2026-11-02T10:00:00Z",
            "kind": "promote",
            "alias": "production",
            "from": 1,
            "to": 2,
            "principal": {"name": "ci"},
            "actor": "octocat",
            "rule": "ship",
            "ci": {"run_url": "https://github.com/acme/m/actions/runs/1"},
        },
        {
            "seq": 1,
            "at": "2026-11-01T10:00:00Z",
            "kind": "manual",
            "alias": "production",
            "from": None,
            "to": 1,
            "principal": {"name": "me"},
            "ci": {"run_url": "javascript:alert(1)"},
        },
    )
    md = report.markdown(rep([v(1, acc=0.5), v(2, acc=0.6)], history=history, total_history=5))
    assert (
        "| 2 | 2026-11-02 10:00:00 | promote | production | v1 → v2 | ci | octocat | ship | [run](https://github.com/acme/m/actions/runs/1) |"
        in md
    )
    assert "javascript" not in md
    assert "_3 older record(s): `promote history m`._" in md


def test_broken_audit_chain_is_shown() -> None:
    md = report.markdown(rep([v(1, acc=0.5)], verification=audit.Verification(False, 3, 2, "hash mismatch")))
    assert "**Audit chain BROKEN at record #2: hash mismatch**" in md


def test_json_is_strict_json_even_with_nan() -> None:
    from aliasgate.render import to_json

    data = report.as_dict(rep([v(1, acc=math.nan), v(2, acc=0.6)], alias="prod", current=2))
    text = to_json(data)  # allow_nan=False: would raise on a bare NaN
    assert json.loads(text)["versions"][1]["metrics"] == {"acc": "NaN"}
    assert json.loads(text)["chart"]["points"] == [{"version": 2, "value": 0.6}]


# -- the command ------------------------------------------------------------------------------------------------


def test_report_command_markdown_and_json(demo: Demo, cli: Any) -> None:
    md = cli("report", "bert-classifier", "--alias", "production", "--candidate", "staging", "-n", "3")
    assert md.code == 0, md.output
    assert md.stdout.startswith("## bert-classifier\n")
    assert 'x-axis ["v2 (production)", "v3", "v4 (candidate)"]' in md.stdout
    assert "_1 older version(s) not shown._" in md.stdout
    js = cli("report", "bert-classifier", "--format", "json", "--metric", "val_loss")
    assert js.code == 0, js.output
    data = json.loads(js.stdout)
    assert data["metric"] == "val_loss" and len(data["chart"]["points"]) == 4


def test_report_command_errors(demo: Demo, cli: Any) -> None:
    assert cli("report", "bert-classifier", "--metric", "nope").code == 2
    missing = cli("report", "no-such-model")
    assert missing.code == 1 and "no-such-model" in missing.stderr
    assert cli("report", "bert-classifier", "--format", "html").code == 2
