"""Load an aliasgate registry seed (``examples/demo-registry.yaml``) into the double the way
W&B users produce that content: a training run per version that used its lineage inputs,
logged the model artifact, and (for the W&B Registry) linked it into a registry collection.

Metrics go to the run's summary (``metrics_in="run"``, what ``wandb.log`` leaves behind) or
into the artifact's metadata (``metrics_in="metadata"``).
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Sequence
from typing import Any

from aliasgate.model import VersionId
from aliasgate.seed import ModelSeed

from .state import Artifact, Project, State


def _creator(state: State, name: str | None, team: str) -> str | None:
    if not name:
        return None
    try:
        state.account(name)
    except KeyError:
        state.add_account(name, "seed-" + _secrets.token_hex(20), teams={team: "member"})
    return name


def seed_project(
    state: State, models: Sequence[ModelSeed], project: Project, *, metrics_in: str = "run"
) -> dict[VersionId, Artifact]:
    """Each model becomes an artifact sequence of ``project`` with the seed's version numbers."""
    arts: dict[VersionId, Artifact] = {}
    for model in _in_dependency_order(models):
        seq_versions = sorted(model.versions, key=lambda v: v.number)
        for v in seq_versions:
            user = _creator(state, v.created_by, project.entity)
            metadata: dict[str, Any] = dict(v.metadata)
            summary: dict[str, Any] = {}
            if metrics_in == "metadata":
                metadata.update(v.metrics)
            else:
                summary.update(v.metrics)
            run = state.add_run(
                project,
                f"train-{model.name}-v{v.number}",
                summary=summary,
                inputs=[arts[ref] for ref in v.inputs],
                commit=str(v.metadata.get("git_commit")) if v.metadata.get("git_commit") else None,
                user=user,
                created_at=v.created_at,
            )
            arts[VersionId(model.name, v.number)] = state.log_artifact(
                project,
                model.name,
                metadata=metadata,
                run=run,
                created_at=v.created_at,
                version_index=v.number,
            )
        coll = state.find_collection(project, model.name)
        if coll is not None:
            coll.description = model.description
            for alias, number in model.aliases.items():
                membership = state.membership(coll, arts[VersionId(model.name, number)])
                assert membership is not None
                state._set_alias(coll, alias, membership)
    return arts


def seed_registry(
    state: State,
    models: Sequence[ModelSeed],
    source: Project,
    registry: Project,
    *,
    metrics_in: str = "run",
) -> dict[VersionId, Artifact]:
    """Log each version to ``source`` (a team project), then link it into the registry
    collection of the same name so the link index equals the seed's version number."""
    arts = seed_project(
        state, [ModelSeed(m.name, m.description, m.versions) for m in models], source, metrics_in=metrics_in
    )
    for model in models:
        for v in sorted(model.versions, key=lambda v: v.number):
            art = arts[VersionId(model.name, v.number)]
            coll = state.find_collection(registry, model.name)
            if coll is None:
                coll = state._new_collection(registry, model.name, "PORTFOLIO", art.type_name)
                coll.description = model.description
            coll.next_index = v.number
            admin = _registry_admin(state, registry)
            membership = state.link_artifact(
                admin,
                {
                    "artifactID": _gid(art),
                    "artifactPortfolioName": model.name,
                    "entityName": registry.entity,
                    "projectName": registry.name,
                },
            )
            membership.created_at = v.created_at
        coll = state.find_collection(registry, model.name)
        assert coll is not None
        for alias, number in model.aliases.items():
            art = arts[VersionId(model.name, number)]
            membership = state.membership(coll, art)
            assert membership is not None
            state._set_alias(coll, alias, membership)
    return arts


def _gid(art: Artifact) -> str:
    from .state import gql_id

    return gql_id("Artifact", art.id)


def _registry_admin(state: State, registry: Project) -> Any:
    for account in state.accounts.values():
        if state.role(account, registry) == "admin":
            return account
    raise LookupError(f"seeding {registry.name} needs an account with the admin role")


def _in_dependency_order(models: Sequence[ModelSeed]) -> list[ModelSeed]:
    """Models whose versions are lineage inputs of others come first."""
    by_name = {m.name: m for m in models}
    done: list[ModelSeed] = []
    seen: set[str] = set()

    def visit(m: ModelSeed) -> None:
        if m.name in seen:
            return
        seen.add(m.name)
        for v in m.versions:
            for ref in v.inputs:
                if ref.model in by_name:
                    visit(by_name[ref.model])
        done.append(m)

    for m in models:
        visit(m)
    return done
