"""The `retention:` language: well-formed rules type correctly, malformed ones are reported
with file:line, the JSON path and a plain message (and `promote cleanup` exits 2)."""

from __future__ import annotations

import pytest

from aliasgate.errors import PolicyError
from aliasgate.policy import load_text
from aliasgate.policy.model import LineageGate, MaxAgeGate, MetadataGate, MetricGate

HEAD = "version: 1\nretention:\n"


def test_a_full_rule_types_correctly() -> None:
    policy = load_text(
        HEAD + "  - name: keep-best\n"
        "    model: 'bert-*'\n"
        "    ttl: 1d12h\n"
        "    keep_last: 5\n"
        "    protect: [production, 'release-*']\n"
        "    keep_if:\n"
        "      - {metric: val_f1, top: 3}\n"
        "      - {metric: val_loss, max: 0.3, direction: lower}\n"
        "      - {metadata: [pinned]}\n"
        "      - {lineage: {model: tok, alias: production}}\n"
        "      - {max_age: 2d}\n",
        "p.yaml",
    )
    (rule,) = policy.retention
    assert (rule.name, rule.pattern, rule.ttl_seconds, rule.ttl_text, rule.keep_last) == (
        "keep-best",
        "bert-*",
        129600,
        "1d12h",
        5,
    )
    assert rule.protect == ("production", "release-*")
    kinds = [type(g) for g in rule.keep_if]
    assert kinds == [MetricGate, MetricGate, MetadataGate, LineageGate, MaxAgeGate]
    assert rule.keep_if[0].top == 3  # type: ignore[union-attr]
    assert rule.loc.line == 3


def test_protect_defaults_to_any_alias() -> None:
    (rule,) = load_text(HEAD + "  - {model: m, ttl: 30d}\n", "p.yaml").retention
    assert rule.protect == ("*",)
    assert rule.label == "retention[m]"


CASES: list[tuple[str, str, int, str, str]] = [
    ("no-ttl-no-keep-last", "  - {model: m}\n", 3, "$.retention[0]", "needs ttl or keep_last"),
    ("missing-model", "  - {ttl: 3d}\n", 3, "$.retention[0]", "missing required key 'model'"),
    ("bad-ttl", "  - {model: m, ttl: 30 days}\n", 3, "$.retention[0].ttl", "bad duration"),
    ("zero-ttl", "  - {model: m, ttl: 0d}\n", 3, "$.retention[0].ttl", "longer than zero"),
    ("negative-keep-last", "  - {model: m, keep_last: -1}\n", 3, "$.retention[0].keep_last", "must be >= 0"),
    ("keep-last-not-int", "  - {model: m, keep_last: many}\n", 3, "$.retention[0].keep_last", "whole number"),
    (
        "protect-not-list",
        "  - {model: m, ttl: 3d, protect: production}\n",
        3,
        "$.retention[0].protect",
        "expected a list",
    ),
    (
        "unknown-key",
        "  - {model: m, ttl: 3d, keepif: []}\n",
        3,
        "$.retention[0].keepif",
        "did you mean 'keep_if'",
    ),
    (
        "top-zero",
        "  - {model: m, ttl: 3d, keep_if: [{metric: f1, top: 0}]}\n",
        3,
        "$.retention[0].keep_if[0].top",
        "must be >= 1",
    ),
    (
        "metric-without-bound",
        "  - {model: m, ttl: 3d, keep_if: [{metric: f1}]}\n",
        3,
        "$.retention[0].keep_if[0]",
        "needs min, max or top",
    ),
    (
        "beats-in-keep-if",
        "  - {model: m, ttl: 3d, keep_if: [{metric: f1, top: 2, beats: production}]}\n",
        3,
        "$.retention[0].keep_if[0].beats",
        "unknown key 'beats'",
    ),
    (
        "freeze-in-keep-if",
        "  - {model: m, ttl: 3d, keep_if: [{freeze: {windows: ['18:00-08:00']}}]}\n",
        3,
        "$.retention[0].keep_if[0]",
        "needs exactly one of: metric, metadata, lineage, max_age",
    ),
    (
        "of-in-keep-if",
        "  - model: m\n    ttl: 3d\n    keep_if:\n      - {metadata: [a], of: m}\n",
        6,
        "$.retention[0].keep_if[0].of",
        "a keep_if gate is about the version being kept",
    ),
    (
        "min-above-max",
        "  - {model: m, ttl: 3d, keep_if: [{metric: f1, min: 0.9, max: 0.1}]}\n",
        3,
        "$.retention[0].keep_if[0]",
        "no value can pass",
    ),
    (
        "duplicate-name",
        "  - {name: a, model: m, ttl: 3d}\n  - {name: a, model: n, ttl: 3d}\n",
        4,
        "$.retention[1].name",
        "duplicate retention rule name 'a'",
    ),
    ("retention-not-list", "  model: m\n", 3, "$.retention", "expected a list"),
]


@pytest.mark.parametrize(
    ("text", "line", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_retention_names_line_path_and_problem(
    text: str, line: int, path: str, fragment: str
) -> None:
    with pytest.raises(PolicyError) as info:
        load_text(HEAD + text, "policy.yaml")
    hits = [i for i in info.value.issues if i.path == path and fragment in i.message]
    assert hits, "\n".join(map(str, info.value.issues))
    assert hits[0].line == line
    assert str(hits[0]).startswith(f"policy.yaml:{line}:")


def test_every_problem_is_reported_in_one_pass() -> None:
    with pytest.raises(PolicyError) as info:
        load_text(HEAD + "  - {model: m}\n  - {model: n, ttl: soon}\n  - {ttl: 1d}\n", "policy.yaml")
    assert [i.path for i in info.value.issues] == ["$.retention[0]", "$.retention[1].ttl", "$.retention[2]"]
