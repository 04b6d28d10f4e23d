"""The CLI against the W&B double: the flows a CI job runs, end to end.

Plan -> apply -> history -> rollback; a dry run sends no mutation; a rejected key
is exit 1 naming WANDB_API_KEY; a Member moving a protected alias is exit 1 and
changes nothing; a writer that moves the alias between our read and our write is
exit 4; and examples/promote.yaml runs unchanged on the embedded registry and W&B.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import clean_env, run_promote
from tests.servers.wandb_double import ALICE_KEY, CI_KEY
from tests.wandb_fixtures import WandbWorld

PROJECT = "wandb://ml/demo"
REGISTRY = "wandb://acme-org/wandb-registry-model"


@pytest.fixture
def wandb_cli(wandb_world: WandbWorld, demo, cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``cli`` with WANDB_* pointing at the double (the ci-bot key) and examples/ in the cwd."""
    wandb_world.use(monkeypatch)
    return cli


@pytest.mark.parametrize("uri", [PROJECT, REGISTRY], ids=["project", "registry"])
def test_plan_apply_history_rollback(wandb_world: WandbWorld, wandb_cli, demo, uri: str) -> None:  # type: ignore[no-untyped-def]
    policy = str(demo.policy())
    project = wandb_world.demo.registry if "registry" in uri else wandb_world.demo.project
    holder = lambda: wandb_world.state.holder(project, "bert-classifier", "production")  # noqa: E731

    plan = wandb_cli("plan", "-p", policy, "--registry", uri)
    assert plan.code == 0, plan.output
    assert "as ci-bot (authenticated, wandb viewer)" in plan.stdout
    assert "PASS derived from bert-tokenizer:production" in plan.stdout  # lineage from the run's inputs
    assert "0.912 beats bert-classifier:v2's 0.884" in plan.stdout  # metrics from the run summary
    assert "move bert-classifier:production v2 -> v4" in plan.stdout
    assert not wandb_world.journal.mutations()

    applied = wandb_cli("apply", "-p", policy, "--registry", uri)
    assert applied.code == 0, applied.output
    assert holder() == 4
    again = wandb_cli("apply", "-p", policy, "--registry", uri)
    assert again.code == 0 and "up to date" in again.stdout

    history = wandb_cli("history", "bert-classifier", "--registry", uri, "--verify", "--json")
    assert history.code == 0, history.output
    records = json.loads(history.stdout)["records"]
    assert [(r["kind"], r["from"], r["to"], r["principal"]["name"]) for r in records] == [
        ("promote", 2, 4, "ci-bot")
    ]

    rollback = wandb_cli("rollback", "bert-classifier", "production", "--registry", uri)
    assert rollback.code == 0, rollback.output
    assert "v4 -> v2" in rollback.stdout
    assert holder() == 2
    verified = wandb_cli("history", "bert-classifier", "--registry", uri, "--verify")
    assert verified.code == 0 and "2 record(s), intact" in verified.stdout


def test_dry_run_sends_no_mutation(wandb_world: WandbWorld, wandb_cli, demo) -> None:  # type: ignore[no-untyped-def]
    run = wandb_cli("apply", "--dry-run", "-p", str(demo.policy()), "--registry", PROJECT)
    assert run.code == 0, run.output
    assert "dry run" in run.stdout
    assert len(wandb_world.journal) > 0
    assert wandb_world.journal.mutations() == []
    assert {e.operation for e in wandb_world.journal.entries} == {"query"}


