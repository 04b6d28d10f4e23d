"""Provenance on real temporary git repositories; GitHub variables; no secret lands in a record."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aliasgate import provenance
from aliasgate.model import AliasOp, Principal, utcnow


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "policies"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "aliasgate.yaml").write_text("version: 1\n")
    git(r, "add", ".")
    git(r, "commit", "-q", "-m", "policy", "--date", "2026-01-01T00:00:00Z")
    git(
        r,
        "remote",
        "add",
        "origin",
        "https://x-access-token:ghs_abcdefghijklmnopqrstuvwxyz0123@github.com/acme/ml.git",
    )
    return r


P = Principal("svc", True, "test")


def test_records_the_real_commit_branch_and_clean_state(repo: Path) -> None:
    info = provenance.git(repo, repo / "aliasgate.yaml")
    assert info["commit"] == git(repo, "rev-parse", "HEAD")
    assert info["dirty"] is False and info["branch"] == "main"
    assert info["policy_path"] == "aliasgate.yaml" and info["policy_dirty"] is False
    assert info["remote"] == "https://github.com/acme/ml.git"  # credentials stripped


def test_records_dirty_policy(repo: Path) -> None:
    (repo / "aliasgate.yaml").write_text("version: 1\npromotions: []\n")
    info = provenance.git(repo, repo / "aliasgate.yaml")
    assert info["dirty"] is True and info["policy_dirty"] is True


def test_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    assert provenance.git(repo)["branch"] is None


def test_outside_a_repository_is_recorded_as_such(tmp_path: Path) -> None:
    assert provenance.git(tmp_path) == {"repository": False}


def test_github_context_and_run_url() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_REPOSITORY": "acme/ml",
        "GITHUB_RUN_ID": "123",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_SHA": "a" * 40,
        "GITHUB_WORKFLOW": "promote",
    }
    prov = provenance.collect(P, env=env)
    assert prov.actor == "octocat"
    assert (
        prov.ci is not None and prov.ci["run_url"] == "https://github.com/acme/ml/actions/runs/123/attempts/2"
    )
    assert prov.ci["sha"] == "a" * 40
    assert provenance.collect(P, env={}).ci is None


def test_no_secret_looking_value_lands_in_a_record(repo: Path, demo, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    secrets = {
        "GITHUB_TOKEN": "ghs_0123456789abcdefghijABCDEFGHIJ",
        "MLFLOW_TRACKING_PASSWORD": "correct-horse-battery-staple",
        "WANDB_API_KEY": "a" * 40,
        "PROMOTE_TOKEN": "tok-9f8e7d6c5b4a",
        "MY_SERVICE_SECRET": "hunter2-but-longer",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GITHUB_ACTIONS", "")  # not on GitHub: no workflow commands in output
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/ml")
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    # a policy inside a git repository whose remote URL carries a token
    shutil.copy(demo.policy(), repo / "aliasgate.yaml")
    run = cli("apply", "-p", str(repo / "aliasgate.yaml"), "--registry", demo.uri)
    assert run.code == 0, run.output
    records = demo.registry().audit_log("bert-classifier").records
    text = json.dumps(records) + run.output
    for value in secrets.values():
        assert value not in text
    assert "ghs_abcdefghijklmnopqrstuvwxyz0123" not in text
    rec = records[-1]
    assert rec["git"]["commit"] == git(repo, "rev-parse", "HEAD")
    assert rec["git"]["policy_dirty"] is True  # aliasgate.yaml is untracked: not the committed policy
    assert rec["ci"]["run_url"].endswith("/acme/ml/actions/runs/77") and rec["actor"] == "octocat"
    assert (
        rec["policy"]["sha256"]
        == __import__("hashlib").sha256((repo / "aliasgate.yaml").read_bytes()).hexdigest()
    )


def test_record_body_has_every_field() -> None:
    prov = provenance.collect(P, policy_path=None, env={})
    body = prov.body(
        AliasOp("m", "production", 1, 2), kind="promote", now=utcnow(), rule="r", gates=[{"g": 1}]
    )
    for key in (
        "principal",
        "actor",
        "host",
        "at",
        "git",
        "policy",
        "rule",
        "from",
        "to",
        "gates",
        "ci",
        "aliasgate",
    ):
        assert key in body
    assert body["principal"]["name"] == "svc" and body["from"] == 1 and body["to"] == 2


def test_tracked_change_elsewhere_makes_the_repo_dirty_but_not_the_policy(repo: Path) -> None:
    (repo / "other.txt").write_text("x")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-q", "-m", "other")
    (repo / "other.txt").write_text("changed")
    (repo / "untracked.txt").write_text("new")
    info = provenance.git(repo, repo / "aliasgate.yaml")
    assert info["dirty"] is True and info["policy_dirty"] is False


def test_untracked_files_alone_do_not_make_the_repo_dirty(repo: Path) -> None:
    (repo / "scratch.txt").write_text("x")
    info = provenance.git(repo, repo / "aliasgate.yaml")
    assert info["dirty"] is False and info["policy_dirty"] is False


def test_renamed_policy_is_dirty(repo: Path) -> None:
    git(repo, "mv", "aliasgate.yaml", "policy.yaml")
    info = provenance.git(repo, repo / "policy.yaml")
    assert info["dirty"] is True and info["policy_dirty"] is True
