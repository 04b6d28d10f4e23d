"""Publishing on W&B: link a version into a Registry collection or a legacy portfolio.

``linkArtifact`` (what the SDK's ``Artifact.link()`` sends) makes the source artifact a member of
the destination collection; it is the same artifact, so metadata, metrics and the producing run
come with it. W&B answers a second link of the same artifact with the membership it has, and the
source version's ``artifactMemberships`` show every collection it is linked into: that is how a
published copy is found and reused. Moves no alias (the alias move is the ordinary guarded move).

Permissions: linking into a Registry collection needs a Registry role that may link (Member or
Admin); into a legacy portfolio, Member of the project's team.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aliasgate.errors import AuthError, NotFound, RegistryError
from aliasgate.registry import Published
from aliasgate.registry.wandb import documents as gql
from aliasgate.registry.wandb.client import OutcomeUnknown, messages
from aliasgate.registry.wandb.project import Project
from aliasgate.registry.wandb.shapes import coll_path


def _source(ps: Project, source: str, number: int) -> Mapping[str, Any]:
    c = ps.collection_name(source)
    data = ps.query(gql.PUBLISHED, {**ps.vars(c), "name": f"{c}:v{number}"}, model=source)
    node = ps.project_data(data, source).get("artifactCollectionMembership")
    if node is None or (node.get("artifact") or {}).get("state") != "COMMITTED":
        raise NotFound("no such version", model=source, version=number)
    art: Mapping[str, Any] = node["artifact"]
    return art


def _member_of(art: Mapping[str, Any], pd: Project, dest: str) -> int | None:
    here = pd.here(pd.collection_name(dest))
    for edge in (art.get("artifactMemberships") or {}).get("edges") or []:
        m = (edge or {}).get("node") or {}
        coll = m.get("artifactCollection")
        if coll and coll_path(coll) == here and m.get("versionIndex") is not None:
            return int(m["versionIndex"])
    return None


def published_copy(ps: Project, source: str, number: int, pd: Project, dest: str) -> Published | None:
    art = _source(ps, source, number)
    found = _member_of(art, pd, dest)
    return None if found is None else Published(found, reused=True, digest=art.get("digest"))


def publish(ps: Project, source: str, number: int, pd: Project, dest: str) -> Published:
    art = _source(ps, source, number)
    digest = art.get("digest")
    found = _member_of(art, pd, dest)
    if found is not None:
        return Published(found, reused=True, digest=digest)
    dc = pd.collection_name(dest)
    pd.ensure_bootstrap()
    variables = {
        "input": {
            "artifactID": art["id"],
            "artifactPortfolioName": dc,
            "entityName": pd.entity,
            "projectName": pd.project,
            "aliases": [],
        }
    }
    try:
        body = pd.client.post(gql.LINK_ARTIFACT, variables, mutation=True)
    except OutcomeUnknown:
        again = published_copy(ps, source, number, pd, dest)  # read before deciding, never resend blindly
        if again is None:
            raise
        return Published(again.version, reused=False, digest=digest)
    if body.get("errors"):
        err = pd.client.error(body["errors"], model=dest)
        if isinstance(err, AuthError):
            where = f"registry {pd.project}" if pd.registry else f"project {pd.where}"
            raise AuthError(
                f"W&B denied {pd.client.viewer_name} permission to link {source}:v{number} into {dest} "
                f"({messages(body['errors'])}); nothing was changed",
                model=dest,
                hint=f"linking needs a role in {where} that may link (Registry Member or Admin)",
            ) from None
        raise err
    result = (body.get("data") or {}).get("result") or {}
    if result.get("versionIndex") is None:
        raise RegistryError("W&B answered linkArtifact without a versionIndex", model=dest)
    return Published(int(result["versionIndex"]), reused=False, digest=digest)