def test_rejected_key_exits_1_naming_the_variable(
    wandb_world: WandbWorld, wandb_cli, demo, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    bad = "xx" + "7" * 38
    monkeypatch.setenv("WANDB_API_KEY", bad)
    for args in (["whoami"], ["plan", "-p", str(demo.policy())]):
        run = wandb_cli(*args, "--registry", PROJECT)
        assert run.code == 1, run.output
        assert "WANDB_API_KEY" in run.stderr and bad not in run.output
        assert "Traceback" not in run.output


def test_member_moving_a_protected_alias_exits_1_and_nothing_changes(  # type: ignore[no-untyped-def]
    wandb_world: WandbWorld, wandb_cli, demo, monkeypatch
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", ALICE_KEY)
    run = wandb_cli("apply", "-p", str(demo.policy()), "--registry", REGISTRY)
    assert run.code == 1, run.output
    assert "only registry Admins may move it" in run.output
    registry = wandb_world.demo.registry
    assert wandb_world.state.holder(registry, "bert-classifier", "production") == 2
    history = wandb_cli("history", "bert-classifier", "--registry", REGISTRY, "--json")
    assert json.loads(history.stdout)["records"] == []


def test_writer_between_our_read_and_write_is_a_conflict(wandb_world: WandbWorld, wandb_cli, demo) -> None:  # type: ignore[no-untyped-def]
    project = wandb_world.demo.project
    # Someone moves production to v3 after the plan read it on v2, before our write.
    wandb_world.double.on(
        "AliasgateTargets",
        lambda s: s.move_alias(project, "bert-classifier", "production", 3, as_user="alice"),
    )
    run = wandb_cli("apply", "-p", str(demo.policy()), "--registry", PROJECT)
    assert run.code == 4, run.output
    assert "expected it on v2, found it on v3" in run.output
    assert wandb_world.state.holder(project, "bert-classifier", "production") == 3
    assert not wandb_world.journal.mutations()


def test_saved_plan_is_refused_when_the_alias_moved(wandb_world: WandbWorld, wandb_cli, demo) -> None:  # type: ignore[no-untyped-def]
    saved = wandb_cli("plan", "-p", str(demo.policy()), "--registry", PROJECT, "-o", "plan.json")
    assert saved.code == 0, saved.output
    wandb_world.state.move_alias(
        wandb_world.demo.project, "bert-classifier", "production", 3, as_user="alice"
    )
    run = wandb_cli("apply", "plan.json", "-p", str(demo.policy()), "--registry", PROJECT)
    assert run.code == 4, run.output
    assert not wandb_world.journal.mutations()


def test_same_example_policy_runs_unchanged_on_embedded_and_w_and_b(
    wandb_world: WandbWorld, wandb_cli, demo
) -> None:  # type: ignore[no-untyped-def]
    policy = str(demo.policy())  # examples/promote.yaml; demo seeded the embedded registry
    outcomes = {}
    for uri in (demo.uri, PROJECT, REGISTRY):
        plan = wandb_cli("plan", "-p", policy, "--registry", uri, "--json")
        assert plan.code == 0, (uri, plan.output)
        rules = json.loads(plan.stdout)["rules"]
        outcomes[uri] = [
            (r["status"], r["moves"], [(g["passed"], _observed(g)) for g in r["gates"]]) for r in rules
        ]
        applied = wandb_cli("apply", "-p", policy, "--registry", uri, "--json")
        assert applied.code == 0, (uri, applied.output)
        assert [o["status"] for o in json.loads(applied.stdout)["result"]["outcomes"]] == ["applied"]
    assert outcomes[PROJECT] == outcomes[demo.uri] == outcomes[REGISTRY]


def _observed(gate: dict[str, Any]) -> Any:
    """What a gate saw, without the seconds each seeding happened at (ages are compared)."""
    seen = gate.get("observed")
    return {k: v for k, v in seen.items() if k != "created_at"} if isinstance(seen, dict) else seen


def test_a_real_process_never_imports_the_wandb_sdk(wandb_world: WandbWorld, demo) -> None:  # type: ignore[no-untyped-def]
    env = clean_env(**wandb_world.env())
    run = run_promote("whoami", "--json", "--registry", PROJECT, env=env, cwd=demo.path)
    assert run.code == 0, run.output
    assert json.loads(run.stdout)["name"] == "ci-bot"
    assert CI_KEY not in run.output
    probe = (
        "import sys; from aliasgate.registry import open_registry; "
        "r = open_registry('wandb://ml/demo'); r.whoami(); "
        "print('wandb' in sys.modules, 'aliasgate.registry.wandb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "True"], out.stderr


BUNDLE = """\
version: 1
promotions:
  - name: ship-together
    bundle: [bert-classifier, bert-tokenizer]
    from: staging
    to: production
    gates:
      - {metric: val_f1, min: 0.89, of: bert-classifier}
"""


def test_bundle_is_all_or_nothing_with_an_audited_undo(wandb_world: WandbWorld, wandb_cli, demo) -> None:  # type: ignore[no-untyped-def]
    state, project = wandb_world.state, wandb_world.demo.project
    state.log_artifact(project, "bert-tokenizer", metadata={"vocab_size": 33000}, aliases=["staging"])  # v3
    # After the classifier moved (and was recorded), someone moves the tokenizer's production.
    wandb_world.double.on(
        "AliasgateRecord",
        lambda s: s.move_alias(project, "bert-tokenizer", "production", 1, as_user="alice"),
        when="after",
    )
    run = wandb_cli("apply", "-p", str(demo.write("bundle.yaml", BUNDLE)), "--registry", PROJECT)
    assert run.code == 4, run.output
    assert "undid 1 earlier move(s)" in run.output
    assert state.holder(project, "bert-classifier", "production") == 2  # back where it was
    assert state.holder(project, "bert-tokenizer", "production") == 1  # the other writer's choice
    history = wandb_cli("history", "bert-classifier", "--registry", PROJECT, "--verify", "--json")
    assert history.code == 0, history.output
    kinds = [(r["kind"], r["from"], r["to"]) for r in json.loads(history.stdout)["records"]]
    assert sorted(kinds) == [("promote", 2, 4), ("undo", 4, 2)]


RETENTION = """\
version: 1
retention:
  - model: bert-classifier
    ttl: 7d
    keep_last: 1
"""


def test_cleanup_deletes_unaliased_versions_and_audits_them(wandb_world: WandbWorld, wandb_cli, demo) -> None:  # type: ignore[no-untyped-def]
    state, project = wandb_world.state, wandb_world.demo.project
    policy = str(demo.write("retention.yaml", RETENTION))
    dry = wandb_cli("cleanup", "--dry-run", "-p", policy, "--registry", PROJECT)
    assert dry.code == 0, dry.output
    assert not wandb_world.journal.mutations()
    run = wandb_cli("cleanup", "-p", policy, "--registry", PROJECT, "--json")
    assert run.code == 0, run.output
    live = [m.version_index for m in state.memberships_of(state.find_collection(project, "bert-classifier"))]  # type: ignore[arg-type]
    assert live == [2, 4]  # v2 holds production, v4 is the newest; v1 and v3 were past the TTL
    history = wandb_cli("history", "bert-classifier", "--registry", PROJECT, "--verify", "--json")
    assert history.code == 0, history.output
    deleted = sorted(r["from"] for r in json.loads(history.stdout)["records"] if r["kind"] == "delete")
    assert deleted == [1, 3]


def test_models_as_w_and_b_users_write_them(wandb_world: WandbWorld, wandb_cli, demo) -> None:  # type: ignore[no-untyped-def]
    """ENTITY/PROJECT/NAME and PROJECT/NAME name the registry's own collections on the command line."""
    run = wandb_cli("apply", "-p", str(demo.policy()), "--registry", PROJECT)
    assert run.code == 0, run.output
    for name in ("ml/demo/bert-classifier", "demo/bert-classifier", "bert-classifier"):
        history = wandb_cli("history", name, "--registry", PROJECT, "--verify")
        assert history.code == 0 and "1 record(s), intact" in history.stdout, history.output
    status = wandb_cli("status", "ml/demo/bert-classifier", "--registry", PROJECT, "--json")
    assert status.code == 0, status.output
    # another project is read where it is (publishing names models outside the URI's project)
    other = wandb_cli("status", "ml/other/bert-classifier", "--registry", PROJECT)
    assert other.code == 1 and "W&B project ml/other not found" in other.stderr
