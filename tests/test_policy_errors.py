"""Malformed policies: every kind of mistake exits 2 naming file:line, the JSON path and a plain
message, and nothing reaches the registry."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from aliasgate.errors import PolicyError
from aliasgate.policy import load_text

HEAD = "version: 1\npromotions:\n"
RULE = "  - name: ship\n    model: m\n    from: staging\n    to: production\n"


def gates(*lines: str) -> str:
    return HEAD + RULE + "    gates:\n" + "".join(f"      - {line}\n" for line in lines)


# (id, policy text, line, JSON path, message fragment)
CASES: list[tuple[str, str, int, str, str]] = [
    ("yaml-syntax", "version: 1\npromotions: [\n", 3, "$", "invalid YAML"),
    ("yaml-tab-indent", "version: 1\npromotions:\n\t- name: x\n", 3, "$", "invalid YAML"),
    (
        "python-tag",
        "version: 1\nregistry: !!python/object:os.system ls\n",
        2,
        "$.registry",
        "invalid YAML value",
    ),
    ("not-a-mapping", "- just\n- a list\n", 1, "$", "expected a mapping"),
    ("empty-file", "# nothing here\n", 1, "$", "the policy is empty"),
    ("missing-version", "promotions: []\n", 1, "$", "missing required key 'version'"),
    ("wrong-version", "version: 2\n", 1, "$.version", "version must be 1"),
    ("unknown-top-key", "version: 1\npromotion: []\n", 2, "$.promotion", "did you mean 'promotions'"),
    ("bad-registry-uri", "version: 1\nregistry: s3://bucket\n", 2, "$.registry", "expected a registry URI"),
    ("promotions-not-list", "version: 1\npromotions: {name: x}\n", 2, "$.promotions", "expected a list"),
    ("duplicate-key", HEAD + RULE + "    to: prod\n", 7, "$.promotions[0].to", "duplicate key 'to'"),
    (
        "missing-name",
        HEAD + "  - model: m\n    from: a\n    to: b\n",
        3,
        "$.promotions[0]",
        "missing required key 'name'",
    ),
    (
        "missing-from",
        HEAD + "  - name: x\n    model: m\n    to: b\n",
        3,
        "$.promotions[0]",
        "missing required key 'from'",
    ),
    (
        "bad-rule-name",
        HEAD + "  - name: '-ship'\n    model: m\n    from: a\n    to: b\n",
        3,
        "$.promotions[0].name",
        "a rule name uses letters",
    ),
    ("duplicate-rule-name", HEAD + RULE + RULE, 7, "$.promotions[1].name", "duplicate rule name 'ship'"),
    (
        "from-equals-to",
        HEAD + "  - name: x\n    model: m\n    from: prod\n    to: prod\n",
        6,
        "$.promotions[0].to",
        "`from` and `to` are the same alias",
    ),
    (
        "to-reserved-latest",
        HEAD + "  - name: x\n    model: m\n    from: staging\n    to: latest\n",
        6,
        "$.promotions[0].to",
        "'latest' and 'v<number>' are reserved",
    ),
    (
        "to-version",
        HEAD + "  - name: x\n    model: m\n    from: staging\n    to: v3\n",
        6,
        "$.promotions[0].to",
        "reserved",
    ),
    (
        "model-and-bundle",
        HEAD + "  - name: x\n    model: m\n    bundle: [a, b]\n    from: s\n    to: p\n",
        3,
        "$.promotions[0]",
        "either `model` or `bundle`",
    ),
    (
        "neither-model-nor-bundle",
        HEAD + "  - name: x\n    from: s\n    to: p\n",
        3,
        "$.promotions[0]",
        "needs exactly one of: model, bundle",
    ),
    (
        "bundle-of-one",
        HEAD + "  - name: x\n    bundle: [a]\n    from: s\n    to: p\n",
        4,
        "$.promotions[0].bundle",
        "at least 2",
    ),
    (
        "model-with-colon",
        HEAD + "  - name: x\n    model: 'a:b'\n    from: s\n    to: p\n",
        4,
        "$.promotions[0].model",
        "cannot contain ':'",
    ),
    (
        "unknown-rule-key",
        HEAD + RULE + "    colour: red\n",
        7,
        "$.promotions[0].colour",
        "unknown key 'colour'",
    ),
    (
        "remove-from-version",
        HEAD + "  - name: x\n    model: m\n    from: v3\n    to: p\n    remove_from: true\n",
        7,
        "$.promotions[0].remove_from",
        "needs `from` to be an alias",
    ),
    ("gate-no-kind", gates("{foo: 1}"), 8, "$.promotions[0].gates[0]", "needs exactly one of: metric"),
    (
        "gate-two-kinds",
        gates("{metric: f1, min: 1, metadata: [a]}"),
        8,
        "$.promotions[0].gates[0]",
        "found metric and metadata",
    ),
    (
        "unknown-comparison",
        gates("{metric: f1, above: 0.9}"),
        8,
        "$.promotions[0].gates[0].above",
        "unknown key 'above' in a metric gate",
    ),
    ("metric-no-comparison", gates("{metric: f1}"), 8, "$.promotions[0].gates[0]", "needs a comparison"),
    (
        "min-not-number",
        gates("{metric: f1, min: '0.9x'}"),
        8,
        "$.promotions[0].gates[0].min",
        "expected a number, got string '0.9x'",
    ),
    (
        "min-above-max",
        gates("{metric: f1, min: 0.9, max: 0.1}"),
        8,
        "$.promotions[0].gates[0]",
        "min (0.9) is greater than max (0.1)",
    ),
    (
        "by-without-beats",
        gates("{metric: f1, min: 1, by: 0.1}"),
        8,
        "$.promotions[0].gates[0].by",
        "only applies together with `beats`",
    ),
    (
        "bad-margin",
        gates("{metric: f1, beats: production, by: 'lots'}"),
        8,
        "$.promotions[0].gates[0].by",
        "percentage like '1%'",
    ),
    (
        "bad-direction",
        gates("{metric: loss, beats: production, direction: smaller}"),
        8,
        "$.promotions[0].gates[0].direction",
        "expected one of higher, lower",
    ),
    ("typo-in-key", gates("{metric: f1, mni: 0.9}"), 8, "$.promotions[0].gates[0].mni", "did you mean 'min'"),
    ("bad-duration", gates("{max_age: 14 days}"), 8, "$.promotions[0].gates[0].max_age", "bad duration"),
    ("zero-duration", gates("{max_age: 0d}"), 8, "$.promotions[0].gates[0].max_age", "longer than zero"),
    (
        "metadata-empty",
        gates("{metadata: []}"),
        8,
        "$.promotions[0].gates[0].metadata",
        "list of required keys",
    ),
    (
        "metadata-nested-value",
        gates("{metadata: {a: {b: c}}}"),
        8,
        "$.promotions[0].gates[0].metadata",
        "mapping of key to required value",
    ),
    (
        "lineage-missing-model",
        gates("{lineage: {alias: production}}"),
        8,
        "$.promotions[0].gates[0].lineage",
        "missing required key 'model'",
    ),
    (
        "freeze-bad-window",
        gates("{freeze: {windows: ['Friday 16:00-Mon 08:00']}}"),
        8,
        "$.promotions[0].gates[0].freeze.windows[0]",
        "a freeze window is",
    ),
    (
        "freeze-bad-time",
        gates("{freeze: {windows: ['Fri 25:00-Mon 08:00']}}"),
        8,
        "$.promotions[0].gates[0].freeze.windows[0]",
        "25:00 is not a time of day",
    ),
    (
        "freeze-empty-window",
        gates("{freeze: {windows: ['Fri 16:00-Fri 16:00']}}"),
        8,
        "$.promotions[0].gates[0].freeze.windows[0]",
        "is empty",
    ),
    (
        "freeze-bad-tz",
        gates("{freeze: {windows: ['18:00-08:00'], tz: Mars/Olympus}}"),
        8,
        "$.promotions[0].gates[0].freeze.tz",
        "unknown time zone 'Mars/Olympus'",
    ),
    (
        "freeze-dates-reversed",
        gates("{freeze: {windows: ['2026-12-27..2026-12-24']}}"),
        8,
        "$.promotions[0].gates[0].freeze.windows[0]",
        "ends before it starts",
    ),
    ("principals-empty", HEAD + RULE + "    principals: []\n", 7, "$.promotions[0].principals", "at least 1"),
    (
        "of-outside-bundle",
        HEAD + "  - name: x\n    bundle: [a, b]\n    from: s\n    to: p\n    gates:\n"
        "      - {metric: f1, min: 1, of: c}\n",
        8,
        "$.promotions[0].gates[0].of",
        "not in the bundle",
    ),
    (
        "retention-no-limit",
        "version: 1\nretention:\n  - model: m\n",
        3,
        "$.retention[0]",
        "needs ttl or keep_last",
    ),
    (
        "retention-negative-keep",
        "version: 1\nretention:\n  - {model: m, keep_last: -1}\n",
        3,
        "$.retention[0].keep_last",
        "must be >= 0",
    ),
    (
        "retention-bad-ttl",
        "version: 1\nretention:\n  - {model: m, ttl: 30 days}\n",
        3,
        "$.retention[0].ttl",
        "bad duration",
    ),
    (
        "keep-if-freeze",
        "version: 1\nretention:\n  - {model: m, ttl: 1d, keep_if: [{freeze: {windows: ['18:00-08:00']}}]}\n",
        3,
        "$.retention[0].keep_if[0]",
        "needs exactly one of",
    ),
]


def test_at_least_thirty_distinct_kinds() -> None:
    assert len({c[0] for c in CASES}) >= 30


@pytest.mark.parametrize(
    ("text", "line", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_loader_reports_line_path_and_message(text: str, line: int, path: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_text(text, "policy.yaml")
    issues = info.value.issues
    match = [i for i in issues if fragment in i.message]
    assert match, f"no issue mentions {fragment!r}: {[str(i) for i in issues]}"
    assert (match[0].line, match[0].path) == (line, path), str(match[0])
    assert str(match[0]).startswith(f"policy.yaml:{line}:")


@pytest.mark.parametrize(
    ("text", "line", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_cli_exits_2_and_changes_nothing(demo, cli, text: str, line: int, path: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    policy = demo.write("bad.yaml", text)
    before = _fingerprint(demo.db)
    for command in (["plan"], ["apply"], ["apply", "--dry-run"]):
        run = cli(*command, "-p", str(policy), "--registry", demo.uri)
        assert run.code == 2, (command, run.output)
        assert f"{policy}:{line}:" in run.stderr and path in run.stderr and fragment in run.stderr
    check = cli("check", str(policy))
    assert check.code == 2 and f"{policy}:{line}:" in check.stderr
    assert _fingerprint(demo.db) == before


def test_every_problem_is_reported_in_one_pass() -> None:
    text = textwrap.dedent(
        """\
        version: 1
        promotions:
          - name: a
            model: m
            from: s
            to: s
            gates:
              - {metric: f1, above: 1}
              - {max_age: soon}
          - name: a
            model: m
            from: s
            to: p
        """
    )
    with pytest.raises(PolicyError) as info:
        load_text(text, "p.yaml")
    lines = sorted(i.line for i in info.value.issues)
    assert lines == [6, 8, 8, 9, 10], [str(i) for i in info.value.issues]


def test_check_json_lists_issues(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import json

    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nfoo: 1\n")
    run = cli("check", "--json", str(bad))
    assert run.code == 2
    data = json.loads(run.stdout)
    assert data[0]["ok"] is False and data[0]["issues"][0]["line"] == 2


def _fingerprint(db: Path) -> str:
    """Content of every table (WAL included, via SQLite), so any write shows."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        h = hashlib.sha256()
        for table in ("models", "versions", "aliases", "audit", "lineage"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        conn.close()
