"""action.yml, workflows/ and .pre-commit-hooks.yaml held to one bar for GitHub Actions security.

* actionlint (with shellcheck) over workflows/, over each workflow again with the action
  wired in locally (so every `with:` is checked against action.yml's inputs), and over a
  workflow made of action.yml's own steps (actionlint reads workflows only);
* zizmor, offline, with its most demanding persona (auditor), zero findings;
* check-jsonschema with its vendored GitHub action and workflow schemas (no network);
* and the rules themselves, checked structurally: full-SHA pins that match the
  verified table below, least permissions, persist-credentials: false, timeouts,
  concurrency per model, cleanup a dry run on manual dispatch, rollback behind an
  environment; release.yml publishing only a tag that names the version, with attested
  provenance and trusted publishing (no stored token).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, clean_env
from tests.github_runner import substitute

WORKFLOWS = sorted((ROOT / "workflows").glob("*.yml"))
RELEASE = ROOT / "workflows" / "release.yml"
# the workflows a user copies (release.yml is aliasgate's own)
USER_WORKFLOWS = [p for p in WORKFLOWS if p != RELEASE]
ACTION = ROOT / "action.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent

# Third-party actions, pinned to the commit their release tag points at. Verified against the
# actions' own git repositories (each tag -> this commit) when pinned; pypa/gh-action-pypi-publish's
# v1.13.0 commit against its release page and the workflows of several projects publishing with it.
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "actions/attest-build-provenance": ("a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32", "v4.1.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "pypa/gh-action-pypi-publish": ("ed0c53931b1dc9bd32cbe73a98c7f6766f8a527e", "v1.13.0"),
}
# aliasgate itself: users replace this with the commit of the release they audited.
SELF = "aliasgate/aliasgate"
SELF_PLACEHOLDER = "0" * 40


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def on(workflow: dict[str, Any]) -> dict[str, Any]:
    # PyYAML (YAML 1.1) reads the key `on` as True
    triggers: dict[str, Any] = workflow.get("on", workflow.get(True))  # type: ignore[call-overload]
    return triggers


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if not found:
            pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
        return found
    return str(path)


def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = clean_env(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_there_are_four_workflows_to_copy_and_the_release() -> None:
    assert [p.name for p in USER_WORKFLOWS] == ["approve.yml", "cleanup.yml", "promote.yml", "rollback.yml"]
    assert [p.name for p in WORKFLOWS] == [
        "approve.yml",
        "cleanup.yml",
        "promote.yml",
        "release.yml",
        "rollback.yml",
    ]


# -- the linters ---------------------------------------------------------------------------------------------


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    tool("shellcheck")
    result = run(tool("actionlint"), "-no-color", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def _as_workflow(action: dict[str, Any]) -> dict[str, Any]:
    """action.yml's steps as a reusable workflow, so actionlint checks their scripts and expressions."""
    inputs = {
        name: {"type": "string", "required": False, "default": str(spec.get("default", ""))}
        for name, spec in action["inputs"].items()
    }
    return {
        "name": "action.yml as a workflow",
        "on": {"workflow_call": {"inputs": inputs}},
        "permissions": {},
        "jobs": {
            "action": {"runs-on": "ubuntu-24.04", "timeout-minutes": 10, "steps": action["runs"]["steps"]}
        },
    }


