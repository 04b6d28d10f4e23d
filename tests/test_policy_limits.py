"""Hostile or careless input: every one exits 2 with a message naming the file (and line and JSON
path where there is one), touches nothing, and never hangs or reads without end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aliasgate.errors import InvalidInput, PolicyError
from aliasgate.policy import load_text
from tests.conftest import PROMOTE, clean_env

HEAD = "version: 1\npromotions:\n"
RULE = "  - name: ship\n    model: m\n    from: staging\n    to: production\n"


def gate(line: str) -> str:
    return HEAD + RULE + f"    gates:\n      - {line}\n"


def issues_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_text(text, "p.yaml")
    return [str(i) for i in info.value.issues]


def promote(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A real process with a hang guard: a FIFO read would block, /dev/zero would never end."""
    return subprocess.run(
        [PROMOTE, *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )


# -- numbers and dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (".nan", "not a finite number"),
        (".NaN", "not a finite number"),
        (".inf", "not a finite number"),
        ("-.inf", "not a finite number"),
        ("1e400", "not a finite number"),
        ("123456789012345678901234567890", "too large"),
    ],
)
def test_numbers_that_no_gate_can_compare_are_refused(value: str, message: str) -> None:
    (issue,) = issues_of(gate(f"{{metric: val_f1, min: {value}}}"))
    assert issue.startswith("p.yaml:8:") and "$.promotions[0].gates[0].min" in issue and message in issue


def test_nan_fails_promote_check(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(gate("{metric: val_f1, min: .nan}"))
    run = promote("check", "p.yaml", cwd=tmp_path)
    assert run.returncode == 2 and "p.yaml:8:" in run.stderr and "not a finite number" in run.stderr


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (HEAD + RULE.replace("staging", "99999999999999999999999"), "$.promotions[0].from"),
        (HEAD + RULE.replace("staging", "v99999999999999999999999"), "$.promotions[0].from"),
        (
            "version: 1\nretention:\n  - {model: m, keep_last: 99999999999999999999999}\n",
            "$.retention[0].keep_last",
        ),
    ],
)
def test_huge_integers_are_refused(text: str, path: str) -> None:
    assert any(path in i for i in issues_of(text))


def test_durations_longer_than_the_clock_can_subtract_are_refused() -> None:
    (issue,) = issues_of(gate("{max_age: 99999999999w}"))
    assert "$.promotions[0].gates[0].max_age" in issue and "longer than 1000 years" in issue
    text = "version: 1\nretention:\n  - {model: m, ttl: 999999999999d}\n"
    assert any("longer than 1000 years" in i for i in issues_of(text))


def test_a_freeze_window_through_year_9999_is_computed() -> None:
    from datetime import datetime, timezone

    from aliasgate import gates
    from aliasgate.model import Principal

    policy = load_text(gate("{freeze: {windows: ['2026-01-01..9999-12-31']}}"), "p.yaml")
    (freeze,) = policy.promotions[0].gates
    ctx = gates.Context(
        now=datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc),
        principal=Principal("t", False, "test"),
        holder=lambda m, a: None,
    )
    result = gates.evaluate(freeze, None, ctx)
    assert result.passed is False and "inside freeze" in result.detail
    earlier = gates.Context(datetime(2025, 6, 1, tzinfo=timezone.utc), ctx.principal, ctx.holder)
    before = gates.evaluate(freeze, None, earlier)
    assert before.passed is True


def test_a_freeze_window_in_a_far_time_zone_at_the_end_of_time_is_computed() -> None:
    from datetime import datetime, timezone

    from aliasgate import gates
    from aliasgate.model import Principal

    policy = load_text(
        gate("{freeze: {windows: ['9999-12-31..9999-12-31'], tz: Pacific/Kiritimati}}"), "p.yaml"
    )
    (freeze,) = policy.promotions[0].gates
    ctx = gates.Context(
        now=datetime(9999, 12, 31, 9, 0, tzinfo=timezone.utc),
        principal=Principal("t", False, "test"),
        holder=lambda m, a: None,
    )
    assert gates.evaluate(freeze, None, ctx).passed is False


# -- names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (HEAD + RULE.replace("to: production", 'to: "production\\n"'), "$.promotions[0].to"),
        (HEAD + RULE.replace("model: m", 'model: "m\\e[31m"'), "$.promotions[0].model"),
        (HEAD + RULE.replace("model: m", 'model: "m\\n"'), "$.promotions[0].model"),
        (HEAD + RULE.replace("name: ship", 'name: "ship\\n"'), "$.promotions[0].name"),
        (HEAD + RULE.replace("from: staging", 'from: "staging\\n"'), "$.promotions[0].from"),
        (gate('{metric: "val_f1\\n", min: 0.5}'), "$.promotions[0].gates[0].metric"),
        (gate('{principals: ["ci\\r"]}'), "$.promotions[0].gates[0].principals[0]"),
        ('version: 1\nregistry: "local:x.db\\n"\n', "$.registry"),
        ('version: 1\nretention:\n  - {model: "m\\t*", keep_last: 1}\n', "$.retention[0].model"),
    ],
)
def test_names_with_control_characters_are_refused(text: str, path: str) -> None:
    found = issues_of(text)
    assert any(path + ":" in i for i in found), found


