"""The one error funnel: every command, and the Action's entry point, fails with its documented exit
code and a one-line message, never a Python traceback, whatever goes wrong inside it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from aliasgate import action, cli_support
from aliasgate.cli import app
from tests.conftest import Demo, clean_env, run_promote
from tests.github_runner import _Log

TRACEBACK = "Traceback (most recent call last)"

# Every command with arguments that get it past parsing (to dispatch).
COMMANDS: dict[str, list[str]] = {
    "plan": ["plan", "-p", "examples/aliasgate.yaml"],
    "apply": ["apply", "-p", "examples/aliasgate.yaml", "--dry-run"],
    "approve": ["approve", "plan.json", "-p", "examples/aliasgate.yaml"],
    "approvals": ["approvals", "bert-classifier"],
    "check": ["check", "examples/aliasgate.yaml"],
    "status": ["status", "bert-classifier"],
    "history": ["history", "bert-classifier"],
    "report": ["report", "bert-classifier"],
    "rollback": ["rollback", "bert-classifier", "production", "--dry-run"],
    "cleanup": ["cleanup", "-p", "examples/aliasgate.yaml", "--dry-run"],
    "whoami": ["whoami"],
    "notify": ["notify", "--test", "-p", "examples/aliasgate.yaml"],
    "schema": ["schema"],
    "registry init": ["registry", "init"],
    "registry create-model": ["registry", "create-model", "m"],
    "registry log-version": ["registry", "log-version", "m"],
    "registry set-alias": ["registry", "set-alias", "m", "a", "v1"],
    "registry delete-alias": ["registry", "delete-alias", "m", "a"],
    "registry list": ["registry", "list"],
    "registry import": ["registry", "import", "examples/demo-registry.yaml"],
    "registry export": ["registry", "export"],
}


def _names(group: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out |= _names(cmd, f"{prefix}{name} ")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_every_command_is_listed_here() -> None:
    assert _names(typer.main.get_command(app)) == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_bug_exits_70_naming_the_traceback_file(
    name: str, demo: Demo, cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def boom() -> None:
        raise RuntimeError("forced internal error")

    monkeypatch.setattr(cli_support, "_begin", boom)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    r = cli(*COMMANDS[name])
    assert r.code == 70, r.output
    assert TRACEBACK not in r.output
    (line,) = r.stderr.strip().splitlines()
    assert "internal error (a bug in aliasgate, exit 70): RuntimeError: forced internal error" in line
    written = re.search(r"traceback written to (\S+);", line)
    assert written, line
    text = Path(written.group(1)).read_text()
    assert TRACEBACK in text and "forced internal error" in text


def test_traceback_option_prints_it_redacted_and_keeps_the_exit_code(
    demo: Demo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-canary-value"

    def boom() -> None:
        raise RuntimeError(f"echoed password {secret}")

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", secret)
    monkeypatch.setattr(
        cli_support, "_begin", lambda: __import__("aliasgate.secrets").secrets.register(secret) or boom()
    )
    r = cli("--traceback", "status", "bert-classifier")
    assert r.code == 70
    assert TRACEBACK in r.stderr and "RuntimeError: echoed password ***" in r.stderr
    assert secret not in r.output


def test_bad_output_path_is_exit_2(demo: Demo, cli: Any) -> None:
    r = cli(
        "plan", "-p", "examples/aliasgate.yaml", "-o", str(demo.path / "no" / "such" / "dir" / "plan.json")
    )
    assert r.code == 2, r.output
    assert "error: cannot write the plan to" in r.stderr and TRACEBACK not in r.output
    r = cli("registry", "export", "-o", str(demo.path))  # a directory
    assert r.code == 2 and "error: cannot write the export to" in r.stderr


def _gh_env(demo: Demo, **files: Path) -> dict[str, str]:
    env = clean_env(GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(demo.path))
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        path = files.get(key) or demo.path / key.lower()
        if not path.exists():
            path.write_text("")
        env[key] = str(path)
    return env


# Commands that leave step outputs or a summary on GitHub, with the files each writes.
GITHUB_WRITERS = [
    (name, key)
    for name in ("plan", "apply", "check", "report", "rollback", "cleanup")
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")
    if (name, key) != ("report", "GITHUB_OUTPUT")  # report writes no step outputs
]


@pytest.mark.parametrize(("name", "key"), GITHUB_WRITERS)
def test_unwritable_github_file_is_a_clear_error(name: str, key: str, demo: Demo) -> None:
    if name == "cleanup":
        demo.write(
            "cleanup.yaml", "version: 1\nretention:\n  - {model: bert-classifier, ttl: 1d, keep_last: 1}\n"
        )
        args = ["cleanup", "-p", "cleanup.yaml", "--dry-run"]
    elif name == "rollback":
        args = ["rollback", "bert-classifier", "production", "--to", "v1", "--dry-run"]
    else:
        args = COMMANDS[name]
    env = _gh_env(demo, **{key: demo.path / "examples"})  # a directory: cannot be opened for append
    r = run_promote(*args, cwd=demo.path, env=env)
    assert r.code == 1, r.output
    assert TRACEBACK not in r.output
    assert f"error: cannot write ${key}" in r.stderr
    annotations: list[Any] = []
    _Log([], annotations, []).feed(r.stderr)
    assert any(f"cannot write ${key}" in a.message for a in annotations)


def _action_env(demo: Demo, **extra: str) -> dict[str, str]:
    env = {**_gh_env(demo), "INPUT_COMMAND": "plan", "INPUT_POLICY": "examples/aliasgate.yaml", **extra}
    return env


def test_action_with_unwritable_runner_temp(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = demo.write("not-a-dir", "")
    code = action.run(_action_env(demo, RUNNER_TEMP=str(blocker)))
    err = capsys.readouterr().err
    assert code == 1 and TRACEBACK not in err
    assert "error: cannot create" in err and "RUNNER_TEMP" in err


def test_action_with_unwritable_github_output(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    env = _action_env(demo, GITHUB_OUTPUT=str(demo.path / "examples"))
    code = action.run(env)
    captured = capsys.readouterr()
    assert code == 1 and TRACEBACK not in captured.err + captured.out
    assert "error: cannot write $GITHUB_OUTPUT" in captured.err


def test_action_bug_exits_70(
    demo: Demo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any) -> Any:
        raise RuntimeError("forced internal error")

    monkeypatch.setattr(action, "command_line", boom)
    code = action.run(_action_env(demo))
    captured = capsys.readouterr()
    assert code == 70 and TRACEBACK not in captured.err + captured.out
    assert "internal error (a bug in aliasgate, exit 70)" in captured.err
    outputs = (demo.path / "github_output").read_text()
    assert "exit-code<<" in outputs and "\n70\n" in outputs
