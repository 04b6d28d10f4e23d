"""The W&B backend through the Registry protocol, against the double on 127.0.0.1.

Both shapes W&B users have: artifact sequences of a team project (``wandb://ml/demo``)
and collections of the W&B Registry (``wandb://acme-org/wandb-registry-model``),
seeded from examples/demo-registry.yaml with metrics in the training runs' summaries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import graphql
import pytest

from aliasgate import audit, secrets
from aliasgate.errors import AuthError, Conflict, ExitCode, InvalidInput, NotFound, RegistryError
from aliasgate.model import AliasOp, VersionId
from aliasgate.registry import open_registry
from aliasgate.registry import wandb as wandb_backend
from aliasgate.registry.http import Transport
from aliasgate.registry.wandb import WandbRegistry
from aliasgate.registry.wandb import documents as wandb_gql
from tests.servers.wandb_double import ALICE_KEY, CI_KEY, VIEWER_KEY, WandbDouble, demo, resolvers
from tests.wandb_fixtures import DEMO_SEED, WandbWorld

PROJECT = "wandb://ml/demo"
REGISTRY = "wandb://acme-org/wandb-registry-model"
URIS = pytest.mark.parametrize("uri", [PROJECT, REGISTRY], ids=["project", "registry"])

Open = Callable[..., WandbRegistry]


@pytest.fixture
def wb(wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch) -> Open:
    opened: list[WandbRegistry] = []

    def open_(uri: str = PROJECT, key: str = CI_KEY, **env: str) -> WandbRegistry:
        wandb_world.use(monkeypatch, key, **env)
        registry = open_registry(uri)
        assert isinstance(registry, WandbRegistry)
        opened.append(registry)
        return registry

    yield open_  # type: ignore[misc]
    for r in opened:
        r.close()


def body(op: AliasOp, kind: str = "promote") -> dict[str, Any]:
    return {
        "kind": kind,
        "model": op.model,
        "alias": op.alias,
        "from": op.expected,
        "to": op.target,
        "at": "2026-11-23T00:00:00.000000Z",
        "principal": {"name": "ci-bot"},
    }


def project_of(world: WandbWorld, uri: str) -> Any:
    return world.demo.registry if "registry" in uri else world.demo.project


# -- documents and configuration ---------------------------------------------------------------------


def test_every_document_validates_against_the_w_and_b_schema() -> None:
    for name, document in wandb_gql.all_documents().items():
        errors = graphql.validate(resolvers.schema(), graphql.parse(document))
        assert not errors, f"{name}: {[e.message for e in errors]}"


def test_uri_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    assert wandb_backend.parse_uri("wandb://ml/demo") == ("ml", "demo")
    monkeypatch.setenv("WANDB_ENTITY", "ml")
    assert wandb_backend.parse_uri("wandb://demo") == ("ml", "demo")
    monkeypatch.setenv("WANDB_PROJECT", "other")
    assert wandb_backend.parse_uri("wandb://") == ("ml", "other")
    monkeypatch.setenv("WANDB_ORGANIZATION", "acme")
    assert wandb_backend.parse_uri("wandb://wandb-registry-model") == ("acme", "wandb-registry-model")
    for bad in ("wandb://a/b/c", "wandb://ml/demo?x=1", "wandb://u:p@host/x"):
        with pytest.raises(InvalidInput):
            wandb_backend.parse_uri(bad)
    monkeypatch.setenv("WANDB_BASE_URL", "ftp://example.invalid")
    with pytest.raises(InvalidInput, match="http"):
        open_registry(PROJECT)


@pytest.mark.parametrize("entity", ["acme", "acme-org", "ml"], ids=["org-name", "org-entity", "team"])
def test_registry_resolves_the_organization_entity(wb: Open, entity: str) -> None:
    registry = wb(f"wandb://{entity}/wandb-registry-model")
    assert registry.entity == "acme-org"
    assert registry.aliases("bert-classifier") == {"production": 2, "staging": 4}


def test_registry_without_entity_uses_the_default_entity(wb: Open) -> None:
    assert wb("wandb://wandb-registry-model").aliases("bert-tokenizer") == {"production": 2, "staging": 2}


# -- identity and errors -------------------------------------------------------------------------------


def test_whoami_is_the_viewer_of_the_key(wb: Open, wandb_world: WandbWorld) -> None:
    me = wb().whoami()
    assert (me.name, me.authenticated, me.source) == ("ci-bot", True, "wandb viewer")
    assert me.detail["teams"] == ["ml"]
    assert wb(key=ALICE_KEY).whoami().name == "alice"
    assert CI_KEY in secrets.registered()
    # One request: viewer and server features together.
    assert wandb_world.journal.names() == ["AliasgateBootstrap", "AliasgateBootstrap"]


def test_rejected_key_is_an_auth_error_naming_the_variable_not_the_key(wb: Open) -> None:
    bad = "zz" + "9" * 38
    with pytest.raises(AuthError) as caught:
        wb(key=bad).whoami()
    assert "WANDB_API_KEY" in str(caught.value) and bad not in str(caught.value)
    assert caught.value.exit_code == ExitCode.REGISTRY
    assert bad in secrets.registered()


def test_missing_key_says_what_to_set(wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_BASE_URL", wandb_world.url)
    with pytest.raises(AuthError, match="set WANDB_API_KEY"):
        open_registry(PROJECT).whoami()
    assert len(wandb_world.journal) == 0


def test_server_without_the_membership_feature_is_refused_clearly(wb: Open, wandb_world: WandbWorld) -> None:
    wandb_world.state.features.remove("PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP")
    with pytest.raises(RegistryError, match=r"server >= 0\.70"):
        wb().aliases("bert-classifier")


def test_unknown_model_and_version_are_not_found(wb: Open) -> None:
    registry = wb()
    with pytest.raises(NotFound) as caught:
        registry.aliases("gpt-9")
    assert caught.value.model == "gpt-9" and caught.value.version is None
    with pytest.raises(NotFound) as caught:
        registry.version("bert-classifier", 9)
    assert caught.value.version == 9
    with pytest.raises(NotFound, match="ml/nope"):
        wb("wandb://ml/nope").aliases("x")


def test_qualified_model_names_as_w_and_b_users_write_them(wb: Open) -> None:
    registry = wb()
    assert registry.aliases("ml/demo/bert-classifier") == registry.aliases("bert-classifier")
    assert registry.version("demo/bert-classifier", 4).number == 4
    # another project of the same entity is read there (publishing names models outside the URI's project)
    with pytest.raises(NotFound, match="W&B project ml/other not found"):
        registry.aliases("other/bert-classifier")


# -- reads ---------------------------------------------------------------------------------------------


@URIS
def test_reads_match_the_seed(wb: Open, uri: str) -> None:
    registry = wb(uri)
    assert registry.models() == ["bert-classifier", "bert-tokenizer"]
    assert registry.aliases("bert-classifier") == {"production": 2, "staging": 4}
    assert registry.latest("bert-classifier") == 4
    v4 = registry.version("bert-classifier", 4)
    assert v4.metrics == {"val_f1": 0.912, "val_loss": 0.31}  # from the producing run's summary
    assert v4.metadata == {"git_commit": "4f2a9c1", "framework": "pytorch", "dataset": "tickets-2026-11"}
    assert v4.lineage == (VersionId("bert-tokenizer", 2),) and v4.lineage_recorded
    assert v4.created_by == "trainer" and v4.aliases == ("staging",)
    assert [(v.number, v.aliases) for v in registry.versions("bert-classifier")] == [
        (4, ("staging",)),
        (3, ()),
        (2, ("production",)),
        (1, ()),
    ]


def test_metrics_from_metadata_win_over_the_run_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    world = demo(seed=DEMO_SEED, metrics_in="metadata")
    state = world.state
    _, _, art = state.version_of(world.project, "bert-classifier", 4)
    state.runs[art.created_by_run].summary_metrics = json.dumps({"val_f1": 0.5, "epochs": 3, "_step": 9})  # type: ignore[index]
    with WandbDouble(state) as double:
        monkeypatch.setenv("WANDB_BASE_URL", double.url)
        monkeypatch.setenv("WANDB_API_KEY", CI_KEY)
        v4 = open_registry(PROJECT).version("bert-classifier", 4)
    assert v4.metrics == {"val_f1": 0.912, "val_loss": 0.31, "epochs": 3}


def test_version_without_a_producing_run_has_no_recorded_lineage(wb: Open, wandb_world: WandbWorld) -> None:
    state = wandb_world.state
    state.log_artifact(wandb_world.demo.project, "bert-classifier", user="alice", metadata={"val_f1": 0.95})
    v5 = wb().version("bert-classifier", 5)
    assert v5.lineage == () and not v5.lineage_recorded
    assert v5.metrics == {"val_f1": 0.95}


def test_versions_and_aliases_read_every_page(wb: Open, wandb_world: WandbWorld) -> None:
    state, project = wandb_world.state, wandb_world.demo.project
    for _ in range(230):
        state.log_artifact(project, "big")
    coll = state.find_collection(project, "big")
    assert coll is not None
    state.move_alias(project, "big", "old-champion", 3, as_user="ci-bot")
    registry = wb()
    assert [v.number for v in registry.versions("big")] == list(range(229, -1, -1))
    assert registry.aliases("big") == {"old-champion": 3}  # far beyond the newest page, fetched by name


# -- moves ---------------------------------------------------------------------------------------------


@URIS
def test_move_is_one_guarded_round_of_three_requests(wb: Open, wandb_world: WandbWorld, uri: str) -> None:
    registry = wb(uri)
    registry.whoami()
    state, project = wandb_world.state, project_of(wandb_world, uri)
    coll = state.find_collection(project, "bert-classifier")
    assert coll is not None
    coll.description = "Intent classifier. Owner: ml-team."
    wandb_world.journal.clear()
    op = AliasOp("bert-classifier", "production", 2, 4)
    (record,) = registry.apply([op], [body(op)])
    assert wandb_world.journal.names() == ["AliasgateTargets", "AliasgateAddAlias", "AliasgateRecord"]
    assert state.holder(project, "bert-classifier", "production") == 4
    assert record["seq"] == 1 and record["model"] == "bert-classifier" and record["to"] == 4
    # The record sits in v4's metadata next to the user's keys; the head in the description.
    metadata = state.metadata(project, "bert-classifier", 4)
    assert metadata["git_commit"] == "4f2a9c1"
    chain = f"{registry.entity}/{project.name}/bert-classifier"
    assert metadata["aliasgate"]["audit"][chain] == [record]
    assert coll.description.startswith("Intent classifier. Owner: ml-team.\n\naliasgate-audit-head: {")
    log = wb(uri).audit_log("bert-classifier")  # a fresh runner reads it back
    assert log.records == [record] and log.head == audit.head_of(record)
    assert audit.verify(log).ok
    assert registry.version("bert-classifier", 4).metadata == {
        "git_commit": "4f2a9c1",
        "framework": "pytorch",
        "dataset": "tickets-2026-11",
    }


def test_new_alias_and_removal(wb: Open, wandb_world: WandbWorld) -> None:
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    add = AliasOp("bert-classifier", "canary", None, 3)
    registry.apply([add], [body(add)])
    remove = AliasOp("bert-classifier", "staging", 4, None)
    (record,) = registry.apply([remove], [body(remove, "remove")])
    assert state.holder(project, "bert-classifier", "canary") == 3
    assert state.holder(project, "bert-classifier", "staging") is None
    assert record["seq"] == 2
    assert [
        r["alias"]
        for r in state.metadata(project, "bert-classifier", 4)["aliasgate"]["audit"][
            "ml/demo/bert-classifier"
        ]
    ] == ["staging"]
    assert audit.verify(registry.audit_log("bert-classifier")).ok


def test_holder_moved_since_the_plan_is_a_conflict_and_changes_nothing(
    wb: Open, wandb_world: WandbWorld
) -> None:
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    registry.whoami()
    # Another writer moves production between our plan's read and our write.
    wandb_world.double.on(
        "AliasgateTargets",
        lambda s: s.move_alias(project, "bert-classifier", "production", 3, as_user="alice"),
    )
    op = AliasOp("bert-classifier", "production", 2, 4)
    with pytest.raises(Conflict) as caught:
        registry.apply([op], [body(op)])
    assert caught.value.exit_code == ExitCode.CONFLICT
    assert "expected it on v2, found it on v3" in str(caught.value)
    assert state.holder(project, "bert-classifier", "production") == 3
    assert not wandb_world.journal.mutations()
    assert "aliasgate" not in state.metadata(project, "bert-classifier", 4)


def test_writer_right_after_our_move_is_reported_and_our_move_recorded(
    wb: Open, wandb_world: WandbWorld
) -> None:
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    wandb_world.double.on(
        "AliasgateAddAlias",
        lambda s: s.move_alias(project, "bert-classifier", "production", 3, as_user="alice"),
        when="after",
    )
    op = AliasOp("bert-classifier", "production", 2, 4)
    with pytest.raises(Conflict) as caught:
        registry.apply([op], [body(op)])
    assert "moved to v3 by another writer right after this move to v4" in str(caught.value)
    assert state.holder(project, "bert-classifier", "production") == 3
    (record,) = registry.audit_log("bert-classifier").records  # our move happened: it is on record
    assert (record["from"], record["to"]) == (2, 4)


def test_member_moving_a_protected_alias_is_refused_and_nothing_changes(
    wb: Open, wandb_world: WandbWorld
) -> None:
    registry, state, project = wb(REGISTRY, key=ALICE_KEY), wandb_world.state, wandb_world.demo.registry
    op = AliasOp("bert-classifier", "production", 2, 4)
    with pytest.raises(AuthError) as caught:
        registry.apply([op], [body(op)])
    message = str(caught.value)
    assert "only registry Admins may move it" in message and "alice" in message
    assert caught.value.exit_code == ExitCode.REGISTRY
    assert state.holder(project, "bert-classifier", "production") == 2
    assert "aliasgate" not in state.metadata(project, "bert-classifier", 4)
    coll = state.find_collection(project, "bert-classifier")
    assert coll is not None and "aliasgate-audit-head" not in coll.description


def test_no_write_access_to_the_source_project_is_refused_before_moving(
    wb: Open, wandb_world: WandbWorld
) -> None:
    """Registry Admins who cannot write the source project (read-only or invisible to them)
    could move the alias but not store its record: refused before anything changes."""
    state, reg = wandb_world.state, wandb_world.demo.registry
    state.add_account("reg-admin", "ra" + "3" * 38, org="acme", org_role="member")
    reg.registry_roles.update({"reg-admin": "admin", "vera": "admin"})  # vera: a viewer of team ml
    op = AliasOp("bert-classifier", "production", 2, 4)
    for key, where in (
        ("ra" + "3" * 38, "the source project of bert-classifier"),
        (VIEWER_KEY, "ml/training"),
    ):
        with pytest.raises(AuthError, match=f"may not write the metadata of {where}"):
            wb(REGISTRY, key=key).apply([op], [body(op)])
    assert not wandb_world.journal.mutations()
    assert state.holder(reg, "bert-classifier", "production") == 2


def test_failed_record_write_puts_the_alias_back(wb: Open, wandb_world: WandbWorld) -> None:
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    _, _, v4 = state.version_of(project, "bert-classifier", 4)
    wandb_world.double.on(
        "AliasgateRecord", lambda s: s.refuse_updates.__setitem__(v4.id, "metadata too large")
    )
    op = AliasOp("bert-classifier", "production", 2, 4)
    with pytest.raises(RegistryError, match="move was undone") as caught:
        registry.apply([op], [body(op)])
    assert "metadata too large" in str(caught.value)
    assert state.holder(project, "bert-classifier", "production") == 2
    coll = state.find_collection(project, "bert-classifier")
    assert coll is not None and "aliasgate-audit-head" not in coll.description  # no head without record
    assert registry.audit_log("bert-classifier").records == []


# -- retries and unknown outcomes ------------------------------------------------------------------


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without the backoff waits (their lengths are the transport's business)."""
    monkeypatch.setattr(Transport, "_wait", lambda self, attempt, retry_after, waited: 0.0)