# -- what a policy file may be -----------------------------------------------------------------------------

BOMB = "".join(
    f"{x}: &{x} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, x in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def test_a_billion_laughs_fails_within_its_budget(tmp_path: Path) -> None:
    assert len(BOMB.encode()) < 500
    (tmp_path / "bomb.yaml").write_text(BOMB)
    run = promote("check", "bomb.yaml", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "bomb.yaml:" in run.stderr and "more than 500,000 values" in run.stderr


def test_deep_nesting_is_refused() -> None:
    found = issues_of("version: 1\nx: " + "[" * 3000 + "]" * 3000 + "\n")
    assert any("nesting depth" in i or "nested deeper" in i for i in found), found


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "oversized"])
def test_only_regular_files_within_the_cap_are_read(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "policy.yaml"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "oversized":
        with target.open("wb") as fh:
            fh.truncate(16 * 1024 * 1024 + 1)
    else:
        target = Path("/dev/zero")
    for args in (("check", str(target)), ("plan", "-p", str(target))):
        run = promote(*args, cwd=tmp_path)
        assert run.returncode == 2, (kind, args, run.stderr)
        assert str(target) in run.stderr and "internal error" not in run.stderr


def test_a_policy_of_many_rules_reports_errors_where_they_are() -> None:
    rules = "".join(
        f"  - name: r{i}\n    model: m{i}\n    from: staging\n    to: p{i}\n"
        f"    gates:\n      - {{metric: f1, min: 0.5}}\n"
        for i in range(60)
    )
    text = HEAD + rules
    text = text.replace("to: p41\n", "to: latest\n").replace("name: r50\n", "name: r50\n    colour: red\n")
    found = issues_of(text)
    assert len(found) == 2, found
    assert found[0].startswith("p.yaml:252:") and "$.promotions[41].to" in found[0]
    assert "$.promotions[50].colour" in found[1] and "unknown key 'colour'" in found[1]
    ok = load_text(HEAD + rules, "p.yaml")
    assert len(ok.promotions) == 60 and ok.promotions[59].to == "p59"


def test_a_ten_thousand_rule_policy_checks(tmp_path: Path) -> None:
    rules = "".join(
        f"  - name: rule-{i}\n    model: model-{i % 1000}\n    from: staging\n    to: prod-{i}\n"
        "    gates:\n      - {metric: val_f1, min: 0.9}\n      - {max_age: 14d}\n"
        for i in range(10_000)
    )
    (tmp_path / "big.yaml").write_text(HEAD + rules)
    run = promote("check", "big.yaml", cwd=tmp_path, timeout=300)
    assert run.returncode == 0 and "10000 promotion rule(s)" in run.stdout, run.stderr


# -- plan files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "oversized", "missing"])
def test_plan_files_are_regular_files_within_the_cap(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "plan.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "oversized":
        with target.open("wb") as fh:
            fh.truncate(64 * 1024 * 1024 + 1)
    elif kind == "dev-zero":
        target = Path("/dev/zero")
    run = promote("apply", str(target), cwd=tmp_path)
    assert run.returncode == 2, (kind, run.stderr)
    assert str(target) in run.stderr and "internal error" not in run.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a valid plan file"),
        ("[]", "not an aliasgate plan"),
        ('{"format": NaN}', "NaN is not a number"),
        ('{"format": 1, "format": 1}', "duplicate key"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"format": 1}', "missing field"),
        ("\xff", "not UTF-8"),
    ],
)
def test_malformed_plan_files_are_exit_2_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    from aliasgate import planfile

    with pytest.raises(InvalidInput) as info:
        planfile.parse(text.encode("latin-1"), str(tmp_path / "plan.json"), key=None)
    assert message in info.value.message and "plan.json" in info.value.message


def test_saving_a_plan_replaces_a_symlink_instead_of_following_it(demo: Any, cli: Any) -> None:
    victim = demo.path / "victim.txt"
    victim.write_text("keep me\n")
    (demo.path / "plan.json").symlink_to(victim)
    run = cli("plan", "-p", str(demo.policy()), "-o", "plan.json")
    assert run.code == 0, run.output
    assert victim.read_text() == "keep me\n"
    assert not (demo.path / "plan.json").is_symlink()
    assert json.loads((demo.path / "plan.json").read_text())["format"] == 1


@pytest.mark.parametrize("where", ["no-such-dir/plan.json", "."])
def test_saving_a_plan_where_it_cannot_go_is_exit_2(demo: Any, cli: Any, where: str) -> None:
    run = cli("plan", "-p", str(demo.policy()), "-o", where)
    assert run.code == 2 and "cannot write the plan" in run.stderr, run.output


def test_the_action_reads_a_policy_within_the_same_limits(tmp_path: Path) -> None:
    """The composite action reads `registry:` before promote runs: a bomb or a FIFO must not stall it."""
    from aliasgate.action import policy_registry

    (tmp_path / "bomb.yaml").write_text(BOMB)
    os.mkfifo(tmp_path / "fifo")
    assert policy_registry(str(tmp_path / "bomb.yaml")) is None
    assert policy_registry(str(tmp_path / "fifo")) is None
    (tmp_path / "ok.yaml").write_text("version: 1\nregistry: local:r.db\n")
    assert policy_registry(str(tmp_path / "ok.yaml")) == "local:r.db"
