"""Approvals and soak on the embedded registry: the shared scenario, the CLI, the policy keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aliasgate import api
from tests import approvals_scenario as scenario
from tests.approvals_scenario import Backend


def _local(demo: Any) -> Backend:
    @contextmanager
    def connect(role: str) -> Iterator[api.Session]:
        with scenario.env({"PROMOTE_PRINCIPAL": role}):
            session = api.connect(demo.uri)
            try:
                yield session
            finally:
                session.close()

    names = {r: r for r in scenario.ROLES}
    return Backend(demo.uri, "bert-classifier", names, connect, demo.path, refuses_mallory=False)


def test_four_eyes_on_the_embedded_registry(demo: Any) -> None:
    scenario.four_eyes(_local(demo))


def test_soak_on_the_embedded_registry(demo: Any) -> None:
    scenario.soak(_local(demo))
