"""GraphQL resolvers: the SDL in ``schema.graphql`` executed by graphql-core over ``State``.

Reads hide what the caller may not see (a project without a role resolves to
null, as on W&B); mutations call the rule methods of ``State`` and turn their
refusals into GraphQL errors on the field.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import graphql

from .state import (
    Account,
    Alias,
    Artifact,
    Collection,
    Entity,
    GraphQLFault,
    Membership,
    Project,
    Run,
    State,
    gql_id,
    parse_id,
    wb_time,
)

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")


@dataclass
class Context:
    state: State
    account: Account | None


@dataclass(frozen=True)
class TypeRef:
    project: Project
    name: str


@dataclass(frozen=True)
class AliasView:
    alias: Alias
    collection: Collection


Resolver = Callable[..., Any]
RESOLVERS: dict[tuple[str, str], Resolver] = {}


def resolves(type_name: str, field_name: str) -> Callable[[Resolver], Resolver]:
    def register(fn: Resolver) -> Resolver:
        RESOLVERS[(type_name, field_name)] = fn
        return fn

    return register


def _state(info: graphql.GraphQLResolveInfo) -> State:
    return info.context.state  # type: ignore[no-any-return]


def _account(info: graphql.GraphQLResolveInfo) -> Account | None:
    return info.context.account  # type: ignore[no-any-return]


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def default_resolver(source: Any, info: graphql.GraphQLResolveInfo, **args: Any) -> Any:
    fn = RESOLVERS.get((info.parent_type.name, info.field_name))
    if fn is not None:
        return fn(source, info, **args)
    if isinstance(source, dict):
        return source.get(info.field_name)
    return getattr(source, _snake(info.field_name), None)


def paginate(items: Sequence[Any], after: str | None, first: int | None, **extra: Any) -> dict[str, Any]:
    """Relay paging with opaque cursors; ``extra`` adds edge fields computed per item."""
    start = 0
    if after:
        try:
            start = int(base64.b64decode(after).decode().split(":", 1)[1]) + 1
        except (ValueError, IndexError, UnicodeDecodeError):
            raise GraphQLFault(f"invalid cursor {after!r}") from None
    size = 50 if first is None else max(0, min(first, 10_000))
    page = items[start : start + size]
    edges = []
    for offset, item in enumerate(page, start):
        edge = {"cursor": base64.b64encode(f"cursor:{offset}".encode()).decode(), "node": item}
        for key, fn in extra.items():
            edge[key] = fn(item)
        edges.append(edge)
    has_next = start + len(page) < len(items)
    return {
        "totalCount": len(items),
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": has_next,
            "hasPreviousPage": start > 0,
        },
        "edges": edges,
    }


def _visible_project(info: graphql.GraphQLResolveInfo, project: Project | None) -> Project | None:
    if project is None or not _state(info).can_read(_account(info), project):
        return None
    return project


# -- Query ------------------------------------------------------------------------------------------


@resolves("Query", "viewer")
def _viewer(_: Any, info: graphql.GraphQLResolveInfo) -> Account | None:
    return _account(info)


@resolves("Query", "serverInfo")
def _server_info(_: Any, info: graphql.GraphQLResolveInfo) -> dict[str, Any]:
    return {"features": [{"name": n, "isEnabled": True} for n in _state(info).features]}


@resolves("Query", "entity")
def _entity(_: Any, info: graphql.GraphQLResolveInfo, name: str | None = None) -> Entity | None:
    return _state(info).find_entity(name)


@resolves("Query", "organization")
def _organization(_: Any, info: graphql.GraphQLResolveInfo, name: str | None = None) -> Any:
    state = _state(info)
    org = state.orgs.get(name or "")
    if org is None:  # W&B also resolves an organization by its org entity name
        org = next((o for o in state.orgs.values() if o.entity_name == name), None)
    return org


@resolves("Query", "project")
def _project(
    _: Any, info: graphql.GraphQLResolveInfo, name: str | None = None, entityName: str | None = None
) -> Project | None:
    return _visible_project(info, _state(info).find_project(entityName, name))


@resolves("Query", "artifact")
def _artifact(_: Any, info: graphql.GraphQLResolveInfo, id: str) -> Artifact | None:
    state = _state(info)
    art = state.artifacts.get(parse_id(id, "Artifact"))
    if art is None or _visible_project(info, state.project_of(state.sequence_of(art))) is None:
        return None
    return art


@resolves("Query", "artifactCollection")
def _artifact_collection(_: Any, info: graphql.GraphQLResolveInfo, id: str) -> Collection | None:
    state = _state(info)
    coll = state.collection_by_id(parse_id(id, "ArtifactCollection"))
    if coll is None or _visible_project(info, state.project_of(coll)) is None:
        return None
    return coll


# -- identity ---------------------------------------------------------------------------------------


@resolves("User", "id")
def _user_id(user: Account, _: Any) -> str:
    return gql_id("User", user.id)


@resolves("User", "entity")
def _user_entity(user: Account, _: Any) -> str:
    return user.default_entity


@resolves("User", "flags")
def _user_flags(user: Account, _: Any) -> str:
    return "{}"


@resolves("User", "admin")
def _user_admin(user: Account, _: Any) -> bool:
    return False


@resolves("User", "apiKeys")
def _user_api_keys(user: Account, info: graphql.GraphQLResolveInfo) -> dict[str, Any]:
    mine = _account(info) is not None and _account(info).id == user.id  # type: ignore[union-attr]
    keys = user.api_keys if mine else []
    return {
        "edges": [
            {"node": {"id": gql_id("ApiKey", i), "name": key[:6] + "…", "description": None}}
            for i, key in enumerate(keys, 1)
        ]
    }


@resolves("User", "teams")
def _user_teams(user: Account, info: graphql.GraphQLResolveInfo) -> dict[str, Any]:
    state = _state(info)
    teams = [e for e in state.entities.values() if e.is_team and user.username in e.members]
    return {"edges": [{"node": e} for e in teams]}


@resolves("User", "organizations")
def _user_orgs(user: Account, info: graphql.GraphQLResolveInfo) -> list[Any]:
    state = _state(info)
    return [state.orgs[name] for name in user.orgs if name in state.orgs]


@resolves("Entity", "id")
def _entity_id(entity: Entity, _: Any) -> str:
    return gql_id("Entity", entity.id)


@resolves("Entity", "entityType")
def _entity_type(entity: Entity, info: graphql.GraphQLResolveInfo) -> str:
    if entity.org is not None and _state(info).orgs[entity.org].entity_name == entity.name:
        return "ORGANIZATION"
    return "TEAM" if entity.is_team else "USER"


@resolves("Entity", "organization")
def _entity_org(entity: Entity, info: graphql.GraphQLResolveInfo) -> Any:
    return _state(info).orgs.get(entity.org or "")


@resolves("Entity", "user")
def _entity_user(entity: Entity, info: graphql.GraphQLResolveInfo) -> Account | None:
    return _state(info).account(entity.owner) if entity.owner else None


@resolves("Entity", "members")
def _entity_members(entity: Entity, info: graphql.GraphQLResolveInfo) -> list[dict[str, Any]]:
    state = _state(info)
    out = []
    for username, role in sorted(entity.members.items()):
        acct = state.account(username)
        out.append(
            {
                "id": gql_id("User", acct.id),
                "role": role,
                "pending": False,
                "email": acct.email,
                "username": acct.username,
                "name": acct.name,
                "accountType": acct.account_type,
            }
        )
    return out


@resolves("Organization", "id")
def _org_id(org: Any, _: Any) -> str:
    return gql_id("Organization", org.id)


@resolves("Organization", "orgEntity")
def _org_entity(org: Any, info: graphql.GraphQLResolveInfo) -> Entity | None:
    return _state(info).entities.get(org.entity_name)


# -- projects and runs --------------------------------------------------------------------------------


@resolves("Project", "id")
def _project_id(project: Project, _: Any) -> str:
    return gql_id("Project", project.id)


@resolves("Project", "internalId")
def _project_internal_id(project: Project, _: Any) -> str:
    return str(project.id)


@resolves("Project", "entityName")
def _project_entity_name(project: Project, _: Any) -> str:
    return project.entity


@resolves("Project", "entity")
def _project_entity(project: Project, info: graphql.GraphQLResolveInfo) -> Entity:
    return _state(info).entities[project.entity]


@resolves("Project", "readOnly")
def _project_read_only(project: Project, info: graphql.GraphQLResolveInfo) -> bool:
    role = _state(info).role(_account(info), project)
    return role not in ("member", "admin")


@resolves("Project", "createdAt")
def _project_created(project: Project, _: Any) -> str:
    return wb_time(project.created_at)


@resolves("Project", "run")
def _project_run(project: Project, info: graphql.GraphQLResolveInfo, name: str) -> Run | None:
    return _state(info).run_by_name(project, name)


@resolves("Project", "artifactType")
def _project_artifact_type(project: Project, info: graphql.GraphQLResolveInfo, name: str) -> TypeRef | None:
    types = {c.type_name for c in _state(info).iter_collections(project)}
    return TypeRef(project, name) if name in types else None


@resolves("Project", "artifactTypes")
def _project_artifact_types(
    project: Project, info: graphql.GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    types = sorted({c.type_name for c in _state(info).iter_collections(project)})
    return paginate([TypeRef(project, t) for t in types], after, first)


@resolves("Project", "artifactCollections")
def _project_collections(
    project: Project,
    info: graphql.GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    return paginate(list(_state(info).iter_collections(project)), after, first)


@resolves("Project", "artifactCollection")
def _project_collection(project: Project, info: graphql.GraphQLResolveInfo, name: str) -> Collection | None:
    return _state(info).find_collection(project, name)


@resolves("Project", "artifactCollectionMembership")
def _project_membership(project: Project, info: graphql.GraphQLResolveInfo, name: str) -> Membership | None:
    return _state(info).membership_by_name(project, name)


@resolves("Run", "id")
def _run_id(run: Run, info: graphql.GraphQLResolveInfo) -> str:
    project = _state(info).projects[run.project_id]
    return gql_id("Run", f"v1:{run.name}:{project.name}:{project.entity}")


@resolves("Run", "projectId")
def _run_project_id(run: Run, _: Any) -> int:
    return run.project_id


@resolves("Run", "project")
def _run_project(run: Run, info: graphql.GraphQLResolveInfo) -> Project | None:
    return _visible_project(info, _state(info).projects[run.project_id])


@resolves("Run", "tags")
def _run_tags(run: Run, _: Any) -> list[str]:
    return []


@resolves("Run", "createdAt")
def _run_created(run: Run, _: Any) -> str:
    return wb_time(run.created_at)


@resolves("Run", "heartbeatAt")
def _run_heartbeat(run: Run, _: Any) -> str:
    return wb_time(run.created_at)


@resolves("Run", "systemMetrics")
def _run_system_metrics(run: Run, _: Any) -> str:
    return "{}"


@resolves("Run", "historyLineCount")
def _run_history_lines(run: Run, _: Any) -> int:
    return 0


@resolves("Run", "historyKeys")
def _run_history_keys(run: Run, _: Any) -> dict[str, Any]:
    return {"keys": {}, "lastStep": 0}


@resolves("Run", "readOnly")
def _run_read_only(run: Run, info: graphql.GraphQLResolveInfo) -> bool:
    return bool(_project_read_only(_state(info).projects[run.project_id], info))


@resolves("Run", "user")
def _run_user(run: Run, info: graphql.GraphQLResolveInfo) -> Account | None:
    return _state(info).account(run.user) if run.user else None


@resolves("Run", "inputArtifacts")
def _run_inputs(
    run: Run, info: graphql.GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    state = _state(info)
    return paginate([state.artifacts[i] for i in run.inputs], after, first)


@resolves("Run", "outputArtifacts")
def _run_outputs(
    run: Run, info: graphql.GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    state = _state(info)
    outputs = [a for a in state.artifacts.values() if a.created_by_run == run.id]
    return paginate(outputs, after, first)


# -- artifact types and collections --------------------------------------------------------------------


@resolves("ArtifactType", "id")
def _type_id(ref: TypeRef, _: Any) -> str:
    return gql_id("ArtifactType", f"{ref.project.id}:{ref.name}")


@resolves("ArtifactType", "createdAt")
def _type_created(ref: TypeRef, _: Any) -> str:
    return wb_time(ref.project.created_at)


@resolves("ArtifactType", "artifactCollection")
def _type_collection(ref: TypeRef, info: graphql.GraphQLResolveInfo, name: str) -> Collection | None:
    coll = _state(info).find_collection(ref.project, name)
    return coll if coll is not None and coll.type_name == ref.name else None


@resolves("ArtifactType", "artifactCollections")
def _type_collections(
    ref: TypeRef,
    info: graphql.GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    colls = [c for c in _state(info).iter_collections(ref.project) if c.type_name == ref.name]
    return paginate(colls, after, first)


def _coll(type_name: str, field_name: str) -> Callable[[Resolver], Resolver]:
    """Register one resolver for the interface field on both implementations."""

    def register(fn: Resolver) -> Resolver:
        for t in ("ArtifactSequence", "ArtifactPortfolio"):
            RESOLVERS[(t, field_name)] = fn
        return fn

    return register


@_coll("*", "id")
def _coll_id(coll: Collection, _: Any) -> str:
    return gql_id("ArtifactCollection", coll.id)


@_coll("*", "createdAt")
def _coll_created(coll: Collection, _: Any) -> str:
    return wb_time(coll.created_at)


@_coll("*", "updatedAt")
def _coll_updated(coll: Collection, _: Any) -> str:
    return wb_time(coll.updated_at)


@_coll("*", "project")
def _coll_project(coll: Collection, info: graphql.GraphQLResolveInfo) -> Project | None:
    return _visible_project(info, _state(info).project_of(coll))


@_coll("*", "defaultArtifactType")
def _coll_type(coll: Collection, info: graphql.GraphQLResolveInfo) -> TypeRef:
    return TypeRef(_state(info).project_of(coll), coll.type_name)


@_coll("*", "tags")
def _coll_tags(coll: Collection, _: Any) -> dict[str, Any]:
    return {"edges": []}


@_coll("*", "aliases")
def _coll_aliases(
    coll: Collection, info: graphql.GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    views = [AliasView(a, coll) for a in sorted(coll.aliases.values(), key=lambda a: a.alias)]
    return paginate(views, after, first)


@_coll("*", "artifactMembership")
def _coll_membership(coll: Collection, info: graphql.GraphQLResolveInfo, aliasName: str) -> Membership | None:
    state = _state(info)
    return state.membership_by_name(state.project_of(coll), f"{coll.name}:{aliasName}")


@_coll("*", "artifacts")
def _coll_artifacts(
    coll: Collection,
    info: graphql.GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    order: str | None = None,
    filters: str | None = None,
) -> dict[str, Any]:
    state = _state(info)
    members = state.memberships_of(coll, live=False)
    wanted_state = None
    if filters:
        try:
            parsed = json.loads(filters)
        except ValueError:
            raise GraphQLFault(f"invalid filters {filters!r}") from None
        wanted_state = parsed.get("state") if isinstance(parsed, dict) else None
    if wanted_state is not None:
        members = [m for m in members if state.artifacts[m.artifact_id].state == wanted_state]
    else:  # deleted versions never show in listings
        members = [m for m in members if state.artifacts[m.artifact_id].state != "DELETED"]
    if order and order.lstrip("+-") == "createdAt":
        members.sort(key=lambda m: (m.created_at, m.version_index), reverse=order.startswith("-"))
    else:
        members.sort(key=lambda m: m.version_index, reverse=True)
    index = {m.artifact_id: m.version_index for m in members}
    arts = [state.artifacts[m.artifact_id] for m in members]
    return paginate(arts, after, first, version=lambda a: f"v{index[a.id]}")


@_coll("*", "latestArtifact")
def _coll_latest(coll: Collection, info: graphql.GraphQLResolveInfo) -> Artifact | None:
    held = coll.aliases.get("latest")
    return _state(info).artifacts[_state(info).memberships[held.membership_id].artifact_id] if held else None


# -- artifacts, aliases, memberships ------------------------------------------------------------------


@resolves("Artifact", "id")
def _art_id(art: Artifact, _: Any) -> str:
    return gql_id("Artifact", art.id)


@resolves("Artifact", "artifactSequence")
def _art_sequence(art: Artifact, info: graphql.GraphQLResolveInfo) -> Collection:
    return _state(info).sequence_of(art)


@resolves("Artifact", "artifactType")
def _art_type(art: Artifact, info: graphql.GraphQLResolveInfo) -> TypeRef:
    state = _state(info)
    return TypeRef(state.project_of(state.sequence_of(art)), art.type_name)


@resolves("Artifact", "ttlDurationSeconds")
def _art_ttl(art: Artifact, info: graphql.GraphQLResolveInfo) -> int:
    return _state(info).ttl_seconds(art)


@resolves("Artifact", "ttlIsInherited")
def _art_ttl_inherited(art: Artifact, _: Any) -> bool:
    return art.ttl_inherited


@resolves("Artifact", "tags")
def _art_tags(art: Artifact, _: Any) -> list[dict[str, Any]]:
    return [
        {"id": gql_id("Tag", t), "name": t, "tagCategoryName": None, "attributes": None} for t in art.tags
    ]


@resolves("Artifact", "historyStep")
def _art_history_step(art: Artifact, _: Any) -> None:
    return None


@resolves("Artifact", "digestAlgorithm")
def _art_digest_algorithm(art: Artifact, _: Any) -> str:
    return "MANIFEST_MD5"


@resolves("Artifact", "createdAt")
def _art_created(art: Artifact, _: Any) -> str:
    return wb_time(art.created_at)


@resolves("Artifact", "updatedAt")
def _art_updated(art: Artifact, _: Any) -> str:
    return wb_time(art.updated_at)


@resolves("Artifact", "aliases")
def _art_aliases(art: Artifact, info: graphql.GraphQLResolveInfo) -> list[AliasView]:
    state = _state(info)
    out = []
    for membership in state.memberships_of_artifact(art):
        coll = state.collections[membership.collection_id]
        out.extend(AliasView(a, coll) for a in state.aliases_of(membership))
    return out


@resolves("Artifact", "createdBy")
def _art_created_by(art: Artifact, info: graphql.GraphQLResolveInfo) -> Any:
    state = _state(info)
    if art.created_by_run is not None:
        return state.runs[art.created_by_run]
    if art.created_by_user is not None:
        return state.account(art.created_by_user)
    return None


@resolves("Artifact", "artifactMemberships")
def _art_memberships(
    art: Artifact, info: graphql.GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    return paginate(_state(info).memberships_of_artifact(art), after, first)


@resolves("ArtifactAlias", "id")
def _alias_id(view: AliasView, _: Any) -> str:
    return gql_id("ArtifactAlias", view.alias.id)


@resolves("ArtifactAlias", "alias")
def _alias_name(view: AliasView, _: Any) -> str:
    return view.alias.alias


@resolves("ArtifactAlias", "artifactCollection")
def _alias_collection(view: AliasView, _: Any) -> Collection:
    return view.collection


@resolves("ArtifactCollectionMembership", "id")
def _membership_id(m: Membership, _: Any) -> str:
    return gql_id("ArtifactCollectionMembership", m.id)


@resolves("ArtifactCollectionMembership", "createdAt")
def _membership_created(m: Membership, _: Any) -> str:
    return wb_time(m.created_at)


@resolves("ArtifactCollectionMembership", "aliases")
def _membership_aliases(m: Membership, info: graphql.GraphQLResolveInfo) -> list[AliasView]:
    state = _state(info)
    coll = state.collections[m.collection_id]
    return [AliasView(a, coll) for a in state.aliases_of(m)]


@resolves("ArtifactCollectionMembership", "artifactCollection")
def _membership_collection(m: Membership, info: graphql.GraphQLResolveInfo) -> Collection:
    return _state(info).collections[m.collection_id]


@resolves("ArtifactCollectionMembership", "artifact")
def _membership_artifact(m: Membership, info: graphql.GraphQLResolveInfo) -> Artifact:
    return _state(info).artifacts[m.artifact_id]


# -- mutations --------------------------------------------------------------------------------------------


@resolves("Mutation", "addAliases")
def _add_aliases(_: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    _state(info).add_aliases(_account(info), parse_id(input["artifactID"], "Artifact"), input["aliases"])
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@resolves("Mutation", "deleteAliases")
def _delete_aliases(_: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    _state(info).delete_aliases(_account(info), parse_id(input["artifactID"], "Artifact"), input["aliases"])
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@resolves("Mutation", "updateArtifact")
def _update_artifact(_: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    art = _state(info).update_artifact(_account(info), parse_id(input["artifactID"], "Artifact"), input)
    return {"artifact": art, "clientMutationId": input.get("clientMutationId")}


@resolves("Mutation", "deleteArtifact")
def _delete_artifact(_: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    art = _state(info).delete_artifact(
        _account(info), parse_id(input["artifactID"], "Artifact"), bool(input.get("deleteAliases"))
    )
    return {"artifact": art, "clientMutationId": input.get("clientMutationId")}


@resolves("Mutation", "linkArtifact")
def _link_artifact(_: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    membership = _state(info).link_artifact(_account(info), input)
    return {
        "versionIndex": membership.version_index,
        "artifactMembership": membership,
        "clientMutationId": input.get("clientMutationId"),
    }


@resolves("Mutation", "unlinkArtifact")
def _unlink_artifact(_: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    _state(info).unlink_artifact(
        _account(info),
        parse_id(input["artifactID"], "Artifact"),
        parse_id(input["artifactPortfolioID"], "ArtifactCollection"),
    )
    return {
        "artifactID": input["artifactID"],
        "success": True,
        "clientMutationId": input.get("clientMutationId"),
    }


def _update_collection(kind: str, id_field: str) -> Resolver:
    def resolve(_: Any, info: graphql.GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        state = _state(info)
        coll = state.collection_by_id(parse_id(input[id_field], "ArtifactCollection"))
        if coll is None or coll.kind != kind or not state.can_read(_account(info), state.project_of(coll)):
            raise GraphQLFault(f"artifact {kind.lower()} not found")
        state.update_collection(_account(info), coll, input)
        return {"artifactCollection": coll, "clientMutationId": input.get("clientMutationId")}

    return resolve


RESOLVERS[("Mutation", "updateArtifactSequence")] = _update_collection("SEQUENCE", "artifactSequenceID")
RESOLVERS[("Mutation", "updateArtifactPortfolio")] = _update_collection("PORTFOLIO", "artifactPortfolioID")


# -- schema ----------------------------------------------------------------------------------------------


def _serialize_json(value: Any) -> Any:
    return value


@cache
def schema() -> graphql.GraphQLSchema:
    built = graphql.build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    collection = built.type_map["ArtifactCollection"]
    assert isinstance(collection, graphql.GraphQLInterfaceType)
    collection.resolve_type = lambda obj, *_: (
        "ArtifactPortfolio" if obj.kind == "PORTFOLIO" else "ArtifactSequence"
    )
    creator = built.type_map["ArtifactCreator"]
    assert isinstance(creator, graphql.GraphQLUnionType)
    creator.resolve_type = lambda obj, *_: "Run" if isinstance(obj, Run) else "User"
    return built


def execute(
    state: State,
    account: Account | None,
    document: graphql.DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> graphql.ExecutionResult:
    return graphql.execute(
        schema(),
        document,
        variable_values=variables,
        operation_name=operation_name,
        context_value=Context(state, account),
        field_resolver=default_resolver,
        middleware=[_answer_null] if state.nulls else None,
    )  # type: ignore[return-value]


def _answer_null(resolve: Any, parent: Any, info: graphql.GraphQLResolveInfo, **args: Any) -> Any:
    """``State.nulls``: answer null for a field the SDK types as nullable (``Type.field``; an
    interface field counts for its implementations)."""
    parent_type = info.parent_type
    names = {parent_type.name, *(i.name for i in getattr(parent_type, "interfaces", ()))}
    if any(f"{n}.{info.field_name}" in _state(info).nulls for n in names):
        return None
    return resolve(parent, info, **args)
