"""Deleting a version: delete (artifact sequence) or unlink (registry portfolio), never one that
holds an alias, its audit records moved first to the newest other version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aliasgate import audit
from aliasgate.errors import AuthError, Conflict, NotFound, OutcomeUnknown, RegistryError, still_held
from aliasgate.model import LATEST
from aliasgate.registry.wandb import documents as gql
from aliasgate.registry.wandb.audit_store import (
    RecordFailed,
    find_carrier,
    has_room,
    refuse_read_only,
    relocate,
    store,
)
from aliasgate.registry.wandb.project import Project
from aliasgate.registry.wandb.shapes import Target


def delete_version(p: Project, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
    """Its audit records move first to the newest other version, which also receives the
    delete record; aliases are re-checked in the read right before the delete, and for a
    source artifact ``deleteAliases: false`` makes W&B itself refuse one that arrived since."""
    with p.writing(p.collection_name(model)):
        return _delete_version(p, model, number, record)


def _delete_version(p: Project, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
    c = p.collection_name(model)
    coll, (target, newest) = p.read_targets(model, c, [f"{c}:v{number}", f"{c}:{LATEST}"])
    if target is None:
        raise NotFound("no such version", model=model, version=number)
    unlink = coll.typename == "ArtifactPortfolio"
    _refuse_if_held(model, number, target, unlink=unlink)
    usable = newest is not None and newest.number != number and has_room(newest.metadata)
    carrier = newest if usable and newest is not None else find_carrier(p, model, c, exclude=number)
    # the records could not be kept: refuse before deleting
    refuse_read_only(p, model, carrier, f"would go; v{number} was not deleted", version=number)
    if relocate(p, model, c, target, carrier):  # moved first, so deleting it loses none
        coll, (target,) = p.read_targets(model, c, [f"{c}:v{number}"])  # re-check right before
        if target is None:
            raise NotFound("no such version", model=model, version=number)
        _refuse_if_held(model, number, target, unlink=unlink)
    sealed = audit.seal({**record, "model": c}, coll.head)
    if unlink:
        document = gql.UNLINK_ARTIFACT
        variables: dict[str, Any] = {
            "input": {"artifactID": target.artifact_id, "artifactPortfolioID": coll.id}
        }
    else:
        document = gql.DELETE_ARTIFACT
        # deleteAliases=false lets W&B itself refuse if an alias arrived meanwhile; only the
        # automatic `latest` (checked just above) needs it true.
        variables = {"input": {"artifactID": target.artifact_id, "deleteAliases": LATEST in target.aliases}}
    try:
        body = p.client.post(document, variables, mutation=True)
    except OutcomeUnknown as exc:
        _, (still,) = p.read_targets(model, c, [f"{c}:v{number}"])
        if still is not None:
            raise RegistryError(f"{exc}; v{number} was not deleted", model=model, version=number) from None
    else:
        if body.get("errors"):
            err = p.client.error(body["errors"], model=model, version=number)
            if "alias" in err.message.lower() and not isinstance(err, AuthError):
                raise Conflict(f"{model}:v{number} gained an alias; not deleted ({err.message})", model=model)
            raise err
    p.versions.pop((c, number), None)
    p.versions.pop((c, carrier.number), None)
    try:
        store(p, model, c, coll, carrier, sealed)
    except RecordFailed as exc:
        raise RegistryError(
            f"v{number} was deleted but its audit record could not be stored: {exc}", model=model
        ) from None
    return sealed


def _refuse_if_held(model: str, number: int, target: Target, *, unlink: bool) -> None:
    held = sorted(a for a in target.aliases if a != LATEST)
    if held:
        raise still_held(model, number, held)
    if unlink:
        return  # unlinking leaves the source artifact (and its other links) alone
    if target.other_aliases:
        raise Conflict(
            f"{model}:v{number} holds {', '.join(sorted(target.other_aliases))}; not deleted",
            model=model,
            expected=None,
            actual=number,
        )
    if target.other_collections:
        raise RegistryError(
            f"v{number} is also a version of {', '.join(sorted(target.other_collections))}; deleting the "
            "source artifact would remove it there too, so unlink it there first",
            model=model,
            version=number,
        )
