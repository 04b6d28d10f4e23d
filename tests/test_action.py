"""The composite action, run step by step the way the GitHub runner runs it (tests/github_runner.py).

Against the embedded registry (fast: the install step is pointed at this test's own Python
through ALIASGATE_PYTHON), against a real MLflow server with a basic-auth service account,
and once for real: a virtualenv built from a copy of the action's directory, as the runner
would download it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aliasgate.planner import Plan
from aliasgate.registry.local import LocalRegistry
from tests.conftest import ROOT, Demo, clean_env
from tests.github_runner import ActionRun, run_action

TOKEN = "agt-Sv3rySecret-7f3a9c1e"
JOB_ENV = {
    "GITHUB_RUN_ID": "4242",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_REPOSITORY": "acme/models",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_WORKFLOW": "promote",
    "GITHUB_JOB": "apply",
}

Runner = Callable[..., ActionRun]


@pytest.fixture
def action(demo: Demo, tmp_path: Path) -> Runner:
    """Run the repository's action.yml in the demo workspace, aliasgate preinstalled."""

    def run(with_: dict[str, Any], *, job_env: dict[str, str] | None = None) -> ActionRun:
        env = clean_env(ALIASGATE_PYTHON=sys.executable)
        return run_action(
            ROOT,
            with_,
            workspace=demo.path,
            temp=tmp_path / "runner-temp",
            env=env,
            job_env={**JOB_ENV, **(job_env or {})},
        )

    return run


def assert_secret_never_shown(run: ActionRun, secret: str) -> None:
    """The secret is masked first thing, and appears nowhere else: not in any output, summary,
    step output, env or path file, nor in the log the runner displays."""
    assert secret in run.masks
    assert run.step("run").stderr.splitlines()[0] == f"::add-mask::{secret}"
    written = run.everything_written()
    without_masks = "\n".join(line for line in written.splitlines() if not line.startswith("::add-mask::"))
    assert secret not in without_masks
    assert all(secret not in line for line in run.log)


def aliases(demo: Demo, model: str = "bert-classifier") -> dict[str, int]:
    reg = LocalRegistry(demo.db)
    try:
        return dict(reg.aliases(model))
    finally:
        reg.close()


def audit_records(demo: Demo, model: str = "bert-classifier") -> list[dict[str, Any]]:
    reg = LocalRegistry(demo.db)
    try:
        return [dict(r) for r in reg.audit_log(model).records]
    finally:
        reg.close()


# -- the action file itself ---------------------------------------------------------------------------------


def action_meta() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return data


