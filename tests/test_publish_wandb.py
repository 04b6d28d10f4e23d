"""Publishing on W&B: a run's model in ``ml/training`` linked into the organization's Registry
(``wandb-registry-model``) with ``linkArtifact``, against the double, then the guarded alias move."""

from __future__ import annotations

import pytest

from aliasgate.registry import open_registry
from aliasgate.registry.wandb import documents as wandb_gql
from tests import publish_scenario as scenario
from tests.wandb_fixtures import WandbWorld

REGISTRY = "wandb://acme-org/wandb-registry-model"


@pytest.fixture
def world(wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch) -> scenario.PublishWorld:
    wandb_world.use(monkeypatch)
    state = wandb_world.state
    source = wandb_world.demo.source  # ml/training

    def log(f1: float) -> int:
        run = state.add_run(source, f"train-{f1}", summary={"val_f1": f1})
        return int(state.log_artifact(source, "bert", metadata={"git_sha": "abc"}, run=run).version_index)

    def dest_versions() -> list[int]:
        return [v.number for v in open_registry(REGISTRY).versions("bert-classifier")]

    return scenario.PublishWorld(
        registry=lambda: open_registry(REGISTRY),
        source="training/bert",
        dest="bert-classifier",
        log_candidate=log,
        dest_versions=dest_versions,
    )


def test_publish_links_into_the_registry_then_moves(
    world: scenario.PublishWorld, wandb_world: WandbWorld
) -> None:
    published = scenario.check_publish_move_and_history(world)
    links = [e for e in wandb_world.journal.entries if e.operation_name == "AliasgateLinkArtifact"]
    assert len(links) == 1  # the second run linked nothing
    sent = links[0].variables["input"]
    assert sent["entityName"] == "acme-org" and sent["projectName"] == "wandb-registry-model"
    assert sent["artifactPortfolioName"] == "bert-classifier" and sent["aliases"] == []
    version = world.registry().version("bert-classifier", published)
    assert str(version.published_from) == "ml/training/bert:v0"  # the edge to the source
    dest_log = world.registry().audit_log("bert-classifier")
    assert any(r.get("published_from", {}).get("digest") for r in dest_log.records)  # W&B has a digest


def test_gates_on_the_source_block_linking(world: scenario.PublishWorld, wandb_world: WandbWorld) -> None:
    scenario.check_gates_block_publication(world)
    assert "linkArtifact" not in wandb_world.journal.fields()


def test_racing_publish_loses_with_exit_4(world: scenario.PublishWorld) -> None:
    scenario.check_racing_publish_loses(world)


def test_interrupted_link_is_completed(world: scenario.PublishWorld) -> None:
    scenario.check_interrupted_run_is_completed(world)


def test_link_into_a_legacy_portfolio(wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the Registry: a portfolio of the team's own project (the legacy model registry shape)."""
    wandb_world.use(monkeypatch)
    state, source = wandb_world.state, wandb_world.demo.source
    art = state.log_artifact(source, "bert", metadata={"val_f1": 0.95})
    reg = open_registry("wandb://ml/training")
    made = reg.publish("bert", art.version_index, "bert-portfolio")  # type: ignore[attr-defined]
    assert not made.reused and reg.publish("bert", art.version_index, "bert-portfolio").reused  # type: ignore[attr-defined]
    assert reg.version("bert-portfolio", made.version).metrics["val_f1"] == 0.95


def test_link_document_is_a_field_subset_of_the_sdk_document() -> None:
    from graphql import parse

    doc = parse(wandb_gql.LINK_ARTIFACT)
    op = doc.definitions[0]
    assert [v.variable.name.value for v in op.variable_definitions] == ["input"]  # type: ignore[attr-defined]
    assert op.variable_definitions[0].type.type.name.value == "LinkArtifactInput"  # type: ignore[attr-defined]
    field = op.selection_set.selections[0]  # type: ignore[attr-defined]
    assert (field.name.value, field.alias.value) == ("linkArtifact", "result")
    assert [s.name.value for s in field.selection_set.selections] == ["versionIndex"]


def test_a_registry_viewer_may_not_link(wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from aliasgate.errors import AuthError
    from tests.servers.wandb_double import VIEWER_KEY

    state, source = wandb_world.state, wandb_world.demo.source
    art = state.log_artifact(source, "bert", metadata={"val_f1": 0.95})
    wandb_world.use(monkeypatch, VIEWER_KEY)
    reg = open_registry(REGISTRY)
    with pytest.raises(AuthError, match="denied vera permission to link"):
        reg.publish("ml/training/bert", art.version_index, "bert-classifier")  # type: ignore[attr-defined]
    assert reg.published_copy("ml/training/bert", art.version_index, "bert-classifier") is None  # type: ignore[attr-defined]
