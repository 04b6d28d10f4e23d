"""Fixtures for the MLflow tests: real servers (session-scoped), seeded models, accounts, a proxy.

Both servers start once per test session, in parallel (~8 s, plus a one-off install of
``mlflow[auth]`` into the test cache on a fresh machine), and stop at the end of the session,
on failure and on Ctrl-C alike. Each test seeds its own models under a unique prefix, so tests
never see each other's aliases or audit records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import mlflow_seed
from tests.servers.mlflow_proxy import RecordingProxy
from tests.servers.mlflow_server import Account, MlflowServer, ensure_mlflow

ROOT = Path(__file__).resolve().parents[1]
DEMO_SEED = ROOT / "examples" / "demo-registry.yaml"


@dataclass
class MlflowServers:
    plain: MlflowServer
    auth: MlflowServer


@pytest.fixture(scope="session")
def mlflow_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServers]:
    python = ensure_mlflow()
    plain = MlflowServer(tmp_path_factory.mktemp("mlflow-plain"), python=python)
    auth = MlflowServer(tmp_path_factory.mktemp("mlflow-auth"), auth=True, python=python)
    try:
        plain.launch()
        auth.launch()
        plain.wait_ready()
        auth.wait_ready()
        yield MlflowServers(plain, auth)
    finally:
        plain.stop()
        auth.stop()


@pytest.fixture(scope="session")
def mlflow_server(mlflow_servers: MlflowServers) -> MlflowServer:
    """A plain ``mlflow server`` (no auth) on 127.0.0.1."""
    return mlflow_servers.plain


@pytest.fixture(scope="session")
def mlflow_auth_server(mlflow_servers: MlflowServers) -> MlflowServer:
    """``mlflow server --app-name basic-auth`` on 127.0.0.1; ``.admin`` is its admin account."""
    return mlflow_servers.auth


@dataclass
class SeededDemo:
    """The demo registry seeded into MLflow under a unique prefix."""

    server: MlflowServer
    names: dict[str, str]  # seed name -> MLflow name
    prefix: str
    accounts: dict[str, Account] = field(default_factory=dict)  # READ / EDIT / MANAGE (auth server)

    @property
    def classifier(self) -> str:
        return self.names["bert-classifier"]

    @property
    def tokenizer(self) -> str:
        return self.names["bert-tokenizer"]

    @property
    def uri(self) -> str:
        return self.server.registry_uri

    def aliases(self, model: str) -> dict[str, int]:
        rm = self.server.api("GET", "registered-models/get", params={"name": model})["registered_model"]
        return {a["alias"]: int(a["version"]) for a in rm.get("aliases", [])}

    def tags(self, model: str) -> dict[str, str]:
        rm = self.server.api("GET", "registered-models/get", params={"name": model})["registered_model"]
        return {t["key"]: t["value"] for t in rm.get("tags", [])}

    def segments(self, model: str) -> dict[str, dict[str, str]]:
        """The model's audit segments (``aliasgate-audit.<model>.<account>.<page>``) and their tags."""
        found = self.server.api(
            "GET",
            "registered-models/search",
            params={"filter": f"name LIKE 'aliasgate-audit.{model}.%'", "max_results": "1000"},
        )
        return {
            m["name"]: {t["key"]: t["value"] for t in m.get("tags", [])}
            for m in found.get("registered_models", [])
        }

    def record_tags(self, model: str) -> dict[str, str]:
        """Every ``aliasgate.audit.<seq>`` tag of the model's segments, merged."""
        merged: dict[str, str] = {}
        for tags in self.segments(model).values():
            merged.update(
                {
                    k: v
                    for k, v in tags.items()
                    if k.startswith("aliasgate.audit.") and k != "aliasgate.audit.of"
                }
            )
        return merged

    def locks(self) -> list[str]:
        found = self.server.api(
            "GET",
            "registered-models/search",
            params={"filter": "name LIKE 'aliasgate-lock.%'", "max_results": "1000"},
        )
        return sorted(m["name"] for m in found.get("registered_models", []) if self.prefix in m["name"])


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def mlflow_demo(mlflow_server: MlflowServer) -> SeededDemo:
    """The demo seeded into the plain server (metrics in the source runs, as training logs them)."""
    prefix = unique_prefix()
    return SeededDemo(mlflow_server, mlflow_seed.load(mlflow_server, DEMO_SEED, prefix=prefix), prefix)


@pytest.fixture
def mlflow_auth_demo(mlflow_auth_server: MlflowServer) -> SeededDemo:
    """The demo seeded by the admin into the basic-auth server, with one service account per level.

    ``accounts["READ"]``, ``["EDIT"]`` and ``["MANAGE"]`` hold that grant on both demo models.
    """
    prefix = unique_prefix()
    names = mlflow_seed.load(mlflow_auth_server, DEMO_SEED, prefix=prefix)
    accounts = {}
    for level in ("READ", "EDIT", "MANAGE"):
        account = mlflow_auth_server.create_user(f"{prefix}svc-{level.lower()}")
        for model in names.values():
            mlflow_auth_server.grant(account.username, model, level)
        accounts[level] = account
    return SeededDemo(mlflow_auth_server, names, prefix, accounts)


@pytest.fixture
def recording_proxy(mlflow_server: MlflowServer) -> Iterator[RecordingProxy]:
    """A pass-through proxy to the plain server that records (and can pause) every request."""
    with RecordingProxy(mlflow_server.url) as proxy:
        yield proxy
