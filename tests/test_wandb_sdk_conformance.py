"""The real wandb SDK agrees with the double (marker ``wandb_sdk``).

The pinned SDK (``ALIASGATE_WANDB_SDK_VERSION``, default 0.31.0) is installed into
its own cached virtualenv and its public API runs against the double through its
Go sidecar ``wandb-core``: fetch by alias, the producing run's metrics, add and
remove aliases, metadata and TTL, listing, delete, registry roles and unlink.
Separately, every SDK document the double's schema mirrors must validate against
it. When a new SDK release sends something the schema does not know, these tests
fail saying the schema moved, with the rejected field.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import graphql
import pytest

from tests.servers.wandb_double import resolvers
from tests.servers.wandb_double.state import TTL_DISABLED
from tests.wandb_fixtures import WANDB_SDK_VERSION, WandbWorld, sdk_env

pytestmark = pytest.mark.wandb_sdk

CLIENT = Path(__file__).parent / "servers" / "wandb_double" / "sdk_client.py"


def _schema_moved(world: WandbWorld) -> str:
    rejected = [e for e in world.journal.entries if e.status == 400]
    lines = [f"{e.operation_name or e.fields}: {'; '.join(e.errors)}" for e in rejected]
    return (
        f"the W&B schema moved: wandb {WANDB_SDK_VERSION} sent documents the double's schema "
        "(tests/servers/wandb_double/schema.graphql) rejects:\n  " + "\n  ".join(lines)
    )


def test_sdk_documents_validate_against_the_double_schema(wandb_sdk: Path) -> None:
    proc = subprocess.run(
        [str(wandb_sdk), str(CLIENT), "--documents"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["wandb_version"] == WANDB_SDK_VERSION
    assert not found["missing"], f"the W&B schema moved: the SDK no longer has {found['missing']}"
    problems = []
    for name, text in sorted(found["documents"].items()):
        errors = graphql.validate(resolvers.schema(), graphql.parse(text))
        problems += [f"{name}: {e.message}" for e in errors]
    assert not problems, "the W&B schema moved; SDK documents the double rejects:\n  " + "\n  ".join(problems)


def test_sdk_public_api_against_the_double(wandb_world: WandbWorld, wandb_sdk: Path, tmp_path: Path) -> None:
    from tests.servers.wandb_double import ALICE_KEY, CI_KEY

    proc = subprocess.run(
        [str(wandb_sdk), str(CLIENT), wandb_world.url, CI_KEY, ALICE_KEY],
        env=sdk_env(tmp_path, wandb_world.url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert not any(e.status == 400 for e in wandb_world.journal.entries), _schema_moved(wandb_world)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in out, out.get("traceback", out)
    assert out["wandb_version"] == WANDB_SDK_VERSION

    assert out["default_entity"] == "ml"
    assert out["fetch_staging"]["version"] == "v4"
    assert out["fetch_staging"]["aliases"] == ["latest", "staging"]
    assert out["fetch_staging"]["metadata"]["git_commit"] == "4f2a9c1"
    assert out["logged_by"] == {"name": "train-bert-classifier-v4", "val_f1": 0.912}
    assert out["promoted"] == {"version": "v4", "aliases": ["latest", "production"]}
    assert out["updated"]["metadata"]["promoted_by"] == "sdk"
    assert out["updated"]["ttl_seconds"] == 30 * 86400
    assert out["listed"] == ["v1", "v2", "v3", "v4"]
    assert out["deleted"] != "still there"
    assert out["delete_with_alias"] != "deleted"
    assert "permission" in out["registry_member_move"]
    assert out["registry_admin_move"] == ["latest", "production", "staging"]
    assert out["unlinked"] != "still linked"
    assert out["source_kept"] == "v1"

    # The double's state agrees with what the SDK reported.
    state = wandb_world.state
    demo = state.find_collection(wandb_world.demo.project, "bert-classifier")
    assert demo is not None
    holder = state.memberships[demo.aliases["production"].membership_id]
    assert holder.version_index == 4 and "staging" not in demo.aliases
    art = state.artifacts[holder.artifact_id]
    assert json.loads(art.metadata)["promoted_by"] == "sdk"
    assert state.ttl_seconds(art) == 30 * 86400
    assert [m.version_index for m in state.memberships_of(demo)] == [2, 3, 4]
    reg = state.find_collection(wandb_world.demo.registry, "bert-classifier")
    assert reg is not None
    assert state.memberships[reg.aliases["production"].membership_id].version_index == 4
    assert [m.version_index for m in state.memberships_of(reg)] == [2, 3, 4]
    assert state.ttl_seconds(state.artifacts[holder.artifact_id]) != TTL_DISABLED

    # The SDK used the mutations the double implements (a rename in a new release shows here).
    fields = set(wandb_world.journal.fields())
    assert {"addAliases", "deleteAliases", "updateArtifact", "deleteArtifact", "unlinkArtifact"} <= fields
    refused = [e for e in wandb_world.journal.entries if e.account == "alice" and e.errors]
    assert refused and "protected alias 'production'" in refused[0].errors[0]


def test_what_aliasgate_writes_stays_loadable_by_the_sdk(
    wandb_world: WandbWorld, wandb_sdk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case-variant URI and a version at the SDK's 100-key limit: the SDK re-targets to W&B's
    names as the double answers them, loads every version aliasgate touched, and refuses a 101-key
    version exactly as the double's model of the limit says."""
    from aliasgate.model import AliasOp
    from aliasgate.registry import open_registry
    from tests.servers.wandb_double import CI_KEY

    state, project = wandb_world.state, wandb_world.demo.project
    _, _, art = state.version_of(project, "bert-classifier", 4)
    metadata = json.loads(art.metadata or "{}")
    metadata.update({f"note_{i:03d}": "x" for i in range(100 - len(metadata))})
    art.metadata = json.dumps(metadata)
    _, _, over = state.version_of(project, "bert-tokenizer", 2)
    over.metadata = json.dumps({f"k{i}": "x" for i in range(101)})  # not written by the SDK or us

    wandb_world.use(monkeypatch)
    registry = open_registry("wandb://ML/Demo")
    record = {"kind": "manual", "model": "bert-classifier", "alias": "production", "from": 2, "to": 4}
    registry.apply([AliasOp("bert-classifier", "production", 2, 4)], [record])
    registry.close()

    paths = ["ML/Demo/bert-classifier:production", "ml/demo/bert-classifier:v2", "ml/demo/bert-tokenizer:v2"]
    proc = subprocess.run(
        [str(wandb_sdk), str(CLIENT), "--load", wandb_world.url, CI_KEY, *paths],
        env=sdk_env(tmp_path, wandb_world.url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])["loaded"]
    assert loaded[paths[0]] == {"entity": "ml", "project": "demo", "version": "v4", "metadata_keys": 100}
    assert "error" not in loaded[paths[1]]  # the previous holder
    assert "more than 100 metadata keys" in loaded[paths[2]]["error"]
    with pytest.raises(ValueError, match="more than 100 metadata keys"):
        state.sdk_load(project, "bert-tokenizer:v2")


