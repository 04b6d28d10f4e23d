"""`promote` end to end against a real MLflow server: real processes, real HTTP, real auth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aliasgate import audit
from aliasgate.registry import open_registry
from aliasgate.registry.mlflow import GEN_TAG
from aliasgate.registry.mlflow import lock_name as _lock_name
from tests.conftest import PROMOTE, Demo, Run, clean_env, run_promote
from tests.mlflow_fixtures import DEMO_SEED, SeededDemo
from tests.servers import mlflow_seed
from tests.servers.mlflow_proxy import RecordingProxy
from tests.servers.mlflow_server import Account, MlflowServer

pytestmark = pytest.mark.mlflow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "promote.yaml"


def policy_for(demo: SeededDemo, tmp_path: Path, source: Path = EXAMPLE) -> Path:
    """The example policy with the demo's model names (each test seeds its own copies)."""
    text = source.read_text(encoding="utf-8")
    for seed_name, name in demo.names.items():
        text = text.replace(seed_name, name)
    path = tmp_path / source.name
    path.write_text(text, encoding="utf-8")
    return path


def promote(*args: str, cwd: Path, account: Account | None = None, **env: str) -> Run:
    extra = dict(env)
    if account is not None:
        extra.update(account.env())
    return run_promote(*args, cwd=cwd, env=clean_env(**extra))


def test_plan_apply_history_rollback(mlflow_demo: SeededDemo, tmp_path: Path) -> None:
    policy, clf, uri = policy_for(mlflow_demo, tmp_path), mlflow_demo.classifier, mlflow_demo.uri

    plan = promote("plan", "-p", str(policy), "--registry", uri, cwd=tmp_path)
    assert plan.code == 0, plan.output
    assert f"move {clf}:production v2 -> v4" in plan.stdout
    assert mlflow_demo.aliases(clf)["production"] == 2  # planning wrote nothing

    applied = promote("apply", "-p", str(policy), "--registry", uri, "--json", cwd=tmp_path)
    assert applied.code == 0, applied.output
    assert json.loads(applied.stdout)["result"]["changed"] is True
    assert mlflow_demo.aliases(clf)["production"] == 4

    again = promote("apply", "-p", str(policy), "--registry", uri, cwd=tmp_path)
    assert again.code == 0 and mlflow_demo.aliases(clf)["production"] == 4  # up to date: no second move

    history = promote("history", clf, "--registry", uri, "--verify", "--json", cwd=tmp_path)
    assert history.code == 0, history.output
    records = json.loads(history.stdout)["records"]
    assert [(r["kind"], r["from"], r["to"], r["rule"]) for r in records] == [
        ("promote", 2, 4, "ship-classifier")
    ]
    assert records[0]["gates"] and records[0]["policy"]["sha256"]

    rolled = promote("rollback", clf, "production", "--registry", uri, cwd=tmp_path)
    assert rolled.code == 0, rolled.output
    assert mlflow_demo.aliases(clf)["production"] == 2

    fresh_runner = tmp_path / "elsewhere"  # no local state: everything comes from MLflow
    fresh_runner.mkdir()
    history = promote("history", clf, "--registry", uri, "--verify", "--json", cwd=fresh_runner)
    assert history.code == 0, history.output
    assert [(r["kind"], r["to"]) for r in json.loads(history.stdout)["records"]] == [
        ("rollback", 2),
        ("promote", 4),
    ]

    status = promote("status", clf, "--registry", uri, cwd=fresh_runner)
    assert status.code == 0 and "production" in status.stdout and "0.912" in status.stdout
    assert "source" in status.stdout and "run " in status.stdout  # MLflow's source run, shown
    status = promote("status", clf, "--registry", uri, "--json", cwd=fresh_runner)
    v4 = next(v for v in json.loads(status.stdout)["versions"] if v["version"] == 4)
    assert v4["lineage"] == [f"{mlflow_demo.tokenizer}:v2"] and v4["source"].startswith("run ")


