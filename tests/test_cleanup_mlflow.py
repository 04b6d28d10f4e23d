"""`promote cleanup` against a real MLflow server on 127.0.0.1.

MLflow sets creation times itself, so the scenario's ages cannot be seeded. Instead the test
reads the real creation times back, plans as of a moment 30 days after the middle of the
seeding (so half the versions are past the 30-day TTLs and half are not), and the oracle uses
the same times: the decision is exactly reproducible, with ages truly spread across the TTL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aliasgate import api, audit, retention
from aliasgate.model import VersionId
from aliasgate.policy import load_text
from aliasgate.registry import open_registry
from aliasgate.registry.mlflow import MlflowRegistry
from aliasgate.seed import ModelSeed
from tests import cleanup_scenario as sc
from tests.conftest import PROMOTE, clean_env, run_promote
from tests.mlflow_fixtures import unique_prefix
from tests.servers import mlflow_seed
from tests.servers.mlflow_proxy import RecordingProxy
from tests.servers.mlflow_server import MlflowServer

pytestmark = pytest.mark.mlflow


def prefixed(models: list[ModelSeed], prefix: str) -> list[ModelSeed]:
    """The scenario with every model (and lineage input) renamed ``prefix + name``."""
    out = []
    for m in models:
        versions = tuple(
            replace(v, inputs=tuple(VersionId(prefix + i.model, i.number) for i in v.inputs))
            for v in m.versions
        )
        out.append(replace(m, name=prefix + m.name, versions=versions))
    return out


def with_real_times(models: list[ModelSeed], reg: Any) -> list[ModelSeed]:
    """The seed as the registry holds it: creation times are MLflow's."""
    out = []
    for m in models:
        created = {v.number: v.created_at for v in reg.versions(m.name)}
        out.append(replace(m, versions=tuple(replace(v, created_at=created[v.number]) for v in m.versions)))
    return out


def prefixed_policy(prefix: str) -> str:
    text = sc.POLICY
    for name in ("clf", "cl*", "tok", "feat*"):
        text = text.replace(f"model: {name}\n", f"model: {prefix}{name}\n")
        text = text.replace(f'model: "{name}"\n', f'model: "{prefix}{name}"\n')
    return text


def deletion_records(reg: Any, models: list[str]) -> dict[VersionId, list[Mapping[str, Any]]]:
    out: dict[VersionId, list[Mapping[str, Any]]] = {}
    for m in models:
        log = reg.audit_log(m)
        assert audit.verify(log).ok, audit.verify(log)
        for r in log.records:
            if r.get("kind") == "delete":
                out.setdefault(VersionId(m, int(r["version"])), []).append(r)
    return out


def live(reg: Any, models: list[str]) -> set[VersionId]:
    return {v.id for m in models for v in reg.versions(m)}


def create_versions(server: MlflowServer, name: str, count: int) -> None:
    """A registered model with ``count`` versions, created four at a time (MLflow numbers them
    safely under concurrency: ``MAX(version)+1`` with retries)."""
    from concurrent.futures import ThreadPoolExecutor

    server.api("POST", "registered-models/create", {"name": name})
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda _: server.api(
                    "POST", "model-versions/create", {"name": name, "source": "s3://bucket/m"}
                ),
                range(count),
            )
        )


def test_the_scenario_on_mlflow_plans_and_deletes_exactly_the_expected_set(
    mlflow_any_server: MlflowServer, tmp_path: Path
) -> None:
    mlflow_server = mlflow_any_server  # SQLite with one server worker, PostgreSQL with four
    prefix = unique_prefix()
    models = prefixed(sc.build(datetime.now().astimezone()), prefix)
    mlflow_seed.load(mlflow_server, models, metrics_in="tags")
    names = [m.name for m in models]
    session = api.connect(mlflow_server.registry_uri)
    try:
        real = with_real_times(models, session.registry)
        clf = next(m for m in real if m.name == prefix + "clf")
        # 30 days after the middle of the classifier's seeding: v1-74 are past 30d, v75-150 are not.
        now = clf.versions[74].created_at + timedelta(days=30) - timedelta(microseconds=500)
        expected = sc.expected_deletions(real, now, prefix=prefix)
        assert {v.model for v in expected} == {prefix + "clf", prefix + "tok", prefix + "feat"}
        assert 60 < len(expected) < 200
        policy = load_text(prefixed_policy(prefix), str(tmp_path / "retention.yaml"))
        plan = api.cleanup_plan(policy, session, now=now)
        assert isinstance(plan, retention.CleanupPlan)
        assert {d.id for d in plan.deletions} == expected  # the dry run lists exactly this
        assert not any("records no lineage" in n for n in plan.notes)
        before = live(session.registry, names)

        result = api.cleanup(session, plan, max_deletions=len(expected), parallel=4)
        assert result.exit_code == 0, [o.message for o in result.outcomes if o.status != "deleted"]
        after = live(session.registry, names)
        assert before - after == expected
        assert not expected & sc.aliased_versions(real)
        inputs = sc.inputs_of(real)
        assert all(i in after for v in after for i in inputs[v])
        records = deletion_records(session.registry, names)
        assert set(records) == expected and all(len(r) == 1 for r in records.values())
        assert all(m.aliases == session.registry.aliases(m.name) for m in real)  # no alias lost
    finally:
        session.close()


