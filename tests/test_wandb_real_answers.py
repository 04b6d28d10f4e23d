"""W&B as it really answers, from the user's side (the double models each from the SDK's source).

- W&B resolves entity and project names case-insensitively and answers with its own; the SDK
  re-targets to them (``Artifact._from_membership``). ``wandb://ML/demo`` must move and audit
  with no false conflict and one audit key; a migrated path is refused with the new one.
- The SDK refuses an artifact with more than 100 top-level metadata keys on save and on every
  load (``_validators.validate_metadata``): aliasgate's record never makes a version cross it.
- Registry organization: a personal default entity's organization comes from
  ``user.organizations`` (``_gqlutils._resolve_org_info``).
- Fields the SDK types as nullable come back null: a clean error, never a Python one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aliasgate.errors import RegistryError
from aliasgate.registry import open_registry
from tests.servers.wandb_double.state import SDK_MAX_METADATA_KEYS
from tests.wandb_fixtures import WandbWorld

PROJECT = "wandb://ml/demo"
MODEL = "bert-classifier"
HUMAN_KEY = "hu" + "3" * 38


@pytest.fixture
def wandb_cli(wandb_world: WandbWorld, demo, cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    wandb_world.use(monkeypatch)
    return cli


def _fill(world: WandbWorld, number: int, keys: int = SDK_MAX_METADATA_KEYS) -> dict[str, Any]:
    """Give ``MODEL:vN`` exactly ``keys`` top-level metadata keys (strings: no new metrics)."""
    _, _, art = world.state.version_of(world.demo.project, MODEL, number)
    metadata = json.loads(art.metadata or "{}")
    for i in range(keys - len(metadata)):
        metadata[f"note_{i:03d}"] = "x"
    art.metadata = json.dumps(metadata)
    return metadata


def _numbers(world: WandbWorld) -> list[int]:
    coll = world.state.find_collection(world.demo.project, MODEL)
    return [m.version_index for m in world.state.memberships_of(coll)]


# -- names: case-insensitive lookup, answered with W&B's names ----------------------------------------


def test_a_case_variant_uri_moves_and_audits_under_the_servers_names(
    wandb_world: WandbWorld, wandb_cli, demo
) -> None:  # type: ignore[no-untyped-def]
    applied = wandb_cli("apply", "-p", str(demo.policy()), "--registry", "wandb://ML/Demo")
    assert applied.code == 0, applied.output  # no false conflict (exit 4)
    assert wandb_world.state.holder(wandb_world.demo.project, MODEL, "production") == 4
    trails = wandb_world.state.metadata(wandb_world.demo.project, MODEL, 4)["aliasgate"]["audit"]
    assert list(trails) == [f"ml/demo/{MODEL}"]  # one audit key, W&B's spelling
    for uri in (PROJECT, "wandb://ML/Demo"):
        history = wandb_cli("history", MODEL, "--registry", uri, "--verify", "--json")
        assert history.code == 0, history.output
        assert [(r["from"], r["to"]) for r in json.loads(history.stdout)["records"]] == [(2, 4)]
    again = wandb_cli("apply", "-p", str(demo.policy()), "--registry", "wandb://ml/DEMO")
    assert again.code == 0 and "up to date" in again.stdout


def test_records_an_older_run_keyed_as_typed_are_read_and_folded(
    wandb_world: WandbWorld, wandb_cli, demo
) -> None:  # type: ignore[no-untyped-def]
    assert wandb_cli("apply", "-p", str(demo.policy()), "--registry", PROJECT).code == 0
    _, _, art = wandb_world.state.version_of(wandb_world.demo.project, MODEL, 4)
    metadata = json.loads(art.metadata)
    trails = metadata["aliasgate"]["audit"]
    trails["ML/Demo/" + MODEL] = trails.pop(f"ml/demo/{MODEL}")  # as a run with wandb://ML/Demo left it
    art.metadata = json.dumps(metadata)
    rollback = wandb_cli("rollback", MODEL, "production", "--registry", PROJECT)
    assert rollback.code == 0, rollback.output
    history = wandb_cli("history", MODEL, "--registry", PROJECT, "--verify", "--json")
    assert history.code == 0, history.output
    assert sorted(r["kind"] for r in json.loads(history.stdout)["records"]) == ["promote", "rollback"]


def test_a_migrated_path_is_refused_with_the_new_one(wandb_world: WandbWorld, wandb_cli, demo) -> None:  # type: ignore[no-untyped-def]
    wandb_world.state.redirect("ml", "model-registry", wandb_world.demo.registry)
    run = wandb_cli("plan", "-p", str(demo.policy()), "--registry", "wandb://ml/model-registry")
    assert run.code == 2, run.output
    assert "use --registry wandb://acme-org/wandb-registry-model" in run.output
    assert not wandb_world.journal.mutations()


# -- the SDK's 100 top-level metadata keys -------------------------------------------------------------


def test_the_double_enforces_the_sdk_limit_on_save_and_load(wandb_world: WandbWorld) -> None:
    state, project = wandb_world.state, wandb_world.demo.project
    with pytest.raises(ValueError, match="more than 100 metadata keys"):
        state.log_artifact(project, MODEL, metadata={f"k{i}": i for i in range(101)})
    _fill(wandb_world, 4, SDK_MAX_METADATA_KEYS + 1)  # written by something other than the SDK
    with pytest.raises(ValueError, match="more than 100 metadata keys"):
        state.sdk_load(project, f"{MODEL}:v4")


def test_a_version_at_the_limit_stays_loadable_and_the_move_is_audited(
    wandb_world: WandbWorld, wandb_cli, demo
) -> None:  # type: ignore[no-untyped-def]
    state, project = wandb_world.state, wandb_world.demo.project
    full = _fill(wandb_world, 4)
    applied = wandb_cli("apply", "-p", str(demo.policy()), "--registry", PROJECT)
    assert applied.code == 0, applied.output
    assert state.sdk_load(project, f"{MODEL}:production") == full  # untouched, still loadable
    for n in _numbers(wandb_world):
        state.sdk_load(project, f"{MODEL}:v{n}")  # every version loads for an SDK user
    history = wandb_cli("history", MODEL, "--registry", PROJECT, "--verify", "--json")
    assert history.code == 0, history.output
    assert [(r["from"], r["to"]) for r in json.loads(history.stdout)["records"]] == [(2, 4)]
    rollback = wandb_cli("rollback", MODEL, "production", "--registry", PROJECT)  # removal side too
    assert rollback.code == 0, rollback.output
    assert state.sdk_load(project, f"{MODEL}:v4") == full


def test_with_no_version_below_the_limit_the_move_is_refused_before_writing(
    wandb_world: WandbWorld, wandb_cli, demo
) -> None:  # type: ignore[no-untyped-def]
    for n in _numbers(wandb_world):
        _fill(wandb_world, n)
    applied = wandb_cli("apply", "-p", str(demo.policy()), "--registry", PROJECT)
    assert applied.code == 1, applied.output
    assert "100 top-level metadata keys" in applied.output and "nothing was changed" in applied.output
    assert "Traceback" not in applied.output and "internal error" not in applied.output
    assert not wandb_world.journal.mutations()
    assert wandb_world.state.holder(wandb_world.demo.project, MODEL, "production") == 2


def test_a_deleted_versions_records_never_fill_a_version_past_the_limit(
    wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    wandb_world.use(monkeypatch)
    state, project = wandb_world.state, wandb_world.demo.project
    registry = open_registry(PROJECT)
    holders = set(registry.aliases(MODEL).values())
    newest, *older = sorted(_numbers(wandb_world), reverse=True)
    victim = next(n for n in older if n not in holders)
    _fill(wandb_world, newest)
    sealed = registry.delete_version(
        MODEL, victim, {"kind": "delete", "model": MODEL, "from": victim, "to": None}
    )
    for n in _numbers(wandb_world):
        state.sdk_load(project, f"{MODEL}:v{n}")
    assert [r["hash"] for r in registry.audit_log(MODEL).records] == [sealed["hash"]]
    registry.close()


# -- the organization of a Registry ----------------------------------------------------------------------


def test_a_human_key_resolves_the_single_organization_of_its_personal_entity(
    wandb_world: WandbWorld, wandb_cli, demo, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    state = wandb_world.state
    state.add_account("hugo", HUMAN_KEY, teams={"ml": "member"}, org="acme", org_role="member")
    state.account("hugo").default_entity = "hugo"  # most human keys: the personal entity
    wandb_world.demo.registry.registry_roles["hugo"] = "admin"
    wandb_world.use(monkeypatch, HUMAN_KEY)
    registry = open_registry("wandb://wandb-registry-model")
    assert registry.entity == "acme-org"  # type: ignore[attr-defined]
    registry.close()
    plan = wandb_cli("plan", "-p", str(demo.policy()), "--registry", "wandb://wandb-registry-model")
    assert plan.code == 0, plan.output
    assert "move bert-classifier:production v2 -> v4" in plan.stdout


def test_a_personal_entity_in_several_organizations_must_name_one(
    wandb_world: WandbWorld, wandb_cli, demo, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    state = wandb_world.state
    state.add_org("umbrella", "umbrella-org")
    hugo = state.add_account("hugo", HUMAN_KEY, teams={"ml": "member"}, org="acme", org_role="member")
    hugo.other_orgs.append("umbrella")
    wandb_world.demo.registry.registry_roles["hugo"] = "admin"
    policy = str(demo.policy())
    wandb_world.use(monkeypatch, HUMAN_KEY)
    plan = wandb_cli("plan", "-p", policy, "--registry", "wandb://wandb-registry-model")
    assert plan.code == 1, plan.output
    assert "several organizations (acme-org, umbrella-org)" in plan.output
    wandb_world.use(monkeypatch, HUMAN_KEY, WANDB_ORGANIZATION="acme")  # the organization's name
    named = wandb_cli("plan", "-p", policy, "--registry", "wandb://wandb-registry-model")
    assert named.code == 0, named.output


def test_a_personal_entity_in_no_organization_gets_a_clear_message(
    wandb_world: WandbWorld, wandb_cli, demo, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    wandb_world.state.add_account("solo", HUMAN_KEY)
    wandb_world.use(monkeypatch, HUMAN_KEY)
    plan = wandb_cli("plan", "-p", str(demo.policy()), "--registry", "wandb://wandb-registry-model")
    assert plan.code == 1, plan.output
    assert "cannot find the organization" in plan.output and "WANDB_ORGANIZATION" in plan.output


# -- nulls -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "command"),
    [
        ("ArtifactCollection.artifacts", ["plan", "-p", "examples/aliasgate.yaml"]),
        ("ArtifactCollection.artifacts", ["history", MODEL, "--verify"]),
        ("ArtifactCollectionMembership.artifact", ["rollback", MODEL, "production"]),
        ("ArtifactCollectionMembership.versionIndex", ["rollback", MODEL, "production"]),
    ],
)
def test_a_null_where_the_sdk_allows_one_is_a_clean_error(
    wandb_world: WandbWorld, wandb_cli, demo, field: str, command: list[str]
) -> None:  # type: ignore[no-untyped-def]
    assert wandb_cli("apply", "-p", "examples/aliasgate.yaml", "--registry", PROJECT).code == 0
    before = len(wandb_world.journal.mutations())
    wandb_world.state.nulls.add(field)
    run = wandb_cli(*command, "--registry", PROJECT)
    assert run.code == 1, run.output
    assert "W&B answered null" in run.output, run.output
    assert "Traceback" not in run.output and "internal error" not in run.output
    assert len(wandb_world.journal.mutations()) == before  # refused before writing


def test_a_null_model_listing_is_a_clean_error(
    wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    wandb_world.use(monkeypatch)
    wandb_world.state.nulls.add("Project.artifactCollections")
    registry = open_registry(PROJECT)
    with pytest.raises(RegistryError, match="W&B answered null for 'artifactCollections'"):
        registry.models()
    registry.close()