def test_saved_plan_applies_exactly_once(mlflow_demo: SeededDemo, tmp_path: Path) -> None:
    policy, clf, uri = policy_for(mlflow_demo, tmp_path), mlflow_demo.classifier, mlflow_demo.uri
    saved = tmp_path / "plan.json"
    assert promote("plan", "-p", str(policy), "--registry", uri, "-o", str(saved), cwd=tmp_path).code == 0
    first = promote("apply", str(saved), "-p", str(policy), "--registry", uri, cwd=tmp_path)
    assert first.code == 0, first.output
    assert mlflow_demo.aliases(clf)["production"] == 4
    before = (mlflow_demo.tags(clf), mlflow_demo.segments(clf))
    stale = promote("apply", str(saved), "-p", str(policy), "--registry", uri, cwd=tmp_path)
    assert stale.code == 4, stale.output
    assert (mlflow_demo.tags(clf), mlflow_demo.segments(clf)) == before


def test_read_only_account_gets_exit_1_and_nothing_changes(
    mlflow_auth_demo: SeededDemo, tmp_path: Path
) -> None:
    policy, clf, uri = (
        policy_for(mlflow_auth_demo, tmp_path),
        mlflow_auth_demo.classifier,
        mlflow_auth_demo.uri,
    )
    reader = mlflow_auth_demo.accounts["READ"]
    before = (mlflow_auth_demo.aliases(clf), mlflow_auth_demo.tags(clf), mlflow_auth_demo.segments(clf))

    plan = promote("plan", "-p", str(policy), "--registry", uri, cwd=tmp_path, account=reader)
    assert plan.code == 0, plan.output  # READ is enough to plan

    result = promote("apply", "-p", str(policy), "--registry", uri, cwd=tmp_path, account=reader)
    assert result.code == 1, result.output
    assert reader.username in result.output and clf in result.output and "EDIT" in result.output
    assert "Traceback" not in result.output
    assert reader.password not in result.output
    assert (
        mlflow_auth_demo.aliases(clf),
        mlflow_auth_demo.tags(clf),
        mlflow_auth_demo.segments(clf),
    ) == before
    assert mlflow_auth_demo.locks() == []


