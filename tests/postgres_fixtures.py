"""Fixtures for MLflow on PostgreSQL: a throwaway cluster and ``mlflow server --workers 4`` on it.

SQLite serialises every write and hides races; PostgreSQL with several server workers is the
registry teams run. The cluster and the server start once per test session (per xdist worker),
on first use. The server runs the basic-auth app, whose own database is on the same cluster.

Where PostgreSQL is missing and cannot be installed (not root, no apt-get), these tests skip
with the reason; under ``CI=true`` they fail instead, so CI never loses the coverage silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.mlflow_fixtures import DEMO_SEED, SeededDemo, unique_prefix
from tests.servers import mlflow_seed
from tests.servers.mlflow_server import MlflowServer, ensure_mlflow, ensure_postgres_driver
from tests.servers.postgres_server import PostgresCluster, PostgresUnavailable, ensure_postgres

PG_WORKERS = 4
# Under pytest-xdist (`--dist loadgroup`) every test on PostgreSQL runs in one worker, so only one
# cluster and one 4-worker server start per run.
XDIST_GROUP = pytest.mark.xdist_group("postgres")
ON_POSTGRES = pytest.param("postgres", marks=XDIST_GROUP)
# Read at import: the autouse isolation fixture scrubs CI from the environment of each test.
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str, *, in_ci: bool) -> NoReturn:
    """Skip the test that needs PostgreSQL, or fail it in CI, where a skip would hide lost coverage."""
    if in_ci:
        pytest.fail(f"CI=true and PostgreSQL is unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster on 127.0.0.1 (a free port, a temp data dir, password auth)."""
    try:
        bindir = ensure_postgres()
    except PostgresUnavailable as exc:
        unavailable(str(exc), in_ci=_IN_CI)
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def mlflow_pg_server(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """``mlflow server --workers 4 --app-name basic-auth`` with its tracking/registry store and
    its auth database on PostgreSQL; ``.admin`` is its admin account."""
    python = ensure_postgres_driver(ensure_mlflow())
    server = MlflowServer(
        tmp_path_factory.mktemp("mlflow-pg"),
        auth=True,
        python=python,
        workers=PG_WORKERS,
        backend_store_uri=postgres_cluster.create_database("mlflow"),
        auth_database_uri=postgres_cluster.create_database("mlflow_auth"),
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def mlflow_pg_demo(mlflow_pg_server: MlflowServer) -> SeededDemo:
    """The demo seeded by the admin into the PostgreSQL server, with one account per level
    (``accounts["READ"]``, ``["EDIT"]``, ``["MANAGE"]``) on both demo models."""
    prefix = unique_prefix()
    names = mlflow_seed.load(mlflow_pg_server, DEMO_SEED, prefix=prefix)
    accounts = {}
    for level in ("READ", "EDIT", "MANAGE"):
        account = mlflow_pg_server.create_user(f"{prefix}svc-{level.lower()}")
        for model in names.values():
            mlflow_pg_server.grant(account.username, model, level)
        accounts[level] = account
    return SeededDemo(mlflow_pg_server, names, prefix, accounts)


@pytest.fixture(params=["sqlite", ON_POSTGRES])
def mlflow_race_demo(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> SeededDemo:
    """The demo on each server that races are judged on: the plain SQLite server (one worker), and
    PostgreSQL with 4 workers (basic auth; this process logs in as the MANAGE account)."""
    if request.param == "sqlite":
        demo: SeededDemo = request.getfixturevalue("mlflow_demo")
        return demo
    demo = request.getfixturevalue("mlflow_pg_demo")
    account = demo.accounts["MANAGE"]
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", account.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", account.password)
    return demo


@pytest.fixture(params=["sqlite", ON_POSTGRES])
def mlflow_any_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> MlflowServer:
    """The plain SQLite server, and the PostgreSQL one with 4 workers (this process logs in as its admin)."""
    if request.param == "sqlite":
        plain: MlflowServer = request.getfixturevalue("mlflow_server")
        return plain
    server: MlflowServer = request.getfixturevalue("mlflow_pg_server")
    assert server.admin is not None
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", server.admin.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", server.admin.password)
    return server
