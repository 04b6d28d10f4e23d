"""Publishing on a real ``mlflow server`` with basic auth: the publishing account may only READ
the source model and EDIT the destination. The copy is what ``MlflowClient.copy_model_version``
makes (a ``models:/`` source), and the real ``MlflowClient`` reads it back by its alias."""

from __future__ import annotations

import json
import subprocess

import pytest

from aliasgate.registry import open_registry
from aliasgate.registry.mlflow import Credentials, MlflowRegistry
from tests import publish_scenario as scenario
from tests.mlflow_fixtures import unique_prefix
from tests.servers.mlflow_server import Account, MlflowServer, ensure_mlflow

pytestmark = pytest.mark.mlflow


class Models:
    def __init__(self, server: MlflowServer) -> None:
        self.server = server
        prefix = unique_prefix()
        self.source, self.dest = f"{prefix}bert", f"{prefix}bert-classifier"
        for name in (self.source, self.dest):
            server.api("POST", "registered-models/create", {"name": name})
        self.account: Account = server.create_user(f"{prefix}svc-publish")
        server.grant(self.account.username, self.source, "READ")
        server.grant(self.account.username, self.dest, "EDIT")

    def log(self, f1: float) -> int:
        run_id = self.server.api("POST", "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
        metric = {"key": "val_f1", "value": f1, "timestamp": 1795441350818, "step": 0}
        self.server.api("POST", "runs/log-batch", {"run_id": run_id, "metrics": [metric]})
        created = self.server.api(
            "POST",
            "model-versions/create",
            {
                "name": self.source,
                "source": f"runs:/{run_id}/model",
                "run_id": run_id,
                "tags": [{"key": "git_sha", "value": "abc"}],
            },
        )
        return int(created["model_version"]["version"])

    def dest_versions(self) -> list[int]:
        found = self.server.api(
            "GET", "model-versions/search", params={"filter": f"name='{self.dest}'", "max_results": "1000"}
        )
        return [int(v["version"]) for v in found.get("model_versions") or []]


@pytest.fixture
def models(mlflow_auth_server: MlflowServer) -> Models:
    return Models(mlflow_auth_server)


@pytest.fixture
def world(models: Models, monkeypatch: pytest.MonkeyPatch) -> scenario.PublishWorld:
    server = models.server
    for key, value in models.account.env().items():
        monkeypatch.setenv(key, value)
    admin = server.admin
    assert admin is not None

    def as_admin() -> MlflowRegistry:
        return MlflowRegistry(server.url, Credentials(username=admin.username, password=admin.password))

    return scenario.PublishWorld(
        registry=lambda: open_registry(server.registry_uri),
        source=models.source,
        dest=models.dest,
        log_candidate=models.log,
        dest_versions=models.dest_versions,
        setup_registry=as_admin,
        source_writable=False,  # READ on the source: the edge is recorded on the destination
    )


def test_publish_copies_then_moves_with_read_on_source_and_edit_on_destination(
    world: scenario.PublishWorld, models: Models
) -> None:
    published = scenario.check_publish_move_and_history(world)
    mv = models.server.api(
        "GET", "model-versions/get", params={"name": models.dest, "version": str(published)}
    )["model_version"]
    assert mv["source"] == f"models:/{models.source}/1"  # what copy_model_version makes
    assert {t["key"]: t["value"] for t in mv.get("tags") or []}["git_sha"] == "abc"
    version = world.registry().version(models.dest, published)
    assert str(version.published_from) == f"{models.source}:v1" and version.metrics["val_f1"] == 0.95
    record = world.registry().audit_log(models.dest).records[-2]  # the publish's move (ship came after)
    assert record["published_from"]["source_record"].startswith("not written")


def test_gates_on_the_source_block_the_copy(world: scenario.PublishWorld) -> None:
    scenario.check_gates_block_publication(world)


def test_racing_publish_loses_with_exit_4(world: scenario.PublishWorld) -> None:
    scenario.check_racing_publish_loses(world)


def test_interrupted_copy_is_completed(world: scenario.PublishWorld) -> None:
    scenario.check_interrupted_run_is_completed(world)


def test_a_read_only_account_cannot_publish(models: Models, monkeypatch: pytest.MonkeyPatch) -> None:
    from aliasgate.errors import AuthError

    n = models.log(0.95)
    reader = models.server.create_user(f"{models.source}-reader")
    models.server.grant(reader.username, models.dest, "READ")
    for key, value in reader.env().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(AuthError):
        open_registry(models.server.registry_uri).publish(models.source, n, models.dest)  # type: ignore[attr-defined]
    assert models.dest_versions() == []


MLFLOW_CLIENT_READ = """
import json, sys
from mlflow import MlflowClient
mv = MlflowClient(tracking_uri=sys.argv[1]).get_model_version_by_alias(sys.argv[2], "staging")
print(json.dumps({"version": mv.version, "source": mv.source, "aliases": list(mv.aliases), "run_id": mv.run_id}))
"""


def test_mlflow_client_reads_the_copied_version_by_its_alias(
    world: scenario.PublishWorld, models: Models, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    n = world.log_candidate(0.95)
    scenario.set_candidate(world, n)
    assert scenario.run(world).exit_code == 0
    staged = world.registry().aliases(models.dest)["staging"]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    env.update(models.account.env())
    proc = subprocess.run(
        [str(ensure_mlflow()), "-c", MLFLOW_CLIENT_READ, models.server.url, models.dest],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    read = json.loads(proc.stdout.strip().splitlines()[-1])
    source_run = models.server.api(
        "GET", "model-versions/get", params={"name": models.source, "version": str(n)}
    )["model_version"]["run_id"]
    assert read == {
        "version": str(staged),
        "source": f"models:/{models.source}/{n}",
        "aliases": ["staging"],
        "run_id": source_run,
    }