def test_editor_account_promotes_and_is_the_recorded_principal(
    mlflow_auth_demo: SeededDemo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, clf, uri = (
        policy_for(mlflow_auth_demo, tmp_path),
        mlflow_auth_demo.classifier,
        mlflow_auth_demo.uri,
    )
    editor = mlflow_auth_demo.accounts["EDIT"]
    who = promote("whoami", "--registry", uri, "--json", cwd=tmp_path, account=editor)
    assert who.code == 0, who.output
    assert (
        json.loads(who.stdout)["name"] == editor.username and json.loads(who.stdout)["authenticated"] is True
    )
    result = promote("apply", "-p", str(policy), "--registry", uri, cwd=tmp_path, account=editor)
    assert result.code == 0, result.output
    assert editor.password not in result.output
    assert mlflow_auth_demo.server.admin is not None
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", mlflow_auth_demo.server.admin.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_auth_demo.server.admin.password)
    log = open_registry(uri).audit_log(clf)
    assert log.records[-1]["principal"]["name"] == editor.username
    assert log.records[-1]["principal"]["authenticated"] is True
    assert editor.password not in json.dumps(log.records)


def test_whoami_without_auth_says_so(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    who = promote("whoami", "--registry", mlflow_server.registry_uri, cwd=tmp_path)
    assert who.code == 0, who.output
    assert "no authentication" in who.stdout and "unauthenticated" in who.stdout
    # `--registry mlflow` takes the server from MLFLOW_TRACKING_URI, as MLflow's own client does
    who = promote("whoami", "--registry", "mlflow", cwd=tmp_path, MLFLOW_TRACKING_URI=mlflow_server.url)
    assert who.code == 0 and mlflow_server.registry_uri in who.stdout, who.output
    missing = promote("whoami", "--registry", "mlflow", cwd=tmp_path)
    assert missing.code == 2 and "MLFLOW_TRACKING_URI" in missing.output


def test_plan_and_dry_run_send_no_mutating_request(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, tmp_path: Path
) -> None:
    policy, uri = policy_for(mlflow_demo, tmp_path), recording_proxy.registry_uri
    for args in (
        ("plan", "-p", str(policy), "--registry", uri),
        ("plan", "-p", str(policy), "--registry", uri, "-o", str(tmp_path / "p.json")),
        ("apply", "-p", str(policy), "--registry", uri, "--dry-run"),
        ("status", mlflow_demo.classifier, "--registry", uri),
        ("history", mlflow_demo.classifier, "--registry", uri, "--verify"),
        ("whoami", "--registry", uri),
    ):
        recording_proxy.clear()
        result = promote(*args, cwd=tmp_path)
        assert result.code == 0, result.output
        assert recording_proxy.calls(), "the proxy saw the command's reads"
        assert recording_proxy.mutating() == [], (args, recording_proxy.calls())
    assert mlflow_demo.aliases(mlflow_demo.classifier)["production"] == 2
    recording_proxy.clear()  # the same proxy does see a real apply's writes
    assert promote("apply", "-p", str(policy), "--registry", uri, cwd=tmp_path).code == 0
    assert len(recording_proxy.mutating()) == 5


def test_bundle_failure_is_undone_and_audited(mlflow_auth_demo: SeededDemo, tmp_path: Path) -> None:
    """The classifier moves, the tokenizer move is refused (READ only): the classifier goes back."""
    server, clf, tok = mlflow_auth_demo.server, mlflow_auth_demo.classifier, mlflow_auth_demo.tokenizer
    run_id = server.api("POST", "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
    server.api(
        "POST",
        "model-versions/create",
        {
            "name": tok,
            "source": f"runs:/{run_id}/model",
            "run_id": run_id,
            "tags": [{"key": "vocab_size", "value": "32000"}, {"key": "aliasgate.inputs", "value": ""}],
        },
    )
    server.api("POST", "registered-models/alias", {"name": tok, "alias": "staging", "version": "3"})
    server.api(
        "POST",
        "model-versions/set-tag",
        {"name": clf, "version": "4", "key": "aliasgate.inputs", "value": f"{tok}:v3"},
    )
    half = server.create_user(f"{mlflow_auth_demo.prefix}svc-half")
    server.grant(half.username, clf, "EDIT")
    server.grant(half.username, tok, "READ")
    policy = policy_for(mlflow_auth_demo, tmp_path, EXAMPLE.with_name("bundle.yaml"))

    result = promote(
        "apply", "-p", str(policy), "--registry", mlflow_auth_demo.uri, cwd=tmp_path, account=half
    )
    assert result.code == 1, result.output
    assert "EDIT" in result.output and tok in result.output and "Traceback" not in result.output
    assert mlflow_auth_demo.aliases(clf)["production"] == 2
    assert mlflow_auth_demo.aliases(tok)["production"] == 2
    tags = mlflow_auth_demo.record_tags(clf)
    records = [json.loads(tags[f"aliasgate.audit.{seq}"]) for seq in (1, 2)]
    assert [(r["kind"], r["from"], r["to"]) for r in records] == [("promote", 2, 4), ("undo", 4, 2)]
    assert json.loads(mlflow_auth_demo.tags(clf)["aliasgate.audit.head"])["hash"] == records[1]["hash"]
    assert mlflow_auth_demo.segments(tok) == {} and "aliasgate.audit.head" not in mlflow_auth_demo.tags(tok)


@pytest.mark.slow
def test_sixteen_concurrent_applies_form_a_linear_chain(mlflow_demo: SeededDemo, tmp_path: Path) -> None:
    """16 processes, each promoting its own version to production at the same moment."""
    server, clf = mlflow_demo.server, mlflow_demo.classifier
    targets = []
    for _ in range(16):
        created = server.api(
            "POST", "model-versions/create", {"name": clf, "source": "s3://aliasgate-test/m"}
        )
        targets.append(int(created["model_version"]["version"]))
    procs = []
    for n in targets:
        policy = tmp_path / f"p{n}.yaml"
        policy.write_text(
            f"version: 1\npromotions:\n  - name: take-v{n}\n    model: {clf}\n    from: v{n}\n    to: production\n",
            encoding="utf-8",
        )
        procs.append(
            subprocess.Popen(
                [PROMOTE, "apply", "-p", str(policy), "--registry", mlflow_demo.uri, "--json"],
                cwd=tmp_path,
                env=clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    finished = [(proc, *proc.communicate(timeout=300)) for proc in procs]
    codes = [proc.returncode for proc, _, _ in finished]
    for proc, out, err in finished:
        assert proc.returncode in (0, 4), out + err
        assert "Traceback" not in err
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert audit.verify(log).ok
    holder = 2
    for record in log.records:
        assert record["from"] == holder, "a move started from a holder the previous move had replaced"
        holder = record["to"]
    assert mlflow_demo.aliases(clf)["production"] == holder
    assert len(log.records) == codes.count(0) >= 1  # every winner audited, no move lost
    assert codes.count(4) == 16 - codes.count(0)
    assert mlflow_demo.locks() == []


@pytest.mark.slow
def test_a_killed_processs_lock_expires_and_is_taken_over(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, tmp_path: Path
) -> None:
    policy, clf = policy_for(mlflow_demo, tmp_path), mlflow_demo.classifier
    env = clean_env(PROMOTE_MLFLOW_LOCK_TTL="3")
    held = recording_proxy.hold("POST", "registered-models/alias")  # pause the move itself
    victim = subprocess.Popen(
        [PROMOTE, "apply", "-p", str(policy), "--registry", recording_proxy.registry_uri],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert held.reached.wait(120), "the apply never reached its move"
        assert mlflow_demo.locks() == [_lock_name(clf, 0)]  # it holds the lock now
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(30)
    finally:
        if victim.poll() is None:
            victim.kill()
        held.drop()  # the killed process's request never reaches MLflow
    assert mlflow_demo.aliases(clf)["production"] == 2

    started = time.monotonic()
    result = run_promote("apply", "-p", str(policy), "--registry", mlflow_demo.uri, cwd=tmp_path, env=env)
    assert result.code == 0, result.output
    assert time.monotonic() - started < 120  # it did not wait for the default lock wait either
    assert mlflow_demo.aliases(clf)["production"] == 4
    assert mlflow_demo.tags(clf)[GEN_TAG] == "1"
    assert mlflow_demo.locks() == []  # same (anonymous) account: the stale lock was removed
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert [(r["from"], r["to"]) for r in log.records] == [(2, 4)]  # the dead one's record was dropped
    assert audit.verify(log).ok


@pytest.fixture(scope="session")
def unprefixed_mlflow_demo(mlflow_server: MlflowServer) -> SeededDemo:
    """The demo under its own names (the example policy names them), seeded once per session."""
    return SeededDemo(mlflow_server, mlflow_seed.load(mlflow_server, DEMO_SEED), prefix="bert-")


def test_the_example_policy_runs_unchanged_on_embedded_and_mlflow(
    demo: Demo, unprefixed_mlflow_demo: SeededDemo
) -> None:
    policy = str(demo.policy("promote.yaml"))
    results = {}
    for name, uri in (("embedded", demo.uri), ("mlflow", unprefixed_mlflow_demo.uri)):
        planned = promote("plan", "-p", policy, "--registry", uri, "--json", cwd=demo.path)
        assert planned.code == 0, (name, planned.output)
        applied = promote("apply", "-p", policy, "--registry", uri, "--json", cwd=demo.path)
        assert applied.code == 0, (name, applied.output)
        status = promote("status", "bert-classifier", "--registry", uri, "--json", cwd=demo.path)
        assert status.code == 0, (name, status.output)
        history = promote(
            "history", "bert-classifier", "--registry", uri, "--verify", "--json", cwd=demo.path
        )
        assert history.code == 0, (name, history.output)
        rules = json.loads(planned.stdout)["rules"]
        results[name] = {
            "plan": [
                (r["rule"], r["status"], r["moves"], [(g["gate"], g["passed"]) for g in r["gates"]])
                for r in rules
            ],
            "aliases": json.loads(status.stdout)["aliases"],
            # (the embedded import also audits the seed's aliases as manual moves)
            "history": [
                (r["kind"], r["alias"], r["from"], r["to"], r["rule"])
                for r in json.loads(history.stdout)["records"]
                if r["kind"] == "promote"
            ],
        }
    assert results["embedded"] == results["mlflow"]
    assert results["mlflow"]["aliases"]["production"] == 4