def test_actionlint_finds_nothing_in_the_action_steps(tmp_path: Path) -> None:
    tool("shellcheck")
    wf = tmp_path / ".github" / "workflows" / "action.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(yaml.safe_dump(_as_workflow(load(ACTION)), sort_keys=False), encoding="utf-8")
    result = run(tool("actionlint"), "-no-color", str(wf), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_checks_the_workflows_inputs_against_action_yml(tmp_path: Path) -> None:
    """Each workflow with `uses: ./` instead of the release: actionlint then validates every
    `with:` key against the inputs action.yml declares."""
    shutil.copy2(ACTION, tmp_path / "action.yml")
    target = tmp_path / ".github" / "workflows"
    target.mkdir(parents=True)
    for wf in USER_WORKFLOWS:
        text = wf.read_text(encoding="utf-8").replace(f"{SELF}@{SELF_PLACEHOLDER}", "./")
        assert "uses: ./ #" in text
        (target / wf.name).write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=clean_env())
    result = run(tool("actionlint"), "-no-color", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # and the check is real: an input the action does not declare is reported
    broken = (target / "rollback.yml").read_text(encoding="utf-8").replace("reason: ${{", "why: ${{")
    (target / "rollback.yml").write_text(broken, encoding="utf-8")
    result = run(tool("actionlint"), "-no-color", cwd=tmp_path)
    assert result.returncode != 0 and '"why"' in result.stdout


def test_actionlint_is_not_a_rubber_stamp(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n"
        '    steps:\n      - run: echo "${{ github.event.head_commit.message }}"\n',
        encoding="utf-8",
    )
    result = run(tool("actionlint"), "-no-color", str(bad))
    assert result.returncode != 0 and "untrusted" in result.stdout


def test_zizmor_finds_nothing() -> None:
    files = [str(p) for p in (*WORKFLOWS, ACTION, HOOKS)]
    result = run(
        tool("zizmor"), "--offline", "--persona", "auditor", "--no-ignores", "--format", "plain", *files
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr
    for path in files:  # every file was audited, none skipped
        assert f"completed {path}" in result.stderr, path


def test_zizmor_is_not_a_rubber_stamp(tmp_path: Path) -> None:
    text = (
        (ROOT / "workflows" / "promote.yml")
        .read_text(encoding="utf-8")
        .replace(f"actions/checkout@{PINS['actions/checkout'][0]}", "actions/checkout@v7")
    )
    bad = tmp_path / "promote.yml"
    bad.write_text(text.replace("persist-credentials: false", "persist-credentials: true"), encoding="utf-8")
    result = run(tool("zizmor"), "--offline", "--persona", "auditor", "--format", "plain", str(bad))
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout and "artipacked" in result.stdout


@pytest.mark.parametrize(
    ("schema", "paths"),
    [
        ("vendor.github-workflows", WORKFLOWS),
        ("custom.github-workflows-require-timeout", WORKFLOWS),
        ("vendor.github-actions", [ACTION]),
    ],
)
def test_check_jsonschema_with_the_vendored_github_schemas(schema: str, paths: list[Path]) -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_check_jsonschema_catches_a_broken_action(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    bad.write_text(
        ACTION.read_text(encoding="utf-8").replace("using: composite", "using: compost"), encoding="utf-8"
    )
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(bad))
    assert result.returncode != 0


# -- the rules, structurally ----------------------------------------------------------------------------------


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    out = [(ACTION.name, s) for s in load(ACTION)["runs"]["steps"]]
    for wf in WORKFLOWS:
        for job in load(wf)["jobs"].values():
            out += [(wf.name, s) for s in job["steps"]]
    return out


def test_every_action_is_pinned_by_full_sha_with_its_tag() -> None:
    sources = {p.name: p.read_text(encoding="utf-8") for p in (*WORKFLOWS, ACTION)}
    seen = set()
    for where, step in all_steps():
        if "uses" not in step:
            continue
        name, _, ref = step["uses"].partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{where}: {step['uses']} is not pinned to a commit"
        line = next(line for line in sources[where].splitlines() if step["uses"] in line)
        if name == SELF:
            assert ref == SELF_PLACEHOLDER, f"{where}: aliasgate pinned to an unverifiable commit"
            assert "# vX.Y.Z" in line
            continue
        assert name in PINS, f"{where}: {name} is not in the verified table"
        sha, tag = PINS[name]
        assert ref == sha and line.rstrip().endswith(f"# {tag}"), f"{where}: {line.strip()}"
        seen.add(name)
    assert seen == set(PINS)


def test_checkouts_never_persist_credentials() -> None:
    checkouts = [s for _, s in all_steps() if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


# The release's jobs get exactly what their step needs: signing the attestation (id-token) and storing it
# (attestations) for the build; the trusted-publishing token (id-token) and nothing else for the publish.
RELEASE_PERMISSIONS = {
    "build": {"contents": "read", "id-token": "write", "attestations": "write"},
    "publish": {"id-token": "write"},
}


def test_least_permissions_and_timeouts() -> None:
    for wf in WORKFLOWS:
        data = load(wf)
        assert data["permissions"] == {}, wf.name
        for name, job in data["jobs"].items():
            if wf == RELEASE:
                assert job["permissions"] == RELEASE_PERMISSIONS[name], f"{wf.name}:{name}"
            else:
                assert job["permissions"] in ({}, {"contents": "read"}), f"{wf.name}:{name}"
                assert "environment" in job, f"{wf.name}:{name}: secrets only through an environment"
            assert 0 < job["timeout-minutes"] <= 60, f"{wf.name}:{name}"


def test_no_expression_inside_any_run_script() -> None:
    for where, step in all_steps():
        if "run" in step:
            assert "${{" not in step["run"], f"{where}: {step.get('name')}"


def test_promote_plans_on_pull_requests_and_applies_on_main() -> None:
    wf = load(ROOT / "workflows" / "promote.yml")
    triggers = on(wf)
    assert set(triggers) == {"pull_request", "push", "workflow_dispatch"}
    assert triggers["push"]["branches"] == ["main"]
    plan, apply = wf["jobs"]["plan"], wf["jobs"]["apply"]
    ctx_pr = {
        "github": {
            "event_name": "pull_request",
            "repository": "acme/models",
            "event": {"pull_request": {"head": {"repo": {"full_name": "acme/models"}}}},
        }
    }
    ctx_fork = {
        "github": {
            "event_name": "pull_request",
            "repository": "acme/models",
            "event": {"pull_request": {"head": {"repo": {"full_name": "mallory/models"}}}},
        }
    }
    ctx_push = {"github": {"event_name": "push", "repository": "acme/models"}}
    assert substitute("${{ " + plan["if"] + " }}", ctx_pr) == "true"
    assert substitute("${{ " + plan["if"] + " }}", ctx_fork) == "false"
    assert substitute("${{ " + plan["if"] + " }}", ctx_push) == "false"
    assert substitute("${{ " + apply["if"] + " }}", ctx_push) == "true"
    assert substitute("${{ " + apply["if"] + " }}", ctx_pr) == "false"
    plan_step = next(s for s in plan["steps"] if s.get("id") == "plan")
    apply_step = next(s for s in apply["steps"] if s.get("id") == "apply")
    assert plan_step["with"]["command"] == "plan" and apply_step["with"]["command"] == "apply"
    # one apply per model at a time, never cancelled halfway
    assert apply["concurrency"] == {"group": "aliasgate-${{ matrix.model }}", "cancel-in-progress": False}
    assert "${{ matrix.model }}" in plan["concurrency"]["group"]
    dry = apply_step["with"]["dry-run"]
    assert substitute(dry, {"github": {"event_name": "push"}, "inputs": {}}) == "false"
    assert (
        substitute(dry, {"github": {"event_name": "workflow_dispatch"}, "inputs": {"dry-run": True}})
        == "true"
    )


def test_cleanup_runs_on_a_schedule_and_dry_runs_when_started_by_hand() -> None:
    wf = load(ROOT / "workflows" / "cleanup.yml")
    triggers = on(wf)
    assert triggers["schedule"][0]["cron"]
    assert triggers["workflow_dispatch"]["inputs"]["dry-run"]["default"] is True
    (step,) = [s for s in wf["jobs"]["cleanup"]["steps"] if s.get("with", {}).get("command") == "cleanup"]
    dry = step["with"]["dry-run"]
    assert substitute(dry, {"github": {"event_name": "schedule"}, "inputs": {}}) == "false"
    assert (
        substitute(dry, {"github": {"event_name": "workflow_dispatch"}, "inputs": {"dry-run": True}})
        == "true"
    )
    assert (
        substitute(dry, {"github": {"event_name": "workflow_dispatch"}, "inputs": {"dry-run": False}})
        == "false"
    )
    # W&B's own TTL is switched off on kept versions only when the repository variable says so
    ttl = step["with"]["native-ttl"]
    assert substitute(ttl, {"vars": {}}) == "false"
    assert substitute(ttl, {"vars": {"ALIASGATE_NATIVE_TTL": "false"}}) == "false"
    assert substitute(ttl, {"vars": {"ALIASGATE_NATIVE_TTL": "true"}}) == "true"


def test_rollback_is_manual_and_waits_for_an_environment() -> None:
    wf = load(ROOT / "workflows" / "rollback.yml")
    triggers = on(wf)
    assert set(triggers) == {"workflow_dispatch"}
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["model"]["required"] and inputs["alias"]["required"]
    job = wf["jobs"]["rollback"]
    assert job["environment"] == "model-rollback"
    assert job["permissions"] == {}
    assert job["concurrency"]["group"] == "aliasgate-${{ inputs.model }}"  # the same group as apply
    (step,) = [s for s in job["steps"] if s.get("with", {}).get("command") == "rollback"]
    assert step["with"]["model"] == "${{ inputs.model }}" and step["with"]["alias"] == "${{ inputs.alias }}"


def test_approve_is_manual_and_each_approver_uses_their_own_environment() -> None:
    wf = load(ROOT / "workflows" / "approve.yml")
    assert set(on(wf)) == {"workflow_dispatch"}
    plan, approve = wf["jobs"]["plan"], wf["jobs"]["approve"]
    assert plan["environment"] == "model-registry-plan"  # the read-only account makes the plan
    assert approve["needs"] == "plan"
    assert approve["environment"] == "model-approval-${{ inputs.approver }}"  # never model-registry
    step = next(s for s in approve["steps"] if s.get("with", {}).get("command") == "approve")
    assert step["with"]["plan-file"] == "${{ runner.temp }}/plan.json"


def test_workflows_use_only_inputs_the_action_declares() -> None:
    declared = set(load(ACTION)["inputs"])
    for where, step in all_steps():
        if step.get("uses", "").startswith(f"{SELF}@"):
            assert set(step["with"]) <= declared, where


# -- pre-commit ------------------------------------------------------------------------------------------------


def test_pre_commit_hook_runs_promote_check() -> None:
    (hook,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert hook["id"] == "aliasgate-check"
    assert hook["entry"] == "promote check"
    assert hook["language"] == "python"
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])

    def selected(path: str) -> bool:
        return bool(files.search(path)) and not exclude.search(path)

    for path in (
        "aliasgate.yaml",
        "aliasgate/bert-classifier.yaml",
        "ml/aliasgate-prod.yml",
        "aliasgate/sub/x.yml",
    ):
        assert selected(path), path
    for path in (
        "examples/demo-registry.yaml",
        ".github/workflows/aliasgate.yml",
        "values.yaml",
        "promote.yml",
    ):
        assert not selected(path), path


def test_pre_commit_hook_entry_checks_files_like_pre_commit_would(tmp_path: Path) -> None:
    """pre-commit runs `entry` with the matching file names appended: good passes, bad fails."""
    (hook,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    good, bad = ROOT / "examples" / "aliasgate.yaml", ROOT / "examples" / "invalid" / "wrong-type.yaml"
    argv = [str(BIN / hook["entry"].split()[0]), *hook["entry"].split()[1:]]
    assert run(*argv, str(good)).returncode == 0
    failed = run(*argv, str(good), str(bad))
    assert failed.returncode == 2 and "wrong-type.yaml:" in failed.stderr


# -- release.yml ------------------------------------------------------------------------------------------------


def _steps_by_action(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["uses"].partition("@")[0]: s for s in job["steps"] if "uses" in s}


def test_release_runs_on_version_tags_only() -> None:
    wf = load(RELEASE)
    assert on(wf) == {"push": {"tags": ["v*.*.*"]}}  # no branch, no pull request, no manual run
    assert wf["concurrency"]["cancel-in-progress"] is False


def test_release_builds_attests_then_publishes_with_trusted_publishing() -> None:
    wf = load(RELEASE)
    text = RELEASE.read_text(encoding="utf-8")
    build, publish = wf["jobs"]["build"], wf["jobs"]["publish"]
    names = [s.get("uses", "").partition("@")[0] or s["name"] for s in build["steps"]]
    assert names == [
        "actions/checkout",
        "actions/setup-python",
        "Refuse a tag that is not the version",
        "Build the wheel and the sdist",
        "actions/attest-build-provenance",
        "actions/upload-artifact",
    ]
    built = next(s for s in build["steps"] if s.get("name") == "Build the wheel and the sdist")
    assert "python3 -m build" in built["run"] and "twine check --strict dist/*" in built["run"]
    steps = _steps_by_action(build)
    assert steps["actions/attest-build-provenance"]["with"] == {"subject-path": "dist/*"}
    assert "cache" not in steps["actions/setup-python"]["with"]  # no cache to poison a release
    upload = steps["actions/upload-artifact"]["with"]
    # the publish job runs no code from the repository: it fetches what build attested and publishes it
    assert publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    assert [s["uses"].partition("@")[0] for s in publish["steps"]] == [
        "actions/download-artifact",
        "pypa/gh-action-pypi-publish",
    ]
    download = _steps_by_action(publish)["actions/download-artifact"]["with"]
    assert download["name"] == upload["name"] and download["path"] == upload["path"] == "dist/"
    # trusted publishing: no token, no password, no secret anywhere in the file
    assert "with" not in _steps_by_action(publish)["pypa/gh-action-pypi-publish"]
    assert "secrets." not in text and "password" not in text.lower()


def _tag_check(tmp_path: Path, tag: str, changelog: str | None = None) -> subprocess.CompletedProcess[str]:
    """The release's tag check, run as the runner would, in a copy of the repository's files."""
    (step,) = [s for s in load(RELEASE)["jobs"]["build"]["steps"] if s.get("name", "").startswith("Refuse")]
    assert step["env"] == {"TAG": "${{ github.ref_name }}"}
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "CHANGELOG.md").write_text(
        changelog if changelog is not None else (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    env = clean_env(TAG=tag)
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def test_release_refuses_a_tag_that_is_not_the_version(tmp_path: Path) -> None:
    from aliasgate import __version__

    assert _tag_check(tmp_path, f"v{__version__}").returncode == 0
    wrong = _tag_check(tmp_path, "v9.9.9")
    assert (
        wrong.returncode == 1
        and f"does not match the version in pyproject.toml ({__version__})" in wrong.stdout
    )
    undated = (
        (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").replace(f"## [{__version__}] - ", "## [x] - ")
    )
    missing = _tag_check(tmp_path, f"v{__version__}", undated)
    assert (
        missing.returncode == 1 and f"CHANGELOG.md has no dated section for {__version__}" in missing.stdout
    )
