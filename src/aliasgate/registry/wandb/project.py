"""One ``wandb://ENTITY/PROJECT``: who we are, where the project lives, how a model name maps
to a collection, and the reads every other module builds on."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from aliasgate.errors import AuthError, InvalidInput, NotFound, RegistryError
from aliasgate.model import Principal, Version
from aliasgate.registry.wandb import documents as gql
from aliasgate.registry.wandb.client import GraphQL, messages
from aliasgate.registry.wandb.shapes import REGISTRY_PREFIX, Collection, Path, Target, need, next_cursor

NEEDED_FEATURE = "PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP"
PAGE = 100


class Project:
    """The GraphQL client bound to one project, with what the backend remembers between calls."""

    def __init__(
        self, client: GraphQL, entity: str | None, project: str, *, settings_entity: str | None = None
    ) -> None:
        self.client = client
        self.project = project
        self._given_entity = entity
        self._settings_entity = settings_entity  # WANDB_ENTITY: whose organization a registry is in
        self._entity: str | None = None if project.startswith(REGISTRY_PREFIX) else entity
        self._viewer: Mapping[str, Any] | None = None
        self._features: set[str] | None = None
        #: (collection, number) -> the version as last read (dropped when a write touches it)
        self.versions: dict[tuple[str, int], Version] = {}
        self._lock = threading.Lock()  # the bootstrap, and the table of per-collection locks
        self._write_locks: dict[str, threading.Lock] = {}

    def writing(self, collection: str) -> threading.Lock:
        """One write at a time per collection in this process (cleanup runs threads): each
        reads the chain head and appends after it. Other processes are not covered (no CAS)."""
        with self._lock:
            return self._write_locks.setdefault(collection, threading.Lock())

    @property
    def registry(self) -> bool:
        return self.project.startswith(REGISTRY_PREFIX)

    # -- identity and organization -----------------------------------------------------------

    def ensure_bootstrap(self) -> None:
        """Viewer, server features and (for a registry) the org entity: one request, once."""
        if self._viewer is not None:
            return
        with self._lock:
            if self._viewer is None:
                self._bootstrap()

    def _bootstrap(self) -> None:
        org_of = self.registry and self._given_entity is not None
        names = self._entity is not None or org_of  # the project's own names, in the same request
        variables = {"entity": self._entity or self._given_entity, "project": self.project} if names else {}
        body = self.client.post(gql.bootstrap(features=True, org_of=org_of, names=names), variables)
        if body.get("errors") and "features" in messages(body["errors"]):
            # Servers without serverInfo.features (the SDK reads this as "no features").
            body = self.client.post(gql.bootstrap(features=False, org_of=org_of, names=names), variables)
            body.setdefault("data", {})["serverInfo"] = {"features": []}
        data = body.get("data") or {}
        viewer = data.get("viewer")
        if not viewer:
            raise AuthError(
                f"W&B at {self.client.safe_base} does not accept the API key in WANDB_API_KEY (no viewer)",
                hint="check WANDB_API_KEY and WANDB_BASE_URL",
            )
        features = ((data.get("serverInfo") or {}).get("features")) or []
        self._features = {f["name"] for f in features if f and f.get("isEnabled")}
        if NEEDED_FEATURE not in self._features:
            raise RegistryError(
                f"the W&B server at {self.client.safe_base} does not report {NEEDED_FEATURE}; aliasgate "
                "reads versions by name as the wandb SDK >= 0.28 does, which needs W&B server >= 0.70"
            )
        self.client.viewer_name = str(viewer.get("username") or "this account")
        if self._entity is None:
            self._entity = self._resolve_entity(viewer, data if org_of else None)
        assert self._entity is not None
        here = data.get("here") if names else None
        if _entity_of(here).casefold() != self._entity.casefold():  # asked under another entity
            answer = self.client.post(gql.PROJECT_NAMES, {"entity": self._entity, "project": self.project})
            here = (answer.get("data") or {}).get("here")
        self._adopt_names(here)
        self._viewer = viewer  # last: a failed bootstrap is tried again, never half-remembered

    def _adopt_names(self, found: Mapping[str, Any] | None) -> None:
        """Use the names W&B answers with, as the SDK does: it resolves entity and project names
        case-insensitively, and answers a migrated project with its new path. A case variant is
        followed (so the audit key and every comparison use W&B's names); a different path is
        refused with the new one, so a policy never writes to a place it does not name."""
        entity, project = _entity_of(found), str((found or {}).get("name") or "")
        if not entity or not project:
            return  # no such project (or not visible): reads say so
        assert self._entity is not None
        if (entity, project) == (self._entity, self.project):
            return
        if (entity.casefold(), project.casefold()) == (self._entity.casefold(), self.project.casefold()):
            self._entity, self.project = entity, project
            return
        raise InvalidInput(
            f"W&B answers {self._entity}/{self.project} with {entity}/{project} (a migrated or renamed "
            f"project); use --registry wandb://{entity}/{project}"
        )

    def _resolve_entity(self, viewer: Mapping[str, Any], data: Mapping[str, Any] | None) -> str:
        """The entity; for a registry the organization's entity, resolved as the SDK does: the
        organization of a team entity, or of a personal entity the one it belongs to (or the one
        the URI or WANDB_ORGANIZATION names)."""
        if not self.registry:
            return str(self._given_entity or viewer.get("entity") or viewer["username"])
        # The entity whose organization counts (WANDB_ENTITY or the viewer's default entity); the
        # URI's first part or WANDB_ORGANIZATION, when it is not that entity, names the organization.
        settings = self._settings_entity or str(viewer.get("entity") or "")
        hint = self._given_entity if self._given_entity != self._settings_entity else None
        found = _organization(data, hint) if data is not None else None
        if found is None and settings and (data is None or settings != self._given_entity):
            more = self.client.post(gql.ORG_OF_ENTITY, {"entity": settings}).get("data") or {}
            found = _organization(more, hint, strict=hint is not None)
        if not found:
            raise NotFound(
                f"cannot find the organization of {self._given_entity or settings or 'the default entity'!r} "
                f"for {self.project}; use wandb://ORG_ENTITY/{self.project} or set WANDB_ORGANIZATION"
            )
        return found

    @property
    def entity(self) -> str:
        self.ensure_bootstrap()
        assert self._entity is not None
        return self._entity

    @property
    def where(self) -> str:
        return f"{self.entity}/{self.project}"

    def whoami(self) -> Principal:
        self.ensure_bootstrap()
        assert self._viewer is not None
        teams = [
            e["node"]["name"]
            for e in ((self._viewer.get("teams") or {}).get("edges") or [])
            if e and (e.get("node") or {}).get("name")
        ]
        detail: dict[str, Any] = {"entity": self._viewer.get("entity"), "teams": teams}
        return Principal(
            str(self._viewer["username"]), authenticated=True, source="wandb viewer", detail=detail
        )

    # -- names -------------------------------------------------------------------------------

    def collection_name(self, model: str) -> str:
        """``name``, ``project/name`` or ``entity/project/name`` (this registry's project only)."""
        parts = model.split("/")
        name = parts[-1]
        if not name or ":" in model or len(parts) > 3:
            raise InvalidInput(f"invalid W&B model name {model!r}: expected NAME or ENTITY/PROJECT/NAME")
        if len(parts) >= 2 and parts[-2].casefold() != self.project.casefold():
            raise InvalidInput(
                f"{model!r} is not in {self.project}; use --registry wandb://ENTITY/{parts[-2]}"
            )
        if len(parts) == 3 and parts[0].casefold() not in {
            self.entity.casefold(),
            str(self._given_entity).casefold(),
        }:
            raise InvalidInput(
                f"{model!r} is not in {self.where}; use --registry wandb://{parts[0]}/{parts[1]}"
            )
        return name

    def chain(self, collection: str) -> str:
        """The audit chain's key in version metadata."""
        return f"{self.entity}/{self.project}/{collection}"

    def here(self, collection: str) -> Path:
        return (self.entity, self.project, collection)

    def vars(self, collection: str, **extra: Any) -> dict[str, Any]:
        self.ensure_bootstrap()  # the names W&B answers with, before they are used
        return {"entity": self.entity, "project": self.project, "collection": collection, **extra}

    # -- reads -------------------------------------------------------------------------------

    def query(
        self, document: str, variables: Mapping[str, Any], *, model: str | None = None
    ) -> dict[str, Any]:
        self.ensure_bootstrap()
        body = self.client.post(document, variables)
        if body.get("errors"):
            raise self.client.error(body["errors"], model=model)
        data = body.get("data")
        if not isinstance(data, dict):
            raise RegistryError("W&B returned no data", model=model)
        return data

    def project_data(self, data: Mapping[str, Any], model: str) -> Mapping[str, Any]:
        project = data.get("project")
        if project is None:
            raise NotFound(
                f"W&B project {self.where} not found (or {self.client.viewer_name} cannot see it)",
                model=model,
            )
        return project  # type: ignore[no-any-return]

    def collection_data(self, data: Mapping[str, Any], model: str) -> Mapping[str, Any]:
        node = self.project_data(data, model).get("artifactCollection")
        if node is None:
            raise NotFound(f"no such artifact collection in {self.where}", model=model)
        return node  # type: ignore[no-any-return]

    def pages(self, document: str, model: str, c: str, **extra: Any) -> Iterator[Mapping[str, Any]]:
        """Each page of a collection's ``artifacts`` connection (live versions only), as the
        collection node of that page (its description is the head as of that page)."""
        cursor: str | None = None
        while True:
            variables = self.vars(c, cursor=cursor, first=PAGE, filters=gql.COMMITTED, **extra)
            node = self.collection_data(self.query(document, variables, model=model), model)
            yield node
            cursor = next_cursor(need(node, "artifacts", model), model)
            if cursor is None:
                return

    def read_targets(
        self, model: str, c: str, names: Sequence[str]
    ) -> tuple[Collection, list[Target | None]]:
        """The collection and each membership by name, as a write sees them, in one request."""
        variables = self.vars(c, **{f"n{i}": n for i, n in enumerate(names)})
        data = self.query(gql.memberships(len(names), target=True), variables, model=model)
        project = self.project_data(data, model)
        coll = Collection.from_gql(self.collection_data(data, model), model)
        here = self.here(c)
        found = [
            None if project.get(f"m{i}") is None else Target.from_gql(project[f"m{i}"], here, model)
            for i in range(len(names))
        ]
        return coll, found

    def holder(self, model: str, c: str, alias: str) -> int | None:
        _, (found,) = self.read_targets(model, c, [f"{c}:{alias}"])
        return None if found is None else found.number


def _organization(data: Mapping[str, Any], hint: str | None, *, strict: bool = False) -> str | None:
    """The org entity name in a ``FetchOrgInfoFromEntity``-like answer (``byEntity``, maybe
    ``byName``). ``hint``: an organization's name or entity name the answer must match when
    ``strict`` (as the SDK checks a path's organization against the entity's)."""
    orgs: list[Mapping[str, Any]] = []
    for org in [
        data.get("byName"),
        (data.get("byEntity") or {}).get("organization"),
        *(((data.get("byEntity") or {}).get("user") or {}).get("organizations") or []),
    ]:
        if org and (org.get("orgEntity") or {}).get("name"):
            orgs.append(org)
    if hint is not None:
        for org in orgs:
            if hint in (org.get("name"), org["orgEntity"]["name"]):
                return str(org["orgEntity"]["name"])
        if strict:
            return None
    by_name, team_org = data.get("byName"), (data.get("byEntity") or {}).get("organization")
    for org in (by_name, team_org):
        if org and (org.get("orgEntity") or {}).get("name"):
            return str(org["orgEntity"]["name"])
    personal = {str(o["orgEntity"]["name"]) for o in orgs}
    if len(personal) > 1:
        raise NotFound(
            f"the account belongs to several organizations ({', '.join(sorted(personal))}); name one: "
            "wandb://ORG_ENTITY/wandb-registry-NAME or WANDB_ORGANIZATION"
        )
    return personal.pop() if personal else None


def _entity_of(project: Mapping[str, Any] | None) -> str:
    return str(((project or {}).get("entity") or {}).get("name") or "")