def test_reads_retry_429_and_500(wb: Open, wandb_world: WandbWorld, fast_retries: None) -> None:
    registry = wb()
    registry.whoami()
    wandb_world.double.fault("AliasgateAliases", "429", retry_after=0)
    wandb_world.double.fault("AliasgateAliases", "500")
    assert registry.aliases("bert-classifier") == {"production": 2, "staging": 4}
    assert [e.status for e in wandb_world.journal.entries[1:]] == [429, 500, 200]


def test_rate_limited_write_is_retried_because_w_and_b_refused_it(
    wb: Open, wandb_world: WandbWorld, fast_retries: None
) -> None:
    registry = wb()
    wandb_world.double.fault("AliasgateAddAlias", "429", times=2)
    op = AliasOp("bert-classifier", "production", 2, 4)
    registry.apply([op], [body(op)])
    assert [e.status for e in wandb_world.journal.entries if e.operation_name == "AliasgateAddAlias"] == [
        429,
        429,
        200,
    ]


def test_lost_answer_to_a_move_is_checked_by_reading_not_resent(
    wb: Open, wandb_world: WandbWorld, fast_retries: None
) -> None:
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    wandb_world.double.fault("AliasgateAddAlias", "500-after")
    op = AliasOp("bert-classifier", "production", 2, 4)
    (record,) = registry.apply([op], [body(op)])
    assert state.holder(project, "bert-classifier", "production") == 4
    assert wandb_world.journal.fields().count("addAliases") == 1
    assert record["seq"] == 1


