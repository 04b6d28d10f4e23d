"""Approvals and soak on W&B (the double): the shared scenario, each role its own API key.

Records live in version metadata and the chain head in the collection description; a viewer
(``mallory``) cannot write either, so the double refuses her forged approval as W&B would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aliasgate import api
from tests import approvals_scenario as scenario
from tests.approvals_scenario import Backend
from tests.servers.wandb_double import VIEWER_KEY
from tests.wandb_fixtures import WandbWorld

PROJECT = "wandb://ml/demo"


def _keys(world: WandbWorld) -> dict[str, str]:
    keys = {}
    for i, role in enumerate(("alice", "bob", "carol", "dave", "erin")):
        key = f"k{i}" + str(i) * 38
        world.state.add_account(f"{role}-wb", key, teams={"ml": "member"}, org="acme", org_role="member")
        keys[role] = key
    keys["mallory"] = VIEWER_KEY  # vera: a viewer of the team
    return keys


@pytest.fixture
def wandb_backend(wandb_world: WandbWorld, tmp_path: Path) -> Backend:
    keys = _keys(wandb_world)

    @contextmanager
    def connect(role: str) -> Iterator[api.Session]:
        with scenario.env(wandb_world.env(keys[role])):
            session = api.connect(PROJECT)
            try:
                yield session
            finally:
                session.close()

    names = {r: f"{r}-wb" for r in scenario.ROLES}
    names["mallory"] = "vera"
    return Backend(PROJECT, "bert-classifier", names, connect, tmp_path)


def test_four_eyes_on_wandb(wandb_backend: Backend) -> None:
    scenario.four_eyes(wandb_backend)


def test_soak_on_wandb(wandb_backend: Backend) -> None:
    scenario.soak(wandb_backend)
