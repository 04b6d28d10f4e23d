"""aliasgate.github against GitHub's documented formats, read back the way the runner reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aliasgate import github, github_observer, secrets, summary
from tests.conftest import Demo
from tests.github_runner import _Log, parse_file_command


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    github.reset_for_tests()
    yield
    github.reset_for_tests()


def commands(text: str) -> tuple[list[Any], list[str], list[str]]:
    annotations: list[Any] = []
    masks: list[str] = []
    log: list[str] = []
    _Log(masks, annotations, log).feed(text)
    return annotations, masks, log


# -- workflow commands --------------------------------------------------------------------------------------


def test_escaping_matches_actions_core() -> None:
    # @actions/core: escapeData replaces % CR LF; escapeProperty also : and ,
    assert github.escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_format_command_with_properties() -> None:
    line = github.format_command(
        "error",
        "gate failed\nsecond line",
        file="pol.yaml",
        line=12,
        end_line=13,
        col=None,
        title="rule: x, y",
    )
    assert line == "::error file=pol.yaml,line=12,endLine=13,title=rule%3A x%2C y::gate failed%0Asecond line"
    (a,), _, _ = commands(line)
    assert (a.level, a.message, a.file, a.line, a.properties["title"]) == (
        "error",
        "gate failed\nsecond line",
        "pol.yaml",
        12,
        "rule: x, y",
    )
    assert github.format_command("notice", "plain") == "::notice::plain"


def test_command_redacts_secrets_in_message_and_properties(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register("hunter2-secret")
    github.command("warning", "token hunter2-secret leaked", title="hunter2-secret")
    out = capsys.readouterr().err
    assert "hunter2-secret" not in out
    assert out == "::warning title=***::token *** leaked\n"


def test_annotations_beyond_githubs_limit_are_folded(capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(13):
        github.annotate("error", f"problem {i}", file="p.yaml", line=i + 1)
    github.annotate("warning", "only one warning")
    github.flush_annotations()
    annotations, _, _ = commands(capsys.readouterr().err)
    errors = [a for a in annotations if a.level == "error"]
    assert len(errors) == github.ANNOTATION_LIMIT
    assert [a.message for a in errors[:9]] == [f"problem {i}" for i in range(9)]
    assert errors[-1].message.startswith("4 more: problem 9")
    assert [a.message for a in annotations if a.level == "warning"] == ["only one warning"]


def test_unknown_annotation_level_is_a_bug() -> None:
    with pytest.raises(ValueError):
        github.annotate("fatal", "x")


def test_workspace_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    assert github.workspace_path(tmp_path / "aliasgate" / "m.yaml") == "aliasgate/m.yaml"
    assert github.workspace_path("/elsewhere/p.yaml") == "/elsewhere/p.yaml"
    monkeypatch.chdir(tmp_path)
    assert github.workspace_path("rel/p.yaml") == "rel/p.yaml"
    assert github.workspace_path(None) is None


# -- masks and untrusted text --------------------------------------------------------------------------------


def test_mask_multiline_secret_masks_each_line(capsys: pytest.CaptureFixture[str]) -> None:
    github.mask("-----BEGIN KEY-----\nabcdef123456\n-----END KEY-----")
    _, masks, log = commands(capsys.readouterr().err)
    assert "-----BEGIN KEY-----\nabcdef123456\n-----END KEY-----" in masks
    assert {"-----BEGIN KEY-----", "abcdef123456", "-----END KEY-----"} <= set(masks)
    assert log == []


def test_mask_secrets_covers_past_and_future_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register("early-secret-1")
    github.mask_secrets()
    github.mask_secrets()  # idempotent
    secrets.register("late-secret-22")
    _, masks, _ = commands(capsys.readouterr().err)
    assert masks == ["early-secret-1", "late-secret-22"]


def test_author_names_are_not_taken_for_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIT_AUTHOR_NAME matches AUTH; masking it would hide every author name in the log."""
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Jane Doe")
    monkeypatch.setenv("SERVICE_AUTH_HEADER", "Basic abcdef")
    secrets.register_environment()
    assert "Jane Doe" not in secrets.registered()
    assert "Basic abcdef" in secrets.registered()


def test_neutralize_fences_lines_that_look_like_commands() -> None:
    assert github.neutralize("nothing to see: here") == "nothing to see: here"
    text = "model x\n  ::add-mask::root\n::error::pwned"
    fenced = github.neutralize(text)
    assert fenced != github.neutralize(text)  # a fresh token every time
    annotations, masks, log = commands(fenced + "\n::notice::after")
    assert masks == [] and [a.message for a in annotations] == ["after"]
    assert "::error::pwned" in log and "  ::add-mask::root" in log


# -- outputs and summary -------------------------------------------------------------------------------------


