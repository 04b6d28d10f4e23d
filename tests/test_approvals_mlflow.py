"""Approvals and soak on a real basic-auth ``mlflow server``: one account per role.

The approvers, the author and the applier hold EDIT on the model (EDIT is what writing the
chain head, the model's own tag, needs); ``mallory`` holds READ, so MLflow refuses her forged
approval (403) and nothing she wrote counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aliasgate import api
from tests import approvals_scenario as scenario
from tests.approvals_scenario import Backend
from tests.mlflow_fixtures import SeededDemo


@pytest.fixture
def mlflow_backend(mlflow_auth_demo: SeededDemo, tmp_path: Path) -> Backend:
    server = mlflow_auth_demo.server
    accounts = {}
    for role in scenario.ROLES:
        account = server.create_user(f"{mlflow_auth_demo.prefix}{role}")
        server.grant(account.username, mlflow_auth_demo.classifier, "READ" if role == "mallory" else "EDIT")
        accounts[role] = account

    @contextmanager
    def connect(role: str) -> Iterator[api.Session]:
        with scenario.env(accounts[role].env()):
            session = api.connect(mlflow_auth_demo.uri)
            try:
                yield session
            finally:
                session.close()

    names = {r: a.username for r, a in accounts.items()}
    return Backend(mlflow_auth_demo.uri, mlflow_auth_demo.classifier, names, connect, tmp_path)


def test_four_eyes_on_mlflow(mlflow_backend: Backend) -> None:
    scenario.four_eyes(mlflow_backend)


def test_soak_on_mlflow(mlflow_backend: Backend) -> None:
    scenario.soak(mlflow_backend)
