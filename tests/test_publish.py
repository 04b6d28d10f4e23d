"""Publishing into another model (``to: {model, alias}``) on the embedded registry, and the policy
language around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aliasgate import applier
from aliasgate.errors import PolicyError
from aliasgate.model import Principal, VersionId, utcnow
from aliasgate.policy import load_text
from aliasgate.provenance import collect
from aliasgate.registry.local import LocalRegistry
from tests import publish_scenario as scenario


@pytest.fixture
def world(tmp_path: Path) -> scenario.PublishWorld:
    db = tmp_path / "reg.db"
    LocalRegistry(db, create=True).create_model("bert-classifier")

    def log(f1: float) -> int:
        return LocalRegistry(db).log_version("bert", metrics={"val_f1": f1}, metadata={"git_sha": "abc"})

    return scenario.PublishWorld(
        registry=lambda: LocalRegistry(db),
        source="bert",
        dest="bert-classifier",
        log_candidate=log,
        dest_versions=lambda: [v.number for v in LocalRegistry(db).versions("bert-classifier")],
    )


def test_publish_then_move_and_history_on_both_sides(world: scenario.PublishWorld) -> None:
    published = scenario.check_publish_move_and_history(world)
    version = world.registry().version("bert-classifier", published)
    assert version.lineage == (VersionId("bert", 1),)  # the lineage edge to the source
    assert version.metrics == {"val_f1": 0.95} and version.metadata == {"git_sha": "abc"}


def test_gates_on_the_source_block_publication(world: scenario.PublishWorld) -> None:
    scenario.check_gates_block_publication(world)


def test_racing_publish_loses_with_exit_4_and_moves_nothing(world: scenario.PublishWorld) -> None:
    scenario.check_racing_publish_loses(world)


def test_interrupted_publish_is_completed_by_the_next_run(world: scenario.PublishWorld) -> None:
    scenario.check_interrupted_run_is_completed(world)


def test_lineage_gate_refuses_a_hand_made_copy(world: scenario.PublishWorld) -> None:
    """Anyone who can log versions can claim a lineage edge; only the source chain's publish
    record (written when the rule's gates passed) satisfies `lineage: {rule: ...}`."""
    n = world.log_candidate(0.95)
    reg = world.registry()
    assert isinstance(reg, LocalRegistry)
    fake = reg.log_version("bert-classifier", inputs=[VersionId("bert", n)])
    applier.set_alias(
        reg, "bert-classifier", "staging", fake, collect(Principal("x", False, "t")), now=utcnow()
    )
    result = scenario.run(world, ("ship",))
    assert result.exit_code == 3
    assert "no verified record that rule publish-classifier published" in result.outcomes[0].message or any(
        "no verified record" in g.detail for g in result.plan.rules[0].gates
    )
    assert "production" not in world.registry().aliases("bert-classifier")


def test_history_shows_the_edge_on_both_sides(world: scenario.PublishWorld, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scenario.check_publish_move_and_history(world)
    uri = world.registry().uri
    src = cli("history", "bert", "--registry", uri)
    assert src.code == 0 and "published to bert-classifier:v1" in src.stdout
    dest = cli("history", "bert-classifier", "--registry", uri, "--verify")
    assert dest.code == 0 and "v1 (from bert:v1)" in dest.stdout and "intact" in dest.stdout


def test_plan_shows_both_steps(world: scenario.PublishWorld, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world.log_candidate(0.95)
    scenario.set_candidate(world, 1)
    text = scenario.POLICY.replace("SOURCE", "bert").replace("DEST", "bert-classifier")
    path = tmp_path / "p.yaml"
    path.write_text(text)
    out = cli("plan", "-p", str(path), "--registry", world.registry().uri, "--rule", "publish-classifier")
    assert out.code == 0, out.output
    assert "publish bert:candidate -> bert-classifier:staging" in out.stdout
    assert "publish into bert-classifier (new version), then move bert-classifier:staging" in out.stdout


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "bundle: [a, b]\n    from: candidate\n    to: {model: c, alias: staging}",
            "a bundle cannot publish into another model",
        ),
        (
            "model: a\n    from: candidate\n    remove_from: true\n    to: {model: c, alias: staging}",
            "remove_from does not combine with publishing",
        ),
        (
            "model: a\n    from: candidate\n    to: {model: c}",
            "missing required key 'alias' in `to` (publishing into another model)",
        ),
        ("model: a:b\n    from: candidate\n    to: staging", "'project/name'"),
    ],
)
def test_policy_errors_name_the_problem(snippet: str, message: str) -> None:
    text = f"version: 1\npromotions:\n  - name: r\n    {snippet}\n"
    with pytest.raises(PolicyError) as info:
        load_text(text, "p.yaml")
    messages = [i.message for i in info.value.issues]
    assert any(message in m for m in messages), messages


