"""One adapter per backend for the contract suite: a fresh registry seeded with the demo, and the
moves an outsider can make on that backend's own storage.

Each adapter gives the contract tests the same world (examples/demo-registry.yaml:
``bert-classifier`` v1-v4 with ``production`` on v2 and ``staging`` on v4, ``bert-tokenizer``
v1-v2 with both aliases on v2) and three outside hands, each going to the backend's storage
the way someone other than aliasgate would:

- ``move_outside``: another writer moves an alias (SQL on the embedded file, MLflow's REST API,
  W&B's ``addAliases`` as another user);
- ``edit_record`` / ``drop_record``: an attacker with write access to the storage edits or deletes
  one stored audit record (an SQLite row, an MLflow tag, an entry of W&B version metadata).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aliasgate.registry import Registry, open_registry
from tests.conftest import Demo
from tests.mlflow_fixtures import SeededDemo
from tests.wandb_fixtures import WandbWorld

# Resolved at import, before the autouse fixture points HOME at a temporary directory: the
# session's mlflow server starts inside ``backend`` (after that fixture) and must find the
# cached mlflow virtualenv, not install one under the temporary HOME.
TEST_CACHE = os.environ.get("ALIASGATE_TEST_CACHE") or str(Path.home() / ".cache" / "aliasgate-tests")

BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("mlflow", id="mlflow", marks=pytest.mark.mlflow),
    pytest.param("wandb", id="wandb"),
]


class Backend:
    """A seeded registry of one backend, as the contract suite sees it."""

    name: str
    uri: str
    classifier: str
    tokenizer: str

    def __init__(self) -> None:
        self._opened: list[Registry] = []

    def open(self) -> Registry:
        registry = open_registry(self.uri)
        self._opened.append(registry)
        return registry

    def close(self) -> None:
        for registry in self._opened:
            registry.close()

    def move_outside(self, model: str, alias: str, number: int) -> None:
        raise NotImplementedError

    def edit_record(self, model: str, seq: int, key: str, value: Any) -> None:
        raise NotImplementedError

    def drop_record(self, model: str, seq: int) -> None:
        raise NotImplementedError


class Local(Backend):
    name = "local"
    classifier = "bert-classifier"
    tokenizer = "bert-tokenizer"

    def __init__(self, demo: Demo) -> None:
        super().__init__()
        self.db: Path = demo.db
        self.uri = demo.uri

    def _sql(self, statement: str, *args: Any) -> list[Any]:
        conn = sqlite3.connect(self.db)
        try:
            with conn:
                return conn.execute(statement, args).fetchall()
        finally:
            conn.close()

    def move_outside(self, model: str, alias: str, number: int) -> None:
        self._sql(
            "INSERT INTO aliases(model_id, alias, number) VALUES ((SELECT id FROM models WHERE name = ?), ?, ?) "
            "ON CONFLICT(model_id, alias) DO UPDATE SET number = excluded.number",
            model,
            alias,
            number,
        )

    def edit_record(self, model: str, seq: int, key: str, value: Any) -> None:
        ((text,),) = self._sql(
            "SELECT record FROM audit WHERE seq = ? AND model_id = (SELECT id FROM models WHERE name = ?)",
            seq,
            model,
        )
        record = json.loads(text)
        record[key] = value
        self._sql(
            "UPDATE audit SET record = ? WHERE seq = ? AND model_id = (SELECT id FROM models WHERE name = ?)",
            json.dumps(record),
            seq,
            model,
        )

    def drop_record(self, model: str, seq: int) -> None:
        self._sql(
            "DELETE FROM audit WHERE seq = ? AND model_id = (SELECT id FROM models WHERE name = ?)",
            seq,
            model,
        )


class Mlflow(Backend):
    name = "mlflow"

    def __init__(self, demo: SeededDemo) -> None:
        super().__init__()
        self.demo = demo
        self.uri = demo.uri
        self.classifier = demo.classifier
        self.tokenizer = demo.tokenizer

    def move_outside(self, model: str, alias: str, number: int) -> None:
        self.demo.server.api(
            "POST", "registered-models/alias", {"name": model, "alias": alias, "version": str(number)}
        )

    def _segment_holding(self, model: str, seq: int) -> tuple[str, str, str]:
        """(segment model, tag key, stored value) of record ``seq``: found as an attacker would,
        by listing the audit segments beside the model."""
        for segment, tags in self.demo.segments(model).items():
            for key, value in tags.items():
                if key.startswith("aliasgate.audit.") and key.rpartition(".")[2] == str(seq):
                    return segment, key, value
        raise AssertionError(f"no stored record #{seq} of {model}")

    def edit_record(self, model: str, seq: int, key: str, value: Any) -> None:
        segment, tag, stored = self._segment_holding(model, seq)
        record = json.loads(stored)
        record[key] = value
        self.demo.server.api(
            "POST", "registered-models/set-tag", {"name": segment, "key": tag, "value": json.dumps(record)}
        )

    def drop_record(self, model: str, seq: int) -> None:
        segment, tag, _ = self._segment_holding(model, seq)
        self.demo.server.api("DELETE", "registered-models/delete-tag", {"name": segment, "key": tag})


class Wandb(Backend):
    name = "wandb"
    uri = "wandb://ml/demo"
    classifier = "bert-classifier"
    tokenizer = "bert-tokenizer"

    def __init__(self, world: WandbWorld) -> None:
        super().__init__()
        self.world = world
        self.project = world.demo.project

    def move_outside(self, model: str, alias: str, number: int) -> None:
        self.world.state.move_alias(self.project, model, alias, number, as_user="alice")

    def _edit_metadata(self, model: str, seq: int, change: Any) -> None:
        """Find record ``seq`` in the metadata of the model's versions and ``change(chain, index)``."""
        state = self.world.state
        coll = state.find_collection(self.project, model)
        assert coll is not None
        for membership in state.memberships_of(coll):
            artifact = state.artifact(membership.artifact_id)
            meta = json.loads(artifact.metadata)
            for chain in meta.get("aliasgate", {}).get("audit", {}).values():
                for i, record in enumerate(chain):
                    if record.get("model") == model and record.get("seq") == seq:
                        change(chain, i)
                        artifact.metadata = json.dumps(meta)
                        return
        raise AssertionError(f"no stored record #{seq} of {model}")

    def edit_record(self, model: str, seq: int, key: str, value: Any) -> None:
        self._edit_metadata(model, seq, lambda chain, i: chain[i].__setitem__(key, value))

    def drop_record(self, model: str, seq: int) -> None:
        self._edit_metadata(model, seq, lambda chain, i: chain.pop(i))


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    """A fresh registry of each backend, seeded with the demo; the cwd is a temporary directory."""
    chosen: Backend
    if request.param == "local":
        chosen = Local(request.getfixturevalue("demo"))  # chdirs into its own tmp_path
    elif request.param == "mlflow":
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ALIASGATE_TEST_CACHE", TEST_CACHE)
        chosen = Mlflow(request.getfixturevalue("mlflow_demo"))
    else:
        monkeypatch.chdir(tmp_path)
        world: WandbWorld = request.getfixturevalue("wandb_world")
        world.use(monkeypatch)
        chosen = Wandb(world)
    try:
        yield chosen
    finally:
        chosen.close()