def test_move_that_did_not_land_is_sent_once_more(
    wb: Open, wandb_world: WandbWorld, fast_retries: None
) -> None:
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    wandb_world.double.fault("AliasgateAddAlias", "502")
    op = AliasOp("bert-classifier", "production", 2, 4)
    registry.apply([op], [body(op)])
    assert state.holder(project, "bert-classifier", "production") == 4
    assert [e.status for e in wandb_world.journal.entries if e.operation_name == "AliasgateAddAlias"] == [
        502,
        200,
    ]


def test_timeout_after_the_move_is_verified_by_reading(
    wb: Open, wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMOTE_HTTP_TIMEOUT", "1")
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    wandb_world.double.fault("AliasgateAddAlias", "hang-after", delay=2.5)
    op = AliasOp("bert-classifier", "production", 2, 4)
    registry.apply([op], [body(op)])
    assert state.holder(project, "bert-classifier", "production") == 4
    assert wandb_world.journal.fields().count("addAliases") == 1


def test_lost_answer_to_the_record_write_does_not_duplicate_it(
    wb: Open, wandb_world: WandbWorld, fast_retries: None
) -> None:
    registry = wb()
    wandb_world.double.fault("AliasgateRecord", "500-after")
    op = AliasOp("bert-classifier", "production", 2, 4)
    (record,) = registry.apply([op], [body(op)])
    log = registry.audit_log("bert-classifier")
    assert log.records == [record] and audit.verify(log).ok
    assert wandb_world.journal.names().count("AliasgateRecord") == 1


def test_forbidden_is_an_auth_error(wb: Open, wandb_world: WandbWorld) -> None:
    registry = wb()
    registry.whoami()
    wandb_world.double.fault("AliasgateAliases", "403")
    with pytest.raises(AuthError, match="403"):
        registry.aliases("bert-classifier")


# -- audit -----------------------------------------------------------------------------------------------


def _promote_twice(registry: WandbRegistry) -> None:
    for op in (
        AliasOp("bert-classifier", "production", 2, 4),
        AliasOp("bert-classifier", "production", 4, 3),
    ):
        registry.apply([op], [body(op)])


def test_verify_detects_an_edited_and_a_deleted_newest_record(wb: Open, wandb_world: WandbWorld) -> None:
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    _promote_twice(registry)
    assert audit.verify(registry.audit_log("bert-classifier")).ok
    _, _, v3 = state.version_of(project, "bert-classifier", 3)
    saved = v3.metadata
    meta = json.loads(saved)
    meta["aliasgate"]["audit"]["ml/demo/bert-classifier"][0]["to"] = 2  # edited
    v3.metadata = json.dumps(meta)
    result = audit.verify(registry.audit_log("bert-classifier"))
    assert not result.ok and "edited" in str(result.problem)
    meta["aliasgate"]["audit"]["ml/demo/bert-classifier"] = []  # the newest record deleted
    v3.metadata = json.dumps(meta)
    result = audit.verify(registry.audit_log("bert-classifier"))
    assert not result.ok and "record #2 is missing" in str(result.problem)


# -- delete ----------------------------------------------------------------------------------------------


@URIS
def test_delete_version_moves_records_then_deletes_and_audits(
    wb: Open, wandb_world: WandbWorld, uri: str
) -> None:
    registry, state, project = wb(uri), wandb_world.state, project_of(wandb_world, uri)
    op = AliasOp("bert-classifier", "canary", None, 1)
    registry.apply([op], [body(op)])
    op = AliasOp("bert-classifier", "canary", 1, 3)
    registry.apply([op], [body(op)])
    remove = AliasOp("bert-classifier", "canary", 3, None)
    registry.apply([remove], [body(remove, "remove")])
    record = registry.delete_version(
        "bert-classifier", 1, {"kind": "delete", "model": "bert-classifier", "from": 1, "to": None}
    )
    assert record["seq"] == 4
    assert [v.number for v in registry.versions("bert-classifier")] == [4, 3, 2]
    log = registry.audit_log("bert-classifier")
    assert [r["seq"] for r in log.records] == [1, 2, 3, 4] and audit.verify(log).ok
    # v1 carried record #1; it moved to the newest version (v4) with the delete record.
    chain = f"{registry.entity}/{project.name}/bert-classifier"
    carried = state.metadata(project, "bert-classifier", 4)["aliasgate"]["audit"][chain]
    assert [r["seq"] for r in carried] == [1, 4]
    if "registry" in uri:  # unlinked: the source artifact is still there
        assert state.version_of(wandb_world.demo.source, "bert-classifier", 1)[2].state == "COMMITTED"
        assert "unlinkArtifact" in wandb_world.journal.fields()
    else:
        assert "deleteArtifact" in wandb_world.journal.fields()


def test_delete_refuses_a_version_holding_an_alias(wb: Open, wandb_world: WandbWorld) -> None:
    registry = wb()
    with pytest.raises(Conflict, match="holds production"):
        registry.delete_version("bert-classifier", 2, {"kind": "delete", "model": "bert-classifier"})
    assert not wandb_world.journal.mutations()


def test_delete_of_a_version_that_gains_an_alias_at_the_last_moment_is_refused_by_w_and_b(
    wb: Open, wandb_world: WandbWorld
) -> None:
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    wandb_world.double.on(
        "AliasgateDeleteArtifact",
        lambda s: s.move_alias(project, "bert-classifier", "hotfix", 1, as_user="alice"),
    )
    with pytest.raises(Conflict, match="gained an alias"):
        registry.delete_version("bert-classifier", 1, {"kind": "delete", "model": "bert-classifier"})
    assert state.version_of(project, "bert-classifier", 1)[2].state == "COMMITTED"
    assert registry.audit_log("bert-classifier").records == []


def test_delete_refuses_a_source_artifact_linked_elsewhere(wb: Open) -> None:
    registry = wb("wandb://ml/training")
    with pytest.raises(RegistryError, match="unlink it there first"):
        registry.delete_version("bert-classifier", 1, {"kind": "delete", "model": "bert-classifier"})


def test_delete_refuses_the_last_version(wb: Open, wandb_world: WandbWorld) -> None:
    wandb_world.state.log_artifact(wandb_world.demo.project, "solo")
    with pytest.raises(RegistryError, match="last version"):
        wb().delete_version("solo", 0, {"kind": "delete", "model": "solo"})


def test_failure_between_the_move_and_its_record_is_completed_by_reading(
    wb: Open, wandb_world: WandbWorld, fast_retries: None
) -> None:
    """The fault between two mutations: the alias moved, the record request failed unprocessed."""
    registry, state, project = wb(), wandb_world.state, wandb_world.demo.project
    wandb_world.double.fault("AliasgateRecord", "500")
    op = AliasOp("bert-classifier", "production", 2, 4)
    (record,) = registry.apply([op], [body(op)])
    assert state.holder(project, "bert-classifier", "production") == 4
    statuses = [e.status for e in wandb_world.journal.entries if e.operation_name == "AliasgateRecord"]
    assert statuses == [500, 200]
    log = registry.audit_log("bert-classifier")
    assert log.records == [record] and audit.verify(log).ok


def test_the_backend_imports_only_the_shared_value_modules() -> None:
    import ast
    from pathlib import Path

    allowed = {
        "aliasgate",
        "aliasgate.model",
        "aliasgate.errors",
        "aliasgate.audit",
        "aliasgate.secrets",
        "aliasgate.registry",
        "aliasgate.registry.http",
    }
    package = Path(wandb_backend.__file__).parent
    seen = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aliasgate"):
                seen.add(node.module)
            elif isinstance(node, ast.Import):
                seen.update(a.name for a in node.names if a.name.startswith("aliasgate"))
    core = {m for m in seen if not m.startswith("aliasgate.registry.wandb")}
    assert core <= allowed, sorted(core - allowed)
    assert "aliasgate.registry" in core  # the neutral TtlState comes from the protocol module
