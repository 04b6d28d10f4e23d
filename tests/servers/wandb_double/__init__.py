"""An offline W&B double: real GraphQL (graphql-core) over the state rules of the W&B service.

``demo()`` builds the world most tests use: organization ``acme`` (org entity ``acme-org``),
team ``ml`` with project ``ml/demo``, the registry ``wandb-registry-model`` (``production``
protected), a service account ``ci-bot`` (registry Admin) and a user ``alice`` (registry
Member), each with its own API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .server import Entry, Fault, Journal, WandbDouble
from .state import Clock, GraphQLFault, PermissionDenied, Project, State

__all__ = [
    "Clock",
    "Demo",
    "Entry",
    "Fault",
    "GraphQLFault",
    "Journal",
    "PermissionDenied",
    "Project",
    "State",
    "WandbDouble",
    "demo",
]

CI_KEY = "ci" + "0" * 38  # 40 characters, the shape of a W&B key; test-only values
ALICE_KEY = "al" + "1" * 38
VIEWER_KEY = "vw" + "2" * 38


@dataclass
class Demo:
    state: State
    project: Project  # ml/demo
    registry: Project  # acme-org/wandb-registry-model
    source: Project  # ml/training: where registry versions are logged before linking


def demo(state: State | None = None, *, seed: str | Path | None = None, metrics_in: str = "run") -> Demo:
    """The standard world; with ``seed`` the models go into ``ml/demo`` and the registry."""
    state = state or State()
    state.add_org("acme", "acme-org")
    state.add_team("ml", org="acme")
    state.add_account("ci-bot", CI_KEY, teams={"ml": "member"}, service=True, org="acme", org_role="member")
    state.add_account(
        "alice", ALICE_KEY, teams={"ml": "member"}, org="acme", org_role="member", default_entity="ml"
    )
    state.add_account("vera", VIEWER_KEY, teams={"ml": "viewer"}, org="acme", org_role="member")
    project = state.add_project("ml", "demo")
    source = state.add_project("ml", "training")
    registry = state.add_registry(
        "acme",
        "model",
        roles={"ci-bot": "admin", "alice": "member", "vera": "viewer"},
        protected=["production"],
    )
    if seed is not None:
        from aliasgate import seed as seed_file

        from .seed import seed_project, seed_registry

        models = seed_file.load(seed, now=state.clock.now())
        seed_project(state, models, project, metrics_in=metrics_in)
        seed_registry(state, models, source, registry, metrics_in=metrics_in)
    return Demo(state, project, registry, source)