def test_outputs_round_trip_through_the_runner_parser(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.write_text("earlier=kept\n")
    values = {
        "changed": "true",
        "moves": json.dumps([{"a": 1}]),
        "text": "line 1\nline 2\n=x<<EOF",
        "empty": "",
    }
    github.set_outputs(values, {"GITHUB_OUTPUT": str(out)})
    parsed = parse_file_command(out.read_text())
    assert parsed == {"earlier": "kept", **values}


def test_outputs_are_redacted_and_names_checked(tmp_path: Path) -> None:
    out = tmp_path / "output"
    secrets.register("secret-value-9")
    github.set_outputs({"x": "has secret-value-9"}, {"GITHUB_OUTPUT": str(out)})
    assert "secret-value-9" not in out.read_text()
    with pytest.raises(ValueError):
        github.set_outputs({"bad\nname": "v"}, {"GITHUB_OUTPUT": str(out)})
    github.set_outputs({"x": "y"}, {})  # no GITHUB_OUTPUT: nothing to do


def test_summary_appends_and_redacts(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("# from an earlier step\n")
    secrets.register("summary-secret")
    github.append_summary("## one\nsummary-secret", {"GITHUB_STEP_SUMMARY": str(path)})
    github.append_summary("## two", {"GITHUB_STEP_SUMMARY": str(path)})
    assert path.read_text() == "# from an earlier step\n## one\n***\n\n## two\n\n"


def test_summary_stays_under_githubs_limit(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(path)}
    github.append_summary("é" * (github.SUMMARY_LIMIT // 2), env)
    github.append_summary("x" * github.SUMMARY_LIMIT, env)
    size = path.stat().st_size
    assert size <= github.SUMMARY_LIMIT
    assert path.read_text(encoding="utf-8").rstrip().endswith("run the command locally for the rest._")
    github.append_summary("more", env)  # no room left: nothing appended
    assert path.stat().st_size == size


# -- the CLI on GitHub ---------------------------------------------------------------------------------------


def gh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    from tests.conftest import clean_env

    files = {k: tmp_path / k.lower() for k in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for p in files.values():
        p.write_text("")
    return clean_env(
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(tmp_path),
        **{k: str(v) for k, v in files.items()},
        **extra,
    )


def test_plan_on_github_sets_outputs_including_the_saved_plan(demo: Demo, tmp_path: Path) -> None:
    from tests.conftest import run_promote

    env = gh_env(demo.path)
    r = run_promote("plan", "-p", "examples/aliasgate.yaml", "-o", "plan.json", cwd=demo.path, env=env)
    assert r.code == 0, r.output
    outputs = parse_file_command((demo.path / "github_output").read_text())
    assert outputs["plan"] == "plan.json" and (demo.path / "plan.json").is_file()
    assert outputs["exit-code"] == "0" and outputs["changed"] == "false"
    assert json.loads(outputs["moves"])[0]["target"] == 4
    summary = (demo.path / "github_step_summary").read_text()
    assert "## aliasgate plan" in summary and "xychart-beta" in summary


def test_stale_saved_plan_is_an_error_annotation(demo: Demo, cli: Any) -> None:
    from tests.conftest import run_promote

    env = gh_env(demo.path)
    assert (
        run_promote("plan", "-p", "examples/aliasgate.yaml", "-o", "plan.json", cwd=demo.path, env=env).code
        == 0
    )
    assert cli("registry", "set-alias", "bert-classifier", "production", "v3").code == 0
    r = run_promote("apply", "plan.json", "-p", "examples/aliasgate.yaml", cwd=demo.path, env=env)
    assert r.code == 4
    annotations, _, _ = commands(r.stderr)
    (error,) = [a for a in annotations if a.level == "error"]
    assert "changed since the plan" in error.message and "Conflict" in error.properties["title"]


def test_policy_errors_point_at_file_line_and_column(demo: Demo) -> None:
    from tests.conftest import run_promote

    env = gh_env(demo.path)
    r = run_promote("check", "examples/invalid/unknown-comparison.yaml", cwd=demo.path, env=env)
    assert r.code == 2
    annotations, _, _ = commands(r.stderr)
    assert annotations and all(a.file == "examples/invalid/unknown-comparison.yaml" for a in annotations)
    assert all(a.line and a.properties.get("col") for a in annotations)
    outputs = parse_file_command((demo.path / "github_output").read_text())
    assert outputs["exit-code"] == "2"


def test_nothing_github_happens_off_github(demo: Demo) -> None:
    from tests.conftest import clean_env, run_promote

    r = run_promote("plan", "-p", "examples/aliasgate.yaml", cwd=demo.path, env=clean_env())
    assert r.code == 0 and "::" not in r.output


# -- cleanup rows ----------------------------------------------------------------------------------------------


def test_report_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "o"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "s"))
    lines = [
        summary.CleanupLine("m", 3, "deleted", "older than 30d, beyond keep_last 2"),
        summary.CleanupLine("m", 2, "skipped", "gained alias staging since planning"),
        summary.CleanupLine("m", 1, "failed", "HTTP 503 after 3 attempts"),
        summary.CleanupLine("m", 4, "keep", "holds production"),
    ]
    github_observer.report_cleanup(lines, dry_run=False, exit_code=1, file="p.yaml")
    outputs = parse_file_command((tmp_path / "o").read_text())
    assert outputs["changed"] == "true" and outputs["exit-code"] == "1"
    assert json.loads(outputs["moves"]) == [{"model": "m", "version": 3, "kind": "delete"}]
    annotations, _, _ = commands(capsys.readouterr().err)
    assert sorted((a.level, a.file, a.message) for a in annotations) == [
        ("error", "p.yaml", "m:v1: HTTP 503 after 3 attempts"),
        ("warning", "p.yaml", "m:v2: gained alias staging since planning"),
    ]
    text = (tmp_path / "s").read_text()
    assert text.index("| v4 |") < text.index("| v3 |") < text.index("| v1 |")