def test_a_version_that_gains_an_alias_after_planning_survives(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    name = unique_prefix() + "m"
    mlflow_server.api("POST", "registered-models/create", {"name": name})
    for _ in range(6):
        mlflow_server.api("POST", "model-versions/create", {"name": name, "source": "s3://bucket/model"})
    session = api.connect(mlflow_server.registry_uri)
    try:
        policy = load_text(f"version: 1\nretention:\n  - {{model: {name}, keep_last: 1}}\n", "p.yaml")
        plan = api.cleanup_plan(policy, session)
        assert [d.number for d in plan.deletions] == [5, 4, 3, 2, 1]
        # Another client (not aliasgate) sets an alias between plan and delete. MLflow would drop
        # it silently with the version; the re-check under the model's lock keeps the version.
        mlflow_server.api(
            "POST", "registered-models/alias", {"name": name, "alias": "hotfix", "version": "3"}
        )
        result = api.cleanup(session, plan)
        status = {o.number: o.status for o in result.outcomes}
        assert status == {1: "deleted", 2: "deleted", 3: "skipped", 4: "deleted", 5: "deleted"}
        assert result.exit_code == 0
        assert [v.number for v in session.registry.versions(name)] == [6, 3]
        assert session.registry.aliases(name) == {"hotfix": 3}
        assert set(deletion_records(session.registry, [name])) == {VersionId(name, n) for n in (1, 2, 4, 5)}
    finally:
        session.close()


@pytest.mark.slow
def test_deleting_1000_eligible_versions_leaves_none_behind(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """The paging trap: MLflow's page tokens are offsets, so deleting while paging skips versions.

    1,001 versions span two pages of the backend's listing (1,000 per page); all but the newest
    are eligible."""
    name = unique_prefix() + "big"
    create_versions(mlflow_server, name, 1001)
    policy = tmp_path / "retention.yaml"
    policy.write_text(f"version: 1\nretention:\n  - {{model: {name}, keep_last: 0}}\n", encoding="utf-8")
    uri = mlflow_server.registry_uri
    run = run_promote(
        "cleanup", "-p", str(policy), "-r", uri, "--max-deletions", "1000", "--parallel", "8", "--json",
        cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert run.code == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout)["result"]["summary"]
    assert summary["planned"] == 1000 and summary["deleted"] == 1000
    again = run_promote("cleanup", "-p", str(policy), "-r", uri, "--json", "--dry-run", cwd=tmp_path)
    assert again.code == 0 and json.loads(again.stdout)["plan"]["summary"]["delete"] == 0
    listed = mlflow_server.api(
        "GET", "model-versions/search", params={"filter": f"name='{name}'", "max_results": "5000"}
    )["model_versions"]
    assert [v["version"] for v in listed] == ["1001"]
    reg = open_registry(uri)
    try:
        assert len(deletion_records(reg, [name])) == 1000
    finally:
        reg.close()


def test_missing_manage_permission_is_a_clear_exit_1_and_deletes_nothing(
    mlflow_auth_server: MlflowServer, tmp_path: Path
) -> None:
    name = unique_prefix() + "m"
    mlflow_auth_server.api("POST", "registered-models/create", {"name": name})
    for _ in range(4):
        mlflow_auth_server.api("POST", "model-versions/create", {"name": name, "source": "s3://bucket/model"})
    editor = mlflow_auth_server.create_user(unique_prefix() + "svc-edit")
    mlflow_auth_server.grant(editor.username, name, "EDIT")
    policy = tmp_path / "retention.yaml"
    policy.write_text(f"version: 1\nretention:\n  - {{model: {name}, keep_last: 1}}\n", encoding="utf-8")
    run = run_promote(
        "cleanup", "-p", str(policy), "-r", mlflow_auth_server.registry_uri,
        cwd=tmp_path, env=clean_env(**editor.env()),
    )  # fmt: skip
    assert run.code == 1, run.output
    assert f"'{editor.username}' lacks MANAGE permission on registered model '{name}'" in run.output
    assert "stopped:" in run.stdout and "2 not-started" in run.stdout  # the first refusal stops the run
    assert editor.password not in run.output
    versions = mlflow_auth_server.api("GET", "model-versions/search", params={"filter": f"name='{name}'"})[
        "model_versions"
    ]
    assert len(versions) == 4
    tags = mlflow_auth_server.api("GET", "registered-models/get", params={"name": name})["registered_model"]
    assert not [t for t in tags.get("tags", []) if t["key"].startswith("aliasgate.audit.")]
    # With MANAGE it works.
    mlflow_auth_server.revoke(editor.username, name)
    mlflow_auth_server.grant(editor.username, name, "MANAGE")
    ok = run_promote(
        "cleanup", "-p", str(policy), "-r", mlflow_auth_server.registry_uri,
        cwd=tmp_path, env=clean_env(**editor.env()),
    )  # fmt: skip
    assert ok.code == 0, ok.output


def test_sigterm_mid_run_leaves_a_record_for_every_deletion_and_none_for_the_rest(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    names = [unique_prefix() + f"s{i}" for i in range(2)]
    per_model = 3 * MlflowRegistry.delete_batch  # several batches per model: the stop comes between them
    for name in names:
        create_versions(mlflow_server, name, per_model)
    policy = tmp_path / "retention.yaml"
    policy.write_text(
        "version: 1\nretention:\n" + "".join(f"  - {{model: {n}, keep_last: 1}}\n" for n in names),
        encoding="utf-8",
    )
    stdout = (tmp_path / "stdout.txt").open("w+", encoding="utf-8")
    proc = subprocess.Popen(
        [PROMOTE, "cleanup", "-p", str(policy), "-r", mlflow_server.registry_uri, "--parallel", "2",
         "--max-deletions", str(2 * per_model)],
        env=clean_env(), stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("deleted "):
            proc.send_signal(signal.SIGTERM)
            break
    proc.communicate(timeout=300)
    stdout.seek(0)
    out = stdout.read()
    stdout.close()
    assert proc.returncode == 128 + signal.SIGTERM, out
    reg = open_registry(mlflow_server.registry_uri)
    try:
        gone = {VersionId(n, k) for n in names for k in range(1, per_model + 1)} - live(reg, names)
        records = deletion_records(reg, names)
        assert set(records) == gone and all(len(r) == 1 for r in records.values())
        assert 0 < len(gone) < 2 * (per_model - 1)  # it really stopped mid-run
        for name in names:  # no lock left behind: the in-flight deletion finished cleanly
            locks = mlflow_server.api(
                "GET", "registered-models/search", params={"filter": f"name LIKE 'aliasgate-lock.{name}.%'"}
            )
            assert not locks.get("registered_models")
    finally:
        reg.close()


@pytest.mark.parametrize("in_flight", ["reaches the server", "never arrives"])
def test_a_cleanup_killed_mid_batch_leaves_a_record_for_every_deletion_and_none_for_the_rest(
    mlflow_server: MlflowServer, tmp_path: Path, in_flight: str
) -> None:
    """SIGKILL while the 4th deletion of a batch is on its way: its request then reaches MLflow
    after the process died, or never. Before anyone settles the batch, history already shows a
    record for exactly the versions that are gone; the next cleanup takes the dead job's lock
    over, settles the batch and deletes the rest, each deletion with exactly one record."""
    name = unique_prefix() + "k"
    create_versions(mlflow_server, name, 12)
    policy = tmp_path / "retention.yaml"
    policy.write_text(f"version: 1\nretention:\n  - {{model: {name}, keep_last: 1}}\n", encoding="utf-8")
    with RecordingProxy(mlflow_server.url) as proxy:
        deletions = [proxy.hold("DELETE", "model-versions/delete") for _ in range(4)]
        proc = subprocess.Popen(
            [PROMOTE, "cleanup", "-p", str(policy), "-r", proxy.registry_uri],
            env=clean_env(PROMOTE_MLFLOW_LOCK_TTL="8"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )  # fmt: skip
        try:
            for deletion in deletions[:3]:  # v1..v3 go
                assert deletion.reached.wait(60)
                deletion.release()
            deletion = deletions[3]
            assert deletion.reached.wait(60)  # v4's deletion is on its way
            proc.kill()
            proc.wait(30)
            if in_flight == "reaches the server":
                deletion.release()
            else:
                deletion.drop()
            while len([r for r in proxy.requests if r.method == "DELETE"]) < 4:
                time.sleep(0.05)  # the proxy has finished with the 4th deletion
        finally:
            if proc.poll() is None:
                proc.kill()
    expected_gone = {1, 2, 3, 4} if in_flight == "reaches the server" else {1, 2, 3}
    reg = open_registry(mlflow_server.registry_uri)
    try:
        assert {v.number for v in reg.versions(name)} == set(range(1, 13)) - expected_gone
        records = deletion_records(reg, [name])  # the read-only view, unsettled
        assert {v.number for v in records} == expected_gone and all(len(r) == 1 for r in records.values())
    finally:
        reg.close()
    run = run_promote("cleanup", "-p", str(policy), "-r", mlflow_server.registry_uri, "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    statuses = {o["version"]: o["status"] for o in json.loads(run.stdout)["result"]["outcomes"]}
    assert {n for n, st in statuses.items() if st == "deleted"} == set(range(1, 12)) - expected_gone
    reg = open_registry(mlflow_server.registry_uri)
    try:
        assert [v.number for v in reg.versions(name)] == [12]
        records = deletion_records(reg, [name])
        assert {v.number for v in records} == set(range(1, 12)) and all(len(r) == 1 for r in records.values())
        log = reg.audit_log(name)
        assert [r["version"] for r in log.records] == sorted(expected_gone) + sorted(
            set(range(1, 12)) - expected_gone
        )
    finally:
        reg.close()
    locks = mlflow_server.api(
        "GET", "registered-models/search", params={"filter": f"name LIKE 'aliasgate-lock.{name}.%'"}
    )
    assert not locks.get("registered_models")
