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
