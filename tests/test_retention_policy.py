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
    ("months-ttl", "  - {model: m, ttl: 6mo}\n", 3, "$.retention[0].ttl", "no month or year unit"),
    ("capital-m-ttl", "  - {model: m, ttl: 1M}\n", 3, "$.retention[0].ttl", "write 180d or 26w"),
    ("years-ttl", "  - {model: m, ttl: 1y}\n", 3, "$.retention[0].ttl", "no month or year unit"),
    (
        "months-keep-if-max-age",
        "  - {model: m, ttl: 3d, keep_if: [{max_age: 2months}]}\n",
        3,
        "$.retention[0].keep_if[0].max_age",
        "no month or year unit",
    ),
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


# -- durations: `m` is minutes (as it always was), `min` says so plainly, months are refused --------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("30min", 1800),
        ("1d12h", 129600),
        ("2d8min", 2 * 86400 + 480),
        ("1h30m", 5400),
        ("2w", 1209600),
    ],
)
def test_durations_keep_their_meaning_and_min_is_minutes(text: str, seconds: int) -> None:
    (rule,) = load_text(HEAD + f"  - {{model: m, ttl: {text}}}\n", "p.yaml").retention
    assert (rule.ttl_seconds, rule.ttl_text) == (seconds, text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2 * 86400 + 8 * 60, "2d8min"),
        (12 * 60, "12min"),
        (45, "45s"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (90, "1min"),
    ],
)
def test_ages_print_minutes_as_min_and_read_back_the_same(seconds: int, text: str) -> None:
    from aliasgate.durations import format_duration, parse_duration

    assert format_duration(seconds) == text
    if seconds % 60 == 0:
        assert parse_duration(text) == seconds  # what is printed is what a policy would mean


@pytest.mark.parametrize("text", ["6mo", "1M", "2months", "1y", "3 yrs", "6 months"])
def test_a_month_or_year_duration_is_refused_with_the_hint(text: str) -> None:
    from aliasgate.durations import parse_duration
    from aliasgate.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"no month or year unit.*180d"):
        parse_duration(text)


def test_promote_check_exits_2_naming_file_line_and_path_for_a_month_ttl(tmp_path, cli) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.yaml"
    policy.write_text(HEAD + "  - model: m\n    ttl: 6mo\n", encoding="utf-8")
    run = cli("check", str(policy))
    assert run.code == 2
    assert f"{policy}:4:" in run.stderr and "$.retention[0].ttl" in run.stderr, run.stderr
    assert "no month or year unit" in run.stderr


def test_a_seed_age_in_months_is_refused(tmp_path, cli) -> None:  # type: ignore[no-untyped-def]
    seed = tmp_path / "seed.yaml"
    seed.write_text("format: 1\nmodels:\n  - name: m\n    versions:\n      - {number: 1, age: 6mo}\n")
    run = cli("registry", "import", str(seed), "--registry", f"local:{tmp_path / 'r.db'}")
    assert run.code == 2 and "no month or year unit" in run.output, run.output
    from aliasgate.registry.local import LocalRegistry

    assert LocalRegistry(tmp_path / "r.db").models() == []  # nothing imported