def test_project_reference_is_accepted_by_the_schema() -> None:
    text = (
        "version: 1\npromotions:\n  - name: r\n    model: training/bert\n    from: candidate\n"
        "    to: {model: wandb-registry-model/bert-classifier, alias: staging}\n"
    )
    rule = load_text(text, "p.yaml").promotions[0]
    assert rule.models == ("training/bert",) and rule.dest == "wandb-registry-model/bert-classifier"


def test_embedded_registry_refuses_a_project_reference(world: scenario.PublishWorld) -> None:
    from aliasgate.errors import InvalidInput

    with pytest.raises(InvalidInput, match="the embedded registry has no projects"):
        world.registry().publish("team/bert", 1, "bert-classifier")  # type: ignore[attr-defined]


def test_a_saved_plan_of_a_publishing_rule_is_refused_and_changes_nothing(
    world: scenario.PublishWorld,
    cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    world.log_candidate(0.95)
    scenario.set_candidate(world, 1)
    path = tmp_path / "p.yaml"
    path.write_text(scenario.POLICY.replace("SOURCE", "bert").replace("DEST", "bert-classifier"))
    uri = world.registry().uri
    saved = cli(
        "plan",
        "-p",
        str(path),
        "--registry",
        uri,
        "--rule",
        "publish-classifier",
        "-o",
        str(tmp_path / "plan.json"),
    )
    assert saved.code == 0, saved.output
    run = cli("apply", str(tmp_path / "plan.json"), "--registry", uri)
    assert run.code == 2 and "cannot be applied from a saved plan" in run.stderr
    assert world.dest_versions() == [] and "staging" not in world.registry().aliases("bert-classifier")


def test_report_follows_the_edge_on_both_sides(world: scenario.PublishWorld) -> None:
    from aliasgate import report

    scenario.check_publish_move_and_history(world)
    src = report.markdown(report.build(world.registry(), "bert"))
    dest = report.markdown(report.build(world.registry(), "bert-classifier"))
    assert "published to bert-classifier:v1" in src
    assert "v1 (from bert:v1)" in dest


def test_step_summary_shows_the_destination_and_the_published_version(world: scenario.PublishWorld) -> None:
    from aliasgate import applier as applier_mod
    from aliasgate import planner
    from aliasgate.summary import plan_markdown

    world.log_candidate(0.95)
    scenario.set_candidate(world, 1)
    reg = world.registry()
    p = planner.plan(
        scenario.policy(world),
        reg,
        now=utcnow(),
        principal=scenario.prov().principal,
        rules=("publish-classifier",),
    )
    assert "| `bert-classifier` | published | — (staging) | — → — |" in plan_markdown(p, None)
    result = applier_mod.apply(reg, p, scenario.prov(), now=utcnow)
    text = plan_markdown(p, result)
    assert "`candidate` → `bert-classifier`:`staging`" in text
    assert "| `bert-classifier` | published | — (staging) | — → v1 |" in text
