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
from aliasgate.registry.wandb.shapes import REGISTRY_PREFIX, Collection, Path, Target

NEEDED_FEATURE = "PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP"
PAGE = 100


class Project:
    """The GraphQL client bound to one project, with what the backend remembers between calls."""

    def __init__(self, client: GraphQL, entity: str | None, project: str) -> None:
        self.client = client
        self.project = project
        self._given_entity = entity
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
        variables = {"entity": self._given_entity} if org_of else {}
        body = self.client.post(gql.bootstrap(features=True, org_of=org_of), variables)
        if body.get("errors") and "features" in messages(body["errors"]):
            # Servers without serverInfo.features (the SDK reads this as "no features").
            body = self.client.post(gql.bootstrap(features=False, org_of=org_of), variables)
            body.setdefault("data", {})["serverInfo"] = {"features": []}
        data = body.get("data") or {}
        viewer = data.get("viewer")
        if not viewer:
            raise AuthError(
                f"W&B at {self.client.safe_base} does not accept the API key in WANDB_API_KEY (no viewer)",
                hint="check WANDB_API_KEY and WANDB_BASE_URL",
            )
        features = ((data.get("serverInfo") or {}).get("features")) or []
        self._features = {f["name"] for f in features if f.get("isEnabled")}
        if NEEDED_FEATURE not in self._features:
            raise RegistryError(
                f"the W&B server at {self.client.safe_base} does not report {NEEDED_FEATURE}; aliasgate "
                "reads versions by name as the wandb SDK >= 0.28 does, which needs W&B server >= 0.70"
            )
        if self._entity is None:
            self._entity = self._resolve_entity(viewer, data if org_of else None)
        self._viewer = viewer  # last: a failed bootstrap is tried again, never half-remembered
        self.client.viewer_name = str(viewer.get("username") or "this account")

    def _resolve_entity(self, viewer: Mapping[str, Any], data: Mapping[str, Any] | None) -> str:
        if not self.registry:
            return str(self._given_entity or viewer.get("entity") or viewer["username"])
        if data is None:  # no entity in the URI or the environment: the viewer's default entity
            fallback = str(viewer.get("entity") or "")
            data = self.client.post(gql.ORG_OF_ENTITY, {"entity": fallback}).get("data") or {}
        by_name = (data.get("byName") or {}).get("orgEntity") or {}
        by_entity = ((data.get("byEntity") or {}).get("organization") or {}).get("orgEntity") or {}
        org_entity = by_name.get("name") or by_entity.get("name")
        if not org_entity:
            raise NotFound(
                f"cannot find the organization of {self._given_entity or 'the default entity'!r} for "
                f"{self.project}; use wandb://ORG_ENTITY/{self.project} or set WANDB_ORGANIZATION"
            )
        return str(org_entity)

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
            e["node"]["name"] for e in ((self._viewer.get("teams") or {}).get("edges") or []) if e.get("node")
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
        if len(parts) >= 2 and parts[-2] != self.project:
            raise InvalidInput(
                f"{model!r} is not in {self.project}; use --registry wandb://ENTITY/{parts[-2]}"
            )
        if len(parts) == 3 and parts[0] not in (self.entity, self._given_entity):
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
            page = node["artifacts"]["pageInfo"]
            if not page["hasNextPage"]:
                return
            cursor = page["endCursor"]

    def read_targets(
        self, model: str, c: str, names: Sequence[str]
    ) -> tuple[Collection, list[Target | None]]:
        """The collection and each membership by name, as a write sees them, in one request."""
        variables = self.vars(c, **{f"n{i}": n for i, n in enumerate(names)})
        data = self.query(gql.memberships(len(names), target=True), variables, model=model)
        project = self.project_data(data, model)
        coll = Collection.from_gql(self.collection_data(data, model))
        here = self.here(c)
        found = [
            None if project.get(f"m{i}") is None else Target.from_gql(project[f"m{i}"], here)
            for i in range(len(names))
        ]
        return coll, found

    def holder(self, model: str, c: str, alias: str) -> int | None:
        _, (found,) = self.read_targets(model, c, [f"{c}:{alias}"])
        return None if found is None else found.number