def test_the_sdk_reads_what_aliasgate_published_into_the_registry(
    wandb_world: WandbWorld, wandb_sdk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`to: {model, alias}` links ml/training/bert:v0 into the Registry collection and moves
    `staging` there; the SDK loads the collection's `staging` and finds that very artifact."""
    from aliasgate import applier, planner
    from aliasgate.model import Principal, utcnow
    from aliasgate.policy import load_text
    from aliasgate.provenance import collect
    from aliasgate.registry import open_registry
    from tests.servers.wandb_double import CI_KEY

    state, source = wandb_world.state, wandb_world.demo.source
    run = state.add_run(source, "train-publish", summary={"val_f1": 0.95})
    art = state.log_artifact(source, "bert", metadata={"git_sha": "abc"}, run=run, aliases=["candidate"])
    wandb_world.use(monkeypatch)
    policy = load_text(
        "version: 1\npromotions:\n  - name: publish-classifier\n    model: training/bert\n"
        "    from: candidate\n    to: {model: bert-classifier, alias: staging}\n"
        "    gates:\n      - {metric: val_f1, min: 0.9}\n",
        "publish.yaml",
    )
    registry = open_registry("wandb://acme-org/wandb-registry-model")
    prov = collect(Principal("t", False, "test"))
    result = applier.apply(
        registry, planner.plan(policy, registry, now=utcnow(), principal=prov.principal), prov, now=utcnow
    )
    assert result.exit_code == 0, [o.message for o in result.outcomes]
    published = registry.aliases("bert-classifier")["staging"]
    registry.close()

    path = "acme-org/wandb-registry-model/bert-classifier:staging"
    proc = subprocess.run(
        [str(wandb_sdk), str(CLIENT), "--load", wandb_world.url, CI_KEY, path],
        env=sdk_env(tmp_path, wandb_world.url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not any(e.status == 400 for e in wandb_world.journal.entries), _schema_moved(wandb_world)
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    loaded, seen = answer["loaded"][path], answer["seen"][path]
    assert "error" not in loaded, loaded
    assert loaded["version"] == f"v{published}" and "staging" in seen["aliases"]
    assert seen["source"] == f"ml/training/bert:v{art.version_index}"  # the very artifact aliasgate linked