def test_inputs_reach_scripts_only_through_env() -> None:
    for step in action_meta()["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step["name"]
            assert step["shell"] == "bash"


def test_action_declares_the_documented_interface() -> None:
    meta = action_meta()
    for name in ("command", "policy", "registry", "dry-run", "args", "token", "username"):
        assert name in meta["inputs"], name
    assert set(meta["outputs"]) == {"changed", "moves", "plan", "exit-code", "ttl-disabled", "ttl-failed"}
    run_step = next(s for s in meta["runs"]["steps"] if s.get("id") == "run")
    # every input the action declares is handed to the run step (except the install knobs)
    handed = {v.strip()[len("${{ inputs.") : -len(" }}")] for v in run_step["env"].values() if "inputs." in v}
    assert handed == set(meta["inputs"]) - {"python", "cache"}


def test_constraints_pin_every_runtime_dependency() -> None:
    """action/constraints.txt pins aliasgate's whole runtime closure, within pyproject's ranges."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    tomllib = pytest.importorskip("tomllib")

    pins = {}
    for line in (ROOT / "action" / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    build = [Requirement(r) for r in project["build-system"]["requires"]]
    todo = [Requirement(r) for r in project["project"]["dependencies"]] + build
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        assert name in pins, f"{name} is not pinned in action/constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {req}"
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # a platform-only dependency (tzdata, colorama on Windows)
        for sub in dist.requires or []:
            r = Requirement(sub)
            if r.marker is None or r.marker.evaluate({"extra": ""}) or "platform_system" in str(r.marker):
                todo.append(r)


# -- embedded registry --------------------------------------------------------------------------------------


def test_plan_writes_summary_outputs_and_saved_plan(action: Runner, demo: Demo) -> None:
    run = action({"command": "plan", "policy": "examples/aliasgate.yaml"})
    assert run.outcome == "success", run.raw
    assert run.outputs["exit-code"] == "0"
    assert run.outputs["changed"] == "false"
    assert json.loads(run.outputs["moves"]) == [
        {"model": "bert-classifier", "alias": "production", "expected": 2, "target": 4, "kind": "promote"}
    ]
    saved = Path(run.outputs["plan"])
    assert saved.is_file() and saved.is_relative_to(demo.path.parent)
    plan = Plan.from_dict(json.loads(saved.read_text()))
    assert [m.target for m in plan.moves] == [4]
    summary = run.summary
    assert "## aliasgate plan" in summary
    assert "`ship-classifier` — move" in summary
    assert "| val_f1 &gt;= 0.89 | ✅ pass | 0.912 &gt;= 0.89 | 12 |" in summary
    assert "```mermaid\nxychart-beta" in summary
    assert 'x-axis ["v1", "v2 (production)", "v3", "v4 (candidate)"]' in summary
    assert aliases(demo) == {"production": 2, "staging": 4}  # planning changed nothing
    assert not run.annotations


def test_apply_moves_the_alias_and_records_the_run(action: Runner, demo: Demo) -> None:
    run = action({"command": "apply", "policy": "examples/aliasgate.yaml"})
    assert run.outcome == "success", run.raw
    assert run.outputs["changed"] == "true"
    assert run.outputs["exit-code"] == "0"
    assert json.loads(run.outputs["moves"])[0]["target"] == 4
    assert run.outputs["plan"] == ""
    assert aliases(demo)["production"] == 4
    record = audit_records(demo)[-1]
    assert record["kind"] == "promote" and record["to"] == 4
    assert record["ci"]["run_url"] == "https://github.com/acme/models/actions/runs/4242/attempts/1"
    assert record["actor"] == "octocat"
    notices = [a for a in run.annotations if a.level == "notice"]
    assert notices and notices[0].file == "examples/aliasgate.yaml" and notices[0].line == 7
    assert "## aliasgate apply" in run.summary
    assert '"v2 (was production)"' in run.summary and '"v4 (production)"' in run.summary
    assert "[run](https://github.com/acme/models/actions/runs/4242/attempts/1)" in run.summary


def test_dry_run_changes_nothing(action: Runner, demo: Demo) -> None:
    before = (aliases(demo), len(audit_records(demo)))
    run = action({"command": "apply", "policy": "examples/aliasgate.yaml", "dry-run": "true"})
    assert run.outcome == "success", run.raw
    assert "promote apply -p examples/aliasgate.yaml --dry-run" in run.step("run").stdout
    assert run.outputs["changed"] == "false"
    assert json.loads(run.outputs["moves"])[0]["target"] == 4  # what would move
    assert (aliases(demo), len(audit_records(demo))) == before
    assert "dry run: nothing sent" in run.summary


BLOCKED = """\
version: 1
promotions:
  - name: ship-classifier
    model: bert-classifier
    from: staging
    to: production
    gates:
      - {metric: val_loss, max: 0.35}
      - {metric: val_f1, min: 0.99}
"""


def test_blocked_gate_fails_the_step_with_an_annotation_at_the_gate_line(action: Runner, demo: Demo) -> None:
    demo.write("examples/blocked.yaml", BLOCKED)
    before = audit_records(demo)
    run = action({"command": "apply", "policy": "examples/blocked.yaml"})
    assert run.outcome == "failure"
    assert run.step("run").outcome == "failure" and run.step("run").exit_code == 3
    assert run.outputs["exit-code"] == "3"
    assert run.outputs["changed"] == "false"
    errors = [a for a in run.annotations if a.level == "error"]
    assert len(errors) == 1
    (error,) = errors
    assert error.file == "examples/blocked.yaml"
    assert error.line == 9  # the failing gate's own line
    assert "val_f1 >= 0.99" in error.message and "0.912 < 0.99" in error.message
    assert "blocked" in error.properties["title"]
    assert audit_records(demo) == before and aliases(demo)["production"] == 2
    assert "⛔ `ship-classifier` — blocked" in run.summary


def test_fail_on_blocked_false_passes_but_reports_3(action: Runner, demo: Demo) -> None:
    demo.write("examples/blocked.yaml", BLOCKED)
    run = action({"command": "plan", "policy": "examples/blocked.yaml", "fail-on-blocked": "false"})
    assert run.outcome == "success"
    assert run.outputs["exit-code"] == "3"
    (warning,) = [a for a in run.annotations if a.level == "warning"]
    assert warning.line == 9


def test_invalid_policy_annotates_each_problem(action: Runner, demo: Demo) -> None:
    run = action({"command": "apply", "policy": "examples/invalid/wrong-type.yaml"})
    assert run.outcome == "failure"
    assert run.outputs["exit-code"] == "2"
    errors = [
        a for a in run.annotations if a.level == "error" and "invalid policy" in a.properties.get("title", "")
    ]
    assert errors and all(a.file == "examples/invalid/wrong-type.yaml" and a.line for a in errors)


def test_check_command_reports_every_file(action: Runner, demo: Demo) -> None:
    run = action(
        {"command": "check", "policy": "examples/aliasgate.yaml\nexamples/invalid/duplicate-rule.yaml"}
    )
    assert run.outcome == "failure"
    assert run.outputs["exit-code"] == "2"
    assert "## aliasgate check" in run.summary
    assert "`examples/aliasgate.yaml` | ✅" in run.summary
    assert any(a.file == "examples/invalid/duplicate-rule.yaml" for a in run.annotations)


def test_rollback_through_the_action(action: Runner, demo: Demo) -> None:
    assert action({"command": "apply", "policy": "examples/aliasgate.yaml"}).outcome == "success"
    run = action(
        {
            "command": "rollback",
            "model": "bert-classifier",
            "alias": "production",
            "reason": "latency regression",
        }
    )
    assert run.outcome == "success", run.raw
    assert run.outputs["changed"] == "true"
    assert json.loads(run.outputs["moves"]) == [
        {"model": "bert-classifier", "alias": "production", "expected": 4, "target": 2, "kind": "rollback"}
    ]
    assert aliases(demo)["production"] == 2
    assert audit_records(demo)[-1]["reason"] == "latency regression"
    assert "rolled back `bert-classifier:production` v4 → v2" in run.summary


def test_rollback_dry_run_changes_nothing(action: Runner, demo: Demo) -> None:
    assert action({"command": "apply", "policy": "examples/aliasgate.yaml"}).outcome == "success"
    before = audit_records(demo)
    run = action(
        {"command": "rollback", "model": "bert-classifier", "alias": "production", "dry-run": "true"}
    )
    assert run.outcome == "success", run.raw
    assert run.outputs["changed"] == "false"
    assert audit_records(demo) == before and aliases(demo)["production"] == 4


def test_report_command_writes_the_model_report(action: Runner, demo: Demo) -> None:
    run = action(
        {"command": "report", "model": "bert-classifier", "args": "--alias production --candidate staging"}
    )
    assert run.outcome == "success", run.raw
    assert "## bert-classifier" in run.summary and "xychart-beta" in run.summary


def test_apply_saved_plan_through_plan_file(action: Runner, demo: Demo) -> None:
    planned = action({"command": "plan", "policy": "examples/aliasgate.yaml"})
    run = action(
        {"command": "apply", "plan-file": planned.outputs["plan"], "policy": "examples/aliasgate.yaml"}
    )
    assert run.outcome == "success", run.raw
    assert aliases(demo)["production"] == 4
    assert (
        audit_records(demo)[-1]["plan"]["id"] == json.loads(Path(planned.outputs["plan"]).read_text())["id"]
    )


FOUR_EYES = """\
version: 1
promotions:
  - name: ship
    model: bert-classifier
    from: staging
    to: production
    approvals: {required: 1, from: [alice, bob], not_by: [author]}
"""


def test_approve_through_the_action_then_apply(action: Runner, demo: Demo) -> None:
    demo.write("four-eyes.yaml", FOUR_EYES)
    plan_file = str(demo.path / "plan.json")
    planned = action(
        {"command": "plan", "policy": "four-eyes.yaml", "plan-file": plan_file, "fail-on-blocked": "false"},
        job_env={"PROMOTE_PRINCIPAL": "alice"},
    )
    assert planned.outputs["exit-code"] == "3" and "awaiting approval" in planned.raw, planned.raw
    refused = action(
        {"command": "approve", "plan-file": plan_file, "policy": "four-eyes.yaml"},
        job_env={"PROMOTE_PRINCIPAL": "alice"},
    )
    assert refused.outcome == "failure" and "alice made this plan" in refused.raw
    approved = action(
        {"command": "approve", "plan-file": plan_file, "policy": "four-eyes.yaml", "reason": "reviewed"},
        job_env={"PROMOTE_PRINCIPAL": "bob"},
    )
    assert approved.outcome == "success", approved.raw
    record = audit_records(demo)[-1]
    assert (record["kind"], record["principal"]["name"], record["reason"]) == ("approve", "bob", "reviewed")
    applied = action({"command": "apply", "plan-file": plan_file, "policy": "four-eyes.yaml"})
    assert applied.outcome == "success", applied.raw
    assert aliases(demo)["production"] == 4


RETENTION = """\
version: 1
retention:
  - model: bert-classifier
    ttl: 5d
    keep_last: 1
"""


def versions(demo: Demo, model: str = "bert-classifier") -> list[int]:
    reg = LocalRegistry(demo.db)
    try:
        return [v.number for v in reg.versions(model)]
    finally:
        reg.close()


def test_cleanup_dry_run_then_for_real(action: Runner, demo: Demo) -> None:
    demo.write("examples/retention.yaml", RETENTION)
    dry = action({"command": "cleanup", "policy": "examples/retention.yaml", "dry-run": "true"})
    assert dry.outcome == "success", dry.raw
    assert dry.outputs["changed"] == "false"
    gone = [{"model": "bert-classifier", "version": n, "kind": "delete"} for n in (3, 1)]
    assert sorted(json.loads(dry.outputs["moves"]), key=lambda m: -m["version"]) == gone
    assert versions(demo) == [4, 3, 2, 1]
    assert "## aliasgate cleanup (dry run: nothing deleted)" in dry.summary
    assert "| `bert-classifier` | v2 | keep |" in dry.summary
    real = action({"command": "cleanup", "policy": "examples/retention.yaml"})
    assert real.outcome == "success", real.raw
    assert real.outputs["changed"] == "true"
    assert versions(demo) == [4, 2]
    assert "| `bert-classifier` | v3 | deleted |" in real.summary


def test_native_ttl_reaches_cleanup_only() -> None:
    """`native-ttl` becomes `--native-ttl` on cleanup (once, also when `args` has it); the other
    commands ignore it, as they ignore the other command-specific inputs. The run against W&B is
    in tests/test_cleanup_wandb_ttl.py."""
    from aliasgate.action import Inputs, command_line

    def argv(**env: str) -> list[str]:
        return command_line(Inputs.from_env({f"INPUT_{k.upper()}": v for k, v in env.items()}), {})

    assert argv(command="cleanup", native_ttl="true") == ["cleanup", "-p", "aliasgate.yaml", "--native-ttl"]
    assert argv(command="cleanup", native_ttl="true", dry_run="true", args="--native-ttl --json") == [
        "cleanup",
        "-p",
        "aliasgate.yaml",
        "--dry-run",
        "--native-ttl",
        "--json",
    ]
    assert "--native-ttl" not in argv(command="cleanup")
    assert "--native-ttl" not in argv(command="cleanup", native_ttl="false")
    assert "--native-ttl" not in argv(command="apply", native_ttl="true")


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ({"command": "deploy"}, "command must be one of"),
        ({"command": "apply", "dry-run": "maybe"}, "dry-run must be true or false"),
        ({"command": "cleanup", "native-ttl": "maybe"}, "native-ttl must be true or false"),
        ({"command": "rollback"}, "rollback needs the model and alias inputs"),
        ({"command": "plan", "username": "svc"}, "username is for MLflow basic auth"),
        ({"command": "plan", "args": "--rule 'unterminated"}, "args:"),
    ],
)
def test_bad_inputs_fail_with_an_annotation(action: Runner, with_: dict[str, str], message: str) -> None:
    run = action({**with_, "policy": "examples/aliasgate.yaml"})
    assert run.outcome == "failure"
    assert run.outputs["exit-code"] == "2"
    (error,) = [a for a in run.annotations if a.level == "error"]
    assert message in error.message


def test_token_is_masked_and_never_shown(action: Runner, demo: Demo) -> None:
    """The token is masked before anything runs and redacted even where registry data echo it."""
    leaky = demo.write(
        "examples/leaky.yaml",
        "version: 1\npromotions:\n  - name: ship\n    model: bert-classifier\n    from: staging\n"
        f"    to: production\n    gates:\n      - {{metadata: {{framework: '{TOKEN}'}}}}\n",
    )
    assert leaky.is_file()
    run = action({"command": "apply", "policy": "examples/leaky.yaml", "token": TOKEN})
    assert run.outputs["exit-code"] == "3"  # framework is pytorch, not the token: blocked
    assert "token passed as PROMOTE_TOKEN" in run.raw
    assert "***" in run.summary  # the gate that quotes it is shown, redacted
    assert_secret_never_shown(run, TOKEN)


def test_registry_url_password_is_masked_before_anything_prints(action: Runner, demo: Demo) -> None:
    """A password inside the registry input (raw '@' and '+') is masked, with its basic-auth form,
    before the step prints its command line, and shown nowhere else."""
    import base64

    password = "url@pa+ss-" + "q7Z" * 4
    registry = f"mlflow+http://svc:{password}@127.0.0.1:9"  # nothing listens: the run fails (exit 1)
    run = action({"command": "apply", "policy": "examples/aliasgate.yaml", "registry": registry})
    assert run.outputs["exit-code"] == "1"
    basic = base64.b64encode(f"svc:{password}".encode()).decode()
    assert password in run.masks and basic in run.masks
    stderr = run.step("run").stderr.splitlines()
    assert stderr[0].startswith("::add-mask::")  # before the command line or anything else
    written = "\n".join(
        ln for ln in run.everything_written().splitlines() if not ln.startswith("::add-mask::")
    )
    assert password not in written and basic not in written
    assert all(password not in line for line in run.log)


def test_registry_text_cannot_inject_workflow_commands(demo: Demo, cli: Any) -> None:
    """Registry text that would start a line with `::` is printed inside ::stop-commands:: on GitHub."""
    from tests.conftest import run_promote
    from tests.github_runner import _Log

    evil = "trainer\n::warning title=pwned::injected\n::add-mask::root"
    result = cli("registry", "log-version", "bert-classifier", "--created-by", evil)
    assert result.code == 0, result.output
    out = run_promote("status", "bert-classifier", cwd=demo.path, env=clean_env(GITHUB_ACTIONS="true"))
    assert out.code == 0, out.output
    assert "::stop-commands::" in out.stdout
    annotations: list[Any] = []
    masks: list[str] = []
    log: list[str] = []
    _Log(masks, annotations, log).feed(out.stdout)
    assert not annotations and not masks
    assert "::warning title=pwned::injected" in log


# -- a real MLflow server ----------------------------------------------------------------------------------


@pytest.mark.mlflow
def test_action_against_mlflow_with_basic_auth(mlflow_auth_demo: Any, tmp_path: Path) -> None:
    seeded = mlflow_auth_demo
    account = seeded.accounts["EDIT"]
    workspace = tmp_path / "ws"
    (workspace / "policies").mkdir(parents=True)
    text = (ROOT / "examples" / "aliasgate.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^registry: .*$", "", text)
    text = text.replace("bert-tokenizer", seeded.tokenizer).replace(
        "model: bert-classifier", f"model: {seeded.classifier}"
    )
    (workspace / "policies" / "aliasgate.yaml").write_text(text, encoding="utf-8")
    before = seeded.aliases(seeded.classifier)

    def run(**with_: str) -> ActionRun:
        return run_action(
            ROOT,
            {
                "policy": "policies/aliasgate.yaml",
                "registry": seeded.uri,
                "username": account.username,
                "token": account.password,
                **with_,
            },
            workspace=workspace,
            temp=tmp_path / "runner-temp",
            env=clean_env(ALIASGATE_PYTHON=sys.executable),
            job_env=JOB_ENV,
        )

    planned = run(command="plan")
    assert planned.outcome == "success", planned.raw
    assert json.loads(planned.outputs["moves"])[0]["target"] == 4
    assert seeded.aliases(seeded.classifier) == before
    assert "token passed as MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_USERNAME" in planned.raw
    assert_secret_never_shown(planned, account.password)

    dry = run(command="apply", **{"dry-run": "true"})
    assert dry.outcome == "success" and dry.outputs["changed"] == "false"
    assert seeded.aliases(seeded.classifier) == before

    applied = run(command="apply")
    assert applied.outcome == "success", applied.raw
    assert applied.outputs["changed"] == "true"
    assert seeded.aliases(seeded.classifier)["production"] == 4
    assert f"principal `{account.username}`" in applied.summary
    assert "xychart-beta" in applied.summary
    assert_secret_never_shown(applied, account.password)


@pytest.mark.mlflow
def test_action_against_mlflow_read_only_account_fails_cleanly(mlflow_auth_demo: Any, tmp_path: Path) -> None:
    seeded = mlflow_auth_demo
    account = seeded.accounts["READ"]
    workspace = tmp_path / "ws"
    workspace.mkdir()
    text = (ROOT / "examples" / "aliasgate.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^registry: .*$", "", text)
    text = text.replace("bert-tokenizer", seeded.tokenizer).replace(
        "model: bert-classifier", f"model: {seeded.classifier}"
    )
    (workspace / "aliasgate.yaml").write_text(text, encoding="utf-8")
    before = seeded.aliases(seeded.classifier)
    run = run_action(
        ROOT,
        {"command": "apply", "registry": seeded.uri, "username": account.username, "token": account.password},
        workspace=workspace,
        temp=tmp_path / "runner-temp",
        env=clean_env(ALIASGATE_PYTHON=sys.executable),
        job_env=JOB_ENV,
    )
    assert run.outcome == "failure"
    assert run.outputs["exit-code"] == "1"
    assert run.outputs["changed"] == "false"
    assert any(a.level == "error" and account.username in a.message for a in run.annotations), run.raw
    assert seeded.aliases(seeded.classifier) == before
    assert_secret_never_shown(run, account.password)


# -- the real install step ----------------------------------------------------------------------------------


def _copy_action(dest: Path) -> Path:
    """The files the runner downloads for `uses: aliasgate/aliasgate@SHA` that the install needs."""
    dest.mkdir(parents=True)
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "action", dest / "action")
    shutil.copytree(
        ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    )
    return dest


@pytest.mark.slow
def test_install_step_builds_its_own_venv_from_the_action_path(demo: Demo, tmp_path: Path) -> None:
    action_dir = _copy_action(tmp_path / "action")
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(HOME=str(home))
    env.pop("ALIASGATE_PYTHON", None)
    env.pop("VIRTUAL_ENV", None)
    run = run_action(
        action_dir,
        {"command": "apply", "policy": "examples/aliasgate.yaml", "python": sys.executable, "token": TOKEN},
        workspace=demo.path,
        temp=tmp_path / "runner-temp",
        env=env,
        job_env=JOB_ENV,
    )
    assert run.outcome == "success", run.raw
    prepare = run.step("prepare").outputs
    assert prepare["mode"] == "venv"
    venv = Path(prepare["venv"])
    assert venv.is_relative_to(tmp_path / "runner-temp")
    python = run.step("install").outputs["python"]
    assert python == str(venv / "bin" / "python")
    # the cache step would run on GitHub, keyed on the action's dependency set and Python
    (cache,) = run.not_run
    assert cache["uses"].startswith("actions/cache@")
    assert cache["with"] == {"path": str(home / ".cache" / "aliasgate-pip"), "key": prepare["cache-key"]}
    assert re.fullmatch(r"aliasgate-pip-Linux-X64-py3\.\d+-[0-9a-f]{16}", prepare["cache-key"])
    # installed from the action's copy, not the developer's checkout, at the pinned versions
    import subprocess

    shown = subprocess.run(
        [python, "-c", "import aliasgate, typer; print(aliasgate.__file__); print(typer.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()
    assert str(venv) in shown[0]
    pinned = dict(
        line.split("==")
        for line in (action_dir / "action" / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert shown[1] == pinned["typer"]
    assert aliases(demo)["production"] == 4
    assert run.outputs["changed"] == "true"
    assert_secret_never_shown(run, TOKEN)
    # a second use in the same job reuses the virtualenv: no second install
    built = os.stat(venv / ".aliasgate-ready").st_mtime_ns
    again = run_action(
        action_dir,
        {"command": "plan", "policy": "examples/aliasgate.yaml", "python": sys.executable},
        workspace=demo.path,
        temp=tmp_path / "runner-temp",
        env=env,
        job_env=JOB_ENV,
    )
    assert again.outcome == "success", again.raw
    assert again.step("install").outputs["python"] == python
    assert os.stat(venv / ".aliasgate-ready").st_mtime_ns == built
