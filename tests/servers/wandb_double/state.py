"""State and rules of the W&B double (reference wandb.md §4, §5.2, §8.3).

Plain Python objects and the rules the real service applies to them: aliases
unique per collection and reassigned by ``addAliases``, an automatic
``latest``, version indexes never reused, protected aliases only registry
Admins may touch, TTL values and the team TTL policy, delete and unlink rules.
The GraphQL resolvers (``resolvers.py``) and the test hooks both go through
these methods, so a "rival writer" in a test obeys the same rules as a client.

Everything is guarded by one lock held for a whole request: a mutation is
atomic, as a database transaction on the real server is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

ROLE_RANK = {"restricted_viewer": 0, "viewer": 1, "member": 2, "admin": 3}
AUTO_TYPES = ("run_table", "code", "job", "wandb-history")
TTL_INHERIT = -1
TTL_DISABLED = -2
REGISTRY_PREFIX = "wandb-registry-"
SDK_MAX_METADATA_KEYS = 100  # wandb 0.31.0 wandb/sdk/artifacts/_validators.py MAX_ARTIFACT_METADATA_KEYS
DEFAULT_FEATURES = (
    "PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP",
    "ARTIFACT_TAGS",
    "ARTIFACT_MEMBERSHIP_IN_LINK_ARTIFACT_RESPONSE",
)


class GraphQLFault(Exception):
    """A rule refused the operation: becomes a GraphQL error on the field."""


class PermissionDenied(GraphQLFault):
    pass


def gql_id(kind: str, number: int | str) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def parse_id(value: str, kind: str) -> int:
    try:
        k, _, n = base64.b64decode(value.encode(), validate=True).decode().partition(":")
        if k == kind:
            return int(n)
    except (ValueError, UnicodeDecodeError):
        pass
    raise GraphQLFault(f"invalid {kind} id {value!r}")


def wb_time(dt: datetime) -> str:
    """W&B's DateTime: UTC, seconds, no offset."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class Clock:
    """The double's notion of now: fixed unless a test moves it (TTL expiry, ages)."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime.now(timezone.utc).replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, now: datetime) -> None:
        self._now = now


@dataclass
class Account:
    """A user or a service account, with its API keys and default entity."""

    id: int
    username: str
    name: str
    email: str | None
    account_type: str  # USER | SERVICE
    default_entity: str
    api_keys: list[str]
    org: str | None = None
    org_role: str | None = None  # admin | member (of the organization)
    other_orgs: list[str] = field(default_factory=list)  # a person may belong to several

    @property
    def orgs(self) -> list[str]:
        return ([self.org] if self.org else []) + self.other_orgs


@dataclass
class Organization:
    id: int
    name: str
    entity_name: str


@dataclass
class Entity:
    id: int
    name: str
    is_team: bool
    org: str | None = None
    owner: str | None = None  # username, for personal entities
    members: dict[str, str] = field(default_factory=dict)  # username -> admin | member | viewer
    default_ttl: int | None = None  # team TTL policy: default seconds for inheriting artifacts
    members_may_set_ttl: bool = True


@dataclass
class Project:
    id: int
    entity: str
    name: str
    created_at: datetime
    description: str = ""
    registry_roles: dict[str, str] = field(default_factory=dict)  # username -> role (registries)
    protected_aliases: set[str] = field(default_factory=set)
    visibility: str = "organization"  # organization | restricted (registries)

    @property
    def is_registry(self) -> bool:
        return self.name.startswith(REGISTRY_PREFIX)


@dataclass
class Alias:
    id: int
    alias: str
    membership_id: int


@dataclass
class Collection:
    id: int
    kind: str  # SEQUENCE | PORTFOLIO
    project_id: int
    name: str
    type_name: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    state: str = "READY"
    next_index: int = 0
    aliases: dict[str, Alias] = field(default_factory=dict)


@dataclass
class Membership:
    id: int
    collection_id: int
    artifact_id: int
    version_index: int
    created_at: datetime


@dataclass
class Artifact:
    id: int
    sequence_id: int
    version_index: int
    type_name: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    metadata: str = "{}"
    ttl_own: int | None = None  # seconds when the artifact has its own TTL
    ttl_inherited: bool = True
    state: str = "COMMITTED"
    digest: str = ""
    size: int = 0
    file_count: int = 0
    commit_hash: str | None = None
    created_by_run: int | None = None
    created_by_user: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class Run:
    id: int
    project_id: int
    name: str
    created_at: datetime
    user: str | None = None
    display_name: str | None = None
    state: str = "finished"
    commit: str | None = None
    config: str = "{}"
    summary_metrics: str = "{}"
    inputs: list[int] = field(default_factory=list)  # artifact ids the run used


class State:
    """The whole double: ids are allocated per kind; nothing is ever renumbered."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.features: list[str] = list(DEFAULT_FEATURES)
        self.accounts: dict[int, Account] = {}
        self.orgs: dict[str, Organization] = {}
        self.entities: dict[str, Entity] = {}
        self.projects: dict[int, Project] = {}
        self.collections: dict[int, Collection] = {}
        self.memberships: dict[int, Membership] = {}
        self.artifacts: dict[int, Artifact] = {}
        self.runs: dict[int, Run] = {}
        # Fault injection: artifact id -> the error W&B gives for a metadata write to it
        # (a size limit, an org policy); the rest of the same request still runs.
        self.refuse_updates: dict[int, str] = {}
        # Fault injection: "Type.field" pairs answered null (fields the SDK types as nullable).
        self.nulls: set[str] = set()
        self.redirects: dict[tuple[str, str], int] = {}  # (entity, project) casefolded -> project id
        self._ids: dict[str, int] = {}

    def _next(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    # -- set-up (tests and seeding call these directly) -------------------------------------------

    def add_org(self, name: str, entity_name: str | None = None) -> Organization:
        entity_name = entity_name or f"{name}-org"
        org = Organization(self._next("Organization"), name, entity_name)
        self.orgs[name] = org
        self.entities[entity_name] = Entity(self._next("Entity"), entity_name, is_team=True, org=name)
        return org

    def add_team(self, name: str, org: str | None = None, **policy: Any) -> Entity:
        entity = Entity(self._next("Entity"), name, is_team=True, org=org, **policy)
        self.entities[name] = entity
        return entity

    def add_account(
        self,
        username: str,
        api_key: str,
        *,
        teams: dict[str, str] | None = None,
        service: bool = False,
        org: str | None = None,
        org_role: str | None = None,
        default_entity: str | None = None,
        email: str | None = None,
    ) -> Account:
        """A user (with a personal entity) or a service account; ``teams`` maps team -> role."""
        teams = teams or {}
        if not service:
            self.entities.setdefault(
                username, Entity(self._next("Entity"), username, is_team=False, org=None, owner=username)
            )
        for team, role in teams.items():
            self.entities[team].members[username] = role
        account = Account(
            id=self._next("User"),
            username=username,
            name=username,
            email=email if email is not None else (None if service else f"{username}@example.invalid"),
            account_type="SERVICE" if service else "USER",
            default_entity=default_entity or (next(iter(teams)) if service and teams else username),
            api_keys=[api_key],
            org=org,
            org_role=org_role,
        )
        self.accounts[account.id] = account
        return account

    def add_project(self, entity: str, name: str, **kwargs: Any) -> Project:
        if entity not in self.entities:
            raise KeyError(f"no entity {entity}")
        existing = self.find_project(entity, name)
        if existing is not None:
            return existing
        project = Project(self._next("Project"), entity, name, self.clock.now(), **kwargs)
        self.projects[project.id] = project
        return project

    def add_registry(
        self, org: str, name: str, *, roles: dict[str, str] | None = None, protected: Iterable[str] = ()
    ) -> Project:
        entity = self.orgs[org].entity_name
        project = self.add_project(entity, REGISTRY_PREFIX + name)
        project.registry_roles.update(roles or {})
        project.protected_aliases.update(protected)
        return project

    def add_run(
        self,
        project: Project,
        name: str,
        *,
        summary: dict[str, Any] | None = None,
        inputs: Iterable[Artifact] = (),
        commit: str | None = None,
        user: str | None = None,
        created_at: datetime | None = None,
    ) -> Run:
        run = Run(
            self._next("Run"),
            project.id,
            name,
            created_at or self.clock.now(),
            user=user,
            display_name=name,
            commit=commit,
            summary_metrics=json.dumps(summary or {}),
            inputs=[a.id for a in inputs],
        )
        self.runs[run.id] = run
        return run

    def log_artifact(
        self,
        project: Project,
        name: str,
        *,
        type_name: str = "model",
        metadata: dict[str, Any] | None = None,
        description: str = "",
        run: Run | None = None,
        user: str | None = None,
        aliases: Iterable[str] = (),
        created_at: datetime | None = None,
        version_index: int | None = None,
    ) -> Artifact:
        """What ``run.log_artifact`` ends in: a committed version of a sequence, ``latest`` moved.

        ``version_index`` lets seeding reproduce gaps (indexes are never reused). The SDK
        refuses to create an artifact over its metadata key limit, so this does too."""
        sdk_validate_metadata(metadata or {})
        seq = self.find_collection(project, name)
        if seq is None:
            seq = self._new_collection(project, name, "SEQUENCE", type_name)
        elif seq.kind != "SEQUENCE":
            raise GraphQLFault(f"{name} is a portfolio, not an artifact sequence")
        index = seq.next_index if version_index is None else version_index
        if index < seq.next_index and any(
            m.version_index == index for m in self.memberships_of(seq, live=False)
        ):
            raise GraphQLFault(f"version index v{index} of {name} is taken")
        now = created_at or self.clock.now()
        payload = json.dumps({"name": name, "index": index, "metadata": metadata or {}}, sort_keys=True)
        art = Artifact(
            id=self._next("Artifact"),
            sequence_id=seq.id,
            version_index=index,
            type_name=type_name,
            created_at=now,
            updated_at=now,
            description=description,
            metadata=json.dumps(metadata or {}),
            digest=hashlib.md5(payload.encode()).hexdigest(),
            size=len(payload),
            file_count=1,
            created_by_run=run.id if run else None,
            created_by_user=None if run else user,
        )
        self.artifacts[art.id] = art
        seq.next_index = max(seq.next_index, index + 1)
        membership = Membership(self._next("ArtifactCollectionMembership"), seq.id, art.id, index, now)
        self.memberships[membership.id] = membership
        self._refresh_latest(seq)
        for alias in aliases:
            self._set_alias(seq, alias, membership)
        return art

    # -- look-ups ----------------------------------------------------------------------------------

    def account_for_key(self, key: str) -> Account | None:
        for account in self.accounts.values():
            if key in account.api_keys:
                return account
        return None

    def account(self, username: str) -> Account:
        for account in self.accounts.values():
            if account.username == username:
                return account
        raise KeyError(username)

    def find_project(self, entity: str | None, name: str | None) -> Project | None:
        """W&B resolves entity and project names case-insensitively and answers with its own
        (the wandb SDK re-targets to the names in the answer: ``Artifact._from_membership``,
        "uppercase vs lowercase, migrated legacy model registry"); a migrated project answers
        for its old path (``redirects``)."""
        key = (str(entity).casefold(), str(name).casefold())
        for project in self.projects.values():
            if (project.entity.casefold(), project.name.casefold()) == key:
                return project
        moved = self.redirects.get(key)
        return self.projects.get(moved) if moved is not None else None

    def find_entity(self, name: str | None) -> Entity | None:
        """An entity by name, case-insensitively (as W&B looks names up)."""
        found = self.entities.get(name or "")
        if found is None:
            found = next((e for k, e in self.entities.items() if k.casefold() == str(name).casefold()), None)
        return found

    def redirect(self, entity: str, name: str, to: Project) -> None:
        """Answer ``entity/name`` with ``to`` (a migrated legacy Model Registry)."""
        self.redirects[(entity.casefold(), name.casefold())] = to.id

    # -- what the wandb SDK itself enforces (client side), so tests can judge from its side ------

    def sdk_load(self, project: Project, name: str) -> dict[str, Any]:
        """The metadata ``wandb.Api().artifact(path)`` would give for ``coll:alias`` / ``coll:vN``,
        or the ValueError it raises: the SDK validates metadata on every load
        (``Artifact._assign_attrs`` -> ``validate_metadata``, at most ``SDK_MAX_METADATA_KEYS``
        top-level keys)."""
        membership = self.membership_by_name(project, name)
        if membership is None:
            raise KeyError(name)
        return sdk_validate_metadata(json.loads(self.artifacts[membership.artifact_id].metadata or "{}"))

    def find_collection(self, project: Project, name: str) -> Collection | None:
        for coll in self.collections.values():
            if coll.project_id == project.id and coll.name == name and coll.state == "READY":
                return coll
        return None

    def collection_by_id(self, collection_id: int) -> Collection | None:
        coll = self.collections.get(collection_id)
        return coll if coll is not None and coll.state == "READY" else None

    def project_of(self, coll: Collection) -> Project:
        return self.projects[coll.project_id]

    def sequence_of(self, art: Artifact) -> Collection:
        return self.collections[art.sequence_id]

    def memberships_of(self, coll: Collection, *, live: bool = True) -> list[Membership]:
        found = [m for m in self.memberships.values() if m.collection_id == coll.id]
        if live:
            found = [m for m in found if self.artifacts[m.artifact_id].state == "COMMITTED"]
        return sorted(found, key=lambda m: m.version_index)

    def memberships_of_artifact(self, art: Artifact) -> list[Membership]:
        return [
            m
            for m in self.memberships.values()
            if m.artifact_id == art.id and self.collection_by_id(m.collection_id) is not None
        ]

    def membership(self, coll: Collection, art: Artifact) -> Membership | None:
        for m in self.memberships.values():
            if m.collection_id == coll.id and m.artifact_id == art.id:
                return m
        return None

    def aliases_of(self, membership: Membership) -> list[Alias]:
        coll = self.collections[membership.collection_id]
        return sorted(
            (a for a in coll.aliases.values() if a.membership_id == membership.id), key=lambda a: a.alias
        )

    def membership_by_name(self, project: Project, name: str) -> Membership | None:
        """``coll:alias`` / ``coll:vN`` / ``coll:latest`` / ``coll`` (latest)."""
        coll_name, _, selector = name.partition(":")
        coll = self.find_collection(project, coll_name)
        if coll is None:
            return None
        selector = selector or "latest"
        found: Membership | None = None
        m = re.fullmatch(r"v(\d+)", selector)
        if m:
            index = int(m.group(1))
            found = next((x for x in self.memberships_of(coll) if x.version_index == index), None)
        elif selector in coll.aliases:
            found = self.memberships[coll.aliases[selector].membership_id]
        if found is None or self.artifacts[found.artifact_id].state != "COMMITTED":
            return None
        return found

    def artifact(self, artifact_id: int) -> Artifact:
        art = self.artifacts.get(artifact_id)
        if art is None:
            raise GraphQLFault(f"artifact {gql_id('Artifact', artifact_id)} not found")
        return art

    def run_by_name(self, project: Project, name: str) -> Run | None:
        for run in self.runs.values():
            if run.project_id == project.id and run.name == name:
                return run
        return None

    # -- roles -------------------------------------------------------------------------------------

    def role(self, account: Account | None, project: Project) -> str | None:
        """The highest of the account's org, registry and team roles for ``project``."""
        if account is None:
            return None
        roles: list[str] = []
        entity = self.entities[project.entity]
        if entity.owner == account.username:
            roles.append("admin")
        if account.username in entity.members:
            roles.append(entity.members[account.username])
        if project.is_registry and entity.org is not None and account.org == entity.org:
            if account.org_role == "admin":
                roles.append("admin")
            if project.visibility == "organization":
                roles.append("viewer")
            if account.username in project.registry_roles:
                roles.append(project.registry_roles[account.username])
        if not roles:
            return None
        return max(roles, key=lambda r: ROLE_RANK[r])

    def can_read(self, account: Account | None, project: Project) -> bool:
        return self.role(account, project) is not None

    def require(self, account: Account | None, project: Project, minimum: str, what: str) -> None:
        role = self.role(account, project)
        if role is None or ROLE_RANK[role] < ROLE_RANK[minimum]:
            who = account.username if account else "anonymous"
            raise PermissionDenied(
                f"permission denied: {who} ({role or 'no role'}) may not {what} in "
                f"{project.entity}/{project.name}; it needs the {minimum} role"
            )

    # -- TTL -----------------------------------------------------------------------------------------

    def ttl_seconds(self, art: Artifact) -> int:
        """``ttlDurationSeconds`` as the API reports it: > 0 seconds, -2 when none applies."""
        if art.ttl_inherited:
            default = self.entities[self.project_of(self.sequence_of(art)).entity].default_ttl
            return default if default else TTL_DISABLED
        return art.ttl_own if art.ttl_own else TTL_DISABLED

    def expire(self) -> None:
        """Soft-delete every version whose TTL (counted from createdAt) ran out."""
        now = self.clock.now()
        for art in list(self.artifacts.values()):
            ttl = self.ttl_seconds(art)
            if art.state == "COMMITTED" and ttl > 0 and art.created_at + timedelta(seconds=ttl) <= now:
                self._soft_delete(art)

    def linked_to_registry(self, art: Artifact) -> bool:
        return any(
            self.project_of(self.collections[m.collection_id]).is_registry
            for m in self.memberships_of_artifact(art)
            if self.collections[m.collection_id].kind == "PORTFOLIO"
        )

    # -- mutations -----------------------------------------------------------------------------------

    def _resolve_alias_targets(
        self, account: Account | None, art: Artifact, inputs: list[dict[str, Any]], action: str
    ) -> list[tuple[Collection, Membership, str]]:
        """Check every alias input before changing anything (a mutation is all or nothing)."""
        if art.state != "COMMITTED":
            raise GraphQLFault(f"artifact {gql_id('Artifact', art.id)} is {art.state.lower()}")
        resolved = []
        for item in inputs:
            alias = item["alias"]
            validate_alias(alias)
            project = self.find_project(item["entityName"], item["projectName"])
            if project is None or not self.can_read(account, project):
                raise GraphQLFault(f"project {item['entityName']}/{item['projectName']} not found")
            coll = self.find_collection(project, item["artifactCollectionName"])
            if coll is None:
                raise GraphQLFault(f"artifact collection {item['artifactCollectionName']} not found")
            membership = self.membership(coll, art)
            if membership is None:
                raise GraphQLFault(f"artifact {gql_id('Artifact', art.id)} is not a version of {coll.name}")
            self.require(account, project, "member", f"{action} aliases")
            if project.is_registry and alias in project.protected_aliases:
                self.require(account, project, "admin", f"{action} the protected alias {alias!r}")
            resolved.append((coll, membership, alias))
        return resolved

    def add_aliases(self, account: Account | None, artifact_id: int, inputs: list[dict[str, Any]]) -> None:
        """Attach each alias to this version, taking it from whichever version held it."""
        art = self.artifact(artifact_id)
        for coll, membership, alias in self._resolve_alias_targets(account, art, inputs, "add"):
            self._set_alias(coll, alias, membership)
            coll.updated_at = self.clock.now()

    def delete_aliases(self, account: Account | None, artifact_id: int, inputs: list[dict[str, Any]]) -> None:
        art = self.artifact(artifact_id)
        for coll, membership, alias in self._resolve_alias_targets(account, art, inputs, "remove"):
            held = coll.aliases.get(alias)
            if held is not None and held.membership_id == membership.id:
                del coll.aliases[alias]
                coll.updated_at = self.clock.now()

    def update_artifact(self, account: Account | None, artifact_id: int, data: dict[str, Any]) -> Artifact:
        art = self.artifact(artifact_id)
        if art.state != "COMMITTED":
            raise GraphQLFault(f"artifact {gql_id('Artifact', art.id)} is {art.state.lower()}")
        source = self.project_of(self.sequence_of(art))
        self.require(account, source, "member", "update artifacts")
        if art.id in self.refuse_updates:
            raise GraphQLFault(self.refuse_updates[art.id])
        metadata = data.get("metadata")
        if metadata is not None:
            _json_object(metadata)
        ttl = data.get("ttlDurationSeconds")
        if ttl is not None:
            self._check_ttl(art, ttl)
        if data.get("aliases") is not None:
            self._replace_aliases(source, art, data["aliases"])
        if metadata is not None:
            art.metadata = metadata
        if data.get("description") is not None:
            art.description = data["description"]
        if ttl is not None and self._may_set_ttl(account, source):
            art.ttl_inherited = ttl == TTL_INHERIT
            art.ttl_own = int(ttl) if ttl > 0 else None
        for tag in data.get("tagsToAdd") or []:
            if tag["tagName"] not in art.tags:
                art.tags.append(tag["tagName"])
        for tag in data.get("tagsToDelete") or []:
            if tag["tagName"] in art.tags:
                art.tags.remove(tag["tagName"])
        art.updated_at = self.clock.now()
        return art

    def _replace_aliases(self, source: Project, art: Artifact, items: list[dict[str, Any]]) -> None:
        """The legacy full-list replace of ``updateArtifact(aliases:)``, scoped to the named collections."""
        by_coll: dict[str, list[str]] = {}
        for item in items:
            by_coll.setdefault(item["artifactCollectionName"], []).append(item["alias"])
        for coll_name, wanted in by_coll.items():
            coll = self.find_collection(source, coll_name)
            membership = self.membership(coll, art) if coll else None
            if coll is None or membership is None:
                raise GraphQLFault(f"artifact is not a version of {coll_name}")
            for alias in self.aliases_of(membership):
                if alias.alias not in wanted and alias.alias != "latest":
                    del coll.aliases[alias.alias]
            for alias_name in wanted:
                validate_alias(alias_name)
                self._set_alias(coll, alias_name, membership)

    def _check_ttl(self, art: Artifact, ttl: int) -> None:
        if ttl not in (TTL_INHERIT, TTL_DISABLED) and ttl <= 0:
            raise GraphQLFault(f"invalid ttlDurationSeconds {ttl}: use > 0, -1 (inherit) or -2 (disabled)")
        if art.type_name in AUTO_TYPES or art.type_name.startswith("wandb-"):
            raise GraphQLFault(f"TTL cannot be set on artifacts of type {art.type_name!r}")
        if self.linked_to_registry(art):
            raise GraphQLFault("TTL cannot be set on an artifact linked to a registry")

    def _may_set_ttl(self, account: Account | None, project: Project) -> bool:
        """The team policy may reserve TTL to admins; then a member's write is silently ignored."""
        entity = self.entities[project.entity]
        return entity.members_may_set_ttl or self.role(account, project) == "admin"

    def delete_artifact(self, account: Account | None, artifact_id: int, delete_aliases: bool) -> Artifact:
        art = self.artifact(artifact_id)
        if art.state != "COMMITTED":
            raise GraphQLFault(f"artifact {gql_id('Artifact', art.id)} is already {art.state.lower()}")
        source = self.project_of(self.sequence_of(art))
        self.require(account, source, "member", "delete artifacts")
        held = [(m, a) for m in self.memberships_of_artifact(art) for a in self.aliases_of(m)]
        for membership, alias in held:
            project = self.project_of(self.collections[membership.collection_id])
            if project.is_registry and alias.alias in project.protected_aliases:
                raise PermissionDenied(
                    f"artifact {gql_id('Artifact', art.id)} holds the protected alias {alias.alias!r} "
                    f"in {project.name}; it cannot be deleted until an admin removes the alias"
                )
        if held and not delete_aliases:
            names = ", ".join(sorted({a.alias for _, a in held}))
            raise GraphQLFault(
                f"cannot delete artifact {gql_id('Artifact', art.id)}: it has aliases ({names}); "
                "delete them first or pass deleteAliases"
            )
        self._soft_delete(art)
        return art

    def link_artifact(self, account: Account | None, data: dict[str, Any]) -> Membership:
        art = self.artifact(parse_id(data["artifactID"], "Artifact")) if data.get("artifactID") else None
        if art is None or art.state != "COMMITTED":
            raise GraphQLFault("linkArtifact needs a committed artifactID")
        coll: Collection | None = None
        if data.get("artifactPortfolioID"):
            coll = self.collection_by_id(parse_id(data["artifactPortfolioID"], "ArtifactCollection"))
            if coll is None:
                raise GraphQLFault("artifact portfolio not found")
            project = self.project_of(coll)
        else:
            project_or_none = self.find_project(data.get("entityName"), data.get("projectName"))
            if project_or_none is None or not self.can_read(account, project_or_none):
                raise GraphQLFault(f"project {data.get('entityName')}/{data.get('projectName')} not found")
            project = project_or_none
            coll = self.find_collection(project, data.get("artifactPortfolioName") or "")
        self.require(account, project, "member", "link artifacts")
        if coll is None:
            coll = self._new_collection(project, data["artifactPortfolioName"], "PORTFOLIO", art.type_name)
        if coll.kind != "PORTFOLIO":
            raise GraphQLFault(f"{coll.name} is an artifact sequence; link to a portfolio")
        for item in data.get("aliases") or []:
            validate_alias(item["alias"])
            if project.is_registry and item["alias"] in project.protected_aliases:
                self.require(account, project, "admin", f"add the protected alias {item['alias']!r}")
        membership = self.membership(coll, art)
        if membership is None:
            membership = Membership(
                self._next("ArtifactCollectionMembership"), coll.id, art.id, coll.next_index, self.clock.now()
            )
            self.memberships[membership.id] = membership
            coll.next_index += 1
            self._refresh_latest(coll)
        for item in data.get("aliases") or []:
            self._set_alias(coll, item["alias"], membership)
        if project.is_registry:  # linking into a registry switches the version's TTL off for good
            art.ttl_inherited, art.ttl_own = False, None
        coll.updated_at = self.clock.now()
        return membership

    def unlink_artifact(self, account: Account | None, artifact_id: int, portfolio_id: int) -> None:
        art = self.artifact(artifact_id)
        coll = self.collection_by_id(portfolio_id)
        if coll is None or coll.kind != "PORTFOLIO":
            raise GraphQLFault("artifact portfolio not found")
        project = self.project_of(coll)
        self.require(account, project, "member", "unlink artifacts")
        membership = self.membership(coll, art)
        if membership is None:
            raise GraphQLFault(f"artifact is not linked to {coll.name}")
        protected = [a.alias for a in self.aliases_of(membership) if a.alias in project.protected_aliases]
        if project.is_registry and protected:
            self.require(account, project, "admin", f"unlink a version holding {protected[0]!r}")
        for alias in self.aliases_of(membership):
            del coll.aliases[alias.alias]
        del self.memberships[membership.id]
        self._refresh_latest(coll)
        coll.updated_at = self.clock.now()

    def update_collection(
        self, account: Account | None, coll: Collection, data: dict[str, Any]
    ) -> Collection:
        project = self.project_of(coll)
        self.require(account, project, "member", "edit collections")
        if data.get("name") is not None:
            if self.find_collection(project, data["name"]) not in (None, coll):
                raise GraphQLFault(f"a collection named {data['name']!r} exists")
            coll.name = data["name"]
        if data.get("description") is not None:
            coll.description = data["description"]
        coll.updated_at = self.clock.now()
        return coll

    # -- internals -----------------------------------------------------------------------------------

    def _new_collection(self, project: Project, name: str, kind: str, type_name: str) -> Collection:
        now = self.clock.now()
        coll = Collection(self._next("ArtifactCollection"), kind, project.id, name, type_name, now, now)
        self.collections[coll.id] = coll
        return coll

    def _set_alias(self, coll: Collection, alias: str, membership: Membership) -> None:
        existing = coll.aliases.get(alias)
        if existing is not None:
            existing.membership_id = membership.id  # reassigned: unique per collection
        else:
            coll.aliases[alias] = Alias(self._next("ArtifactAlias"), alias, membership.id)

    def _refresh_latest(self, coll: Collection) -> None:
        """``latest`` names the newest live version; it disappears with the last one."""
        live = self.memberships_of(coll)
        if not live:
            coll.aliases.pop("latest", None)
            return
        self._set_alias(coll, "latest", max(live, key=lambda m: m.version_index))

    def _soft_delete(self, art: Artifact) -> None:
        art.state = "DELETED"
        art.updated_at = self.clock.now()
        for membership in self.memberships_of_artifact(art):
            coll = self.collections[membership.collection_id]
            for alias in self.aliases_of(membership):
                del coll.aliases[alias.alias]
            self._refresh_latest(coll)

    # -- conveniences for tests (a rival writer goes through the same rules) ------------------------

    def version_of(
        self, project: Project, collection: str, number: int
    ) -> tuple[Collection, Membership, Artifact]:
        coll = self.find_collection(project, collection)
        if coll is None:
            raise KeyError(collection)
        for m in self.memberships_of(coll):
            if m.version_index == number:
                return coll, m, self.artifacts[m.artifact_id]
        raise KeyError(f"{collection}:v{number}")

    def holder(self, project: Project, collection: str, alias: str) -> int | None:
        coll = self.find_collection(project, collection)
        held = coll.aliases.get(alias) if coll else None
        return None if held is None else self.memberships[held.membership_id].version_index

    def metadata(self, project: Project, collection: str, number: int) -> dict[str, Any]:
        return json.loads(self.version_of(project, collection, number)[2].metadata)  # type: ignore[no-any-return]

    def move_alias(self, project: Project, collection: str, alias: str, number: int, *, as_user: str) -> None:
        """What another client's ``addAliases`` does: used by tests as the rival writer."""
        _, _, art = self.version_of(project, collection, number)
        item = {
            "entityName": project.entity,
            "projectName": project.name,
            "artifactCollectionName": collection,
        }
        self.add_aliases(self.account(as_user), art.id, [{**item, "alias": alias}])

    def iter_collections(self, project: Project) -> Iterator[Collection]:
        for coll in sorted(self.collections.values(), key=lambda c: c.id):
            if coll.project_id == project.id and coll.state == "READY":
                yield coll


def _json_object(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        raise GraphQLFault("metadata is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise GraphQLFault("metadata must be a JSON object")
    return parsed


def sdk_validate_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The wandb SDK's ``validate_metadata`` (``wandb/sdk/artifacts/_validators.py``), which runs
    on ``Artifact(metadata=...)``, on the ``metadata`` setter and on every load from the server."""
    if len(metadata) > SDK_MAX_METADATA_KEYS:
        raise ValueError(f"Artifact must not have more than {SDK_MAX_METADATA_KEYS!r} metadata keys.")
    return metadata


def validate_alias(alias: str) -> None:
    if not alias or len(alias) > 128 or "/" in alias or ":" in alias:
        raise GraphQLFault(f"invalid alias {alias!r}: at most 128 characters, no '/' or ':'")
