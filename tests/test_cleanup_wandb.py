"""`promote cleanup` against the W&B double (GraphQL on 127.0.0.1, W&B's state rules).

The same scenario as on the embedded registry, in a team project (deleteArtifact) and in a
W&B Registry collection (unlinkArtifact: the source artifact stays, the collection stops
counting the link against its cap).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from aliasgate import audit
from aliasgate.model import VersionId, utcnow
from aliasgate.registry import open_registry
from tests import cleanup_scenario as sc
from tests.servers.wandb_double import CI_KEY, WandbDouble, demo
from tests.servers.wandb_double.seed import seed_project, seed_registry

PROJECT = "wandb://ml/demo"
REGISTRY = "wandb://acme-org/wandb-registry-model"


class World:
    def __init__(self, scope: str) -> None:
        self.now = utcnow()
        self.models = sc.build(self.now)
        self.world = demo()
        if scope == "registry":
            seed_registry(
                self.world.state, self.models, self.world.source, self.world.registry, metrics_in="metadata"
            )
            self.uri, self.project = REGISTRY, self.world.registry
        else:
            seed_project(self.world.state, self.models, self.world.project, metrics_in="metadata")
            self.uri, self.project = PROJECT, self.world.project
        self.double = WandbDouble(self.world.state).start()

    def env(self) -> dict[str, str]:
        return {"WANDB_BASE_URL": self.double.url, "WANDB_API_KEY": CI_KEY}

    def registry(self) -> Any:
        return open_registry(self.uri, base_url=self.double.url, api_key=CI_KEY)


@pytest.fixture(params=["project", "registry"])
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(request.param)
    for k, v in w.env().items():
        monkeypatch.setenv(k, v)
    try:
        yield w
    finally:
        w.double.stop()
    assert not w.double.internal_errors, "\n".join(w.double.internal_errors)


def live(reg: Any) -> set[VersionId]:
    return {v.id for m in reg.models() for v in reg.versions(m)}


def deletion_records(reg: Any) -> dict[VersionId, list[Mapping[str, Any]]]:
    out: dict[VersionId, list[Mapping[str, Any]]] = {}
    for m in reg.models():
        log = reg.audit_log(m)
        assert audit.verify(log).ok, (m, audit.verify(log))
        for r in log.records:
            if r.get("kind") == "delete":
                out.setdefault(VersionId(m, int(r["version"])), []).append(r)
    return out


def test_the_scenario_plans_and_deletes_exactly_the_expected_set(
    world: World, cli: Any, tmp_path: Any
) -> None:
    policy = tmp_path / "retention.yaml"
    policy.write_text(sc.POLICY, encoding="utf-8")
    expected = sc.expected_deletions(world.models, world.now)
    reg = world.registry()
    before = live(reg)
    assert before == sc.versions_of(world.models)

    dry = cli("cleanup", "-p", str(policy), "-r", world.uri, "--dry-run", "--json", "--max-deletions", "500")
    assert dry.code == 0, dry.output
    data = json.loads(dry.stdout)
    assert {
        VersionId(v["model"], v["version"]) for v in data["plan"]["versions"] if v["verdict"] == "delete"
    } == expected
    assert not any("records no lineage" in n for n in data["plan"]["notes"])
    assert not world.double.journal.mutations()  # the dry run sent nothing that writes

    run = cli("cleanup", "-p", str(policy), "-r", world.uri, "--max-deletions", str(len(expected)))
    assert run.code == 0, run.output
    after = live(reg)
    assert before - after == expected
    assert not expected & sc.aliased_versions(world.models)
    inputs = sc.inputs_of(world.models)
    assert all(i in after for v in after for i in inputs[v])
    records = deletion_records(reg)
    assert set(records) == expected and all(len(r) == 1 for r in records.values())
    for m in world.models:
        assert reg.aliases(m.name) == m.aliases  # no alias lost
    names = world.double.journal.names()
    if world.uri == REGISTRY:
        assert "AliasgateUnlinkArtifact" in names and "AliasgateDeleteArtifact" not in names
        # Unlinked, not deleted: every source artifact in ml/training is still committed.
        assert all(a.state == "COMMITTED" for a in world.world.state.artifacts.values())
    else:
        assert "AliasgateDeleteArtifact" in names and "AliasgateUnlinkArtifact" not in names


@pytest.mark.parametrize("world", ["registry"], indirect=True)  # a team project: tests/contract
def test_a_version_that_gains_an_alias_after_planning_survives(world: World, tmp_path: Any) -> None:
    from aliasgate import api

    policy = tmp_path / "retention.yaml"
    policy.write_text("version: 1\nretention:\n  - {model: feat, ttl: 20d}\n", encoding="utf-8")
    reg = world.registry()
    session = api.Session(reg, reg.whoami())
    plan = api.cleanup_plan(api.load(policy), session)
    victim = plan.deletions[0].number
    world.world.state.move_alias(world.project, "feat", "hotfix", victim, as_user="alice")  # another client
    result = api.cleanup(session, plan)
    status = {o.number: o.status for o in result.outcomes}
    assert status[victim] == "skipped" and list(status.values()).count("deleted") == len(status) - 1
    assert result.exit_code == 0
    assert VersionId("feat", victim) in live(reg)
    assert VersionId("feat", victim) not in deletion_records(reg)
    assert reg.aliases("feat")["hotfix"] == victim
