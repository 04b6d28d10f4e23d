"""Weights & Biases Artifacts and the W&B Registry over GraphQL (``wandb://ENTITY/PROJECT``).

A model is an artifact collection of one project: an artifact sequence, or a
portfolio of a ``wandb-registry-<name>`` project under the organization entity.
A version is a membership of that collection (``name:v3``); its number is the
membership's ``versionIndex``.

W&B has no compare-and-swap: ``addAliases`` simply takes the alias from
whichever version held it. So every move is guarded as tightly as W&B allows
(reference wandb.md §4.1, docs/backends/wandb.md):

1. read the holder, the target and the chain head in one request, immediately
   before writing, and refuse (Conflict, nothing changed) if the alias moved;
2. ``addAliases`` (or ``deleteAliases``); if its outcome is unknown (timeout,
   5xx) read before deciding, never resend blindly;
3. store the sealed audit record in the target version's metadata (merged,
   never replacing other keys) and the chain head in the collection's
   description, in one request whose answer shows where the alias is now; if
   another writer took it in between, the move is recorded and Conflict raised.

Audit records live in the metadata of the version the alias landed on (or left,
for a removal) under ``aliasgate.audit[<entity>/<project>/<collection>]``; the
chain head is a line ``aliasgate-audit-head: {...}`` in the collection
description, so ``history --verify`` catches a deleted newest record. Deleting a
version first moves its records to the newest other version.

For ``cleanup --native-ttl`` it reads and writes W&B's own artifact TTL
(``ttl_states``, ``set_ttl``: ``updateArtifact`` with the TTL alone) and appends
that run's ``ttl`` audit record (``append_record``); see ``aliasgate.native_ttl``.

Never imports ``wandb``: the SDK takes ~0.6 s to import and starts a sidecar.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aliasgate import __version__, audit, secrets
from aliasgate.errors import AuthError, Conflict, InvalidInput, NotFound, RegistryError, conflict, still_held
from aliasgate.model import LATEST, AliasOp, Principal, Version, VersionId, parse_time
from aliasgate.native_ttl import TtlState
from aliasgate.registry import wandb_gql as gql
from aliasgate.registry.http import Transport

DEFAULT_BASE_URL = "https://api.wandb.ai"
REGISTRY_PREFIX = "wandb-registry-"
METADATA_KEY = "aliasgate"
HEAD_MARKER = "aliasgate-audit-head:"
HEAD_RE = re.compile(r"^aliasgate-audit-head: (\{.*\})[ \t]*$", re.MULTILINE)
NEEDED_FEATURE = "PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP"
RECENT = 10  # newest versions read with the alias names: usually every holder is among them
PAGE = 100
RETRY_READS = frozenset({500})  # a read changes nothing, so a 500 on it is worth another try
PERMISSION_WORDS = ("permission", "not authorized", "unauthorized", "forbidden", "access denied")
LEGACY_REGISTRY = "model-registry"  # a team's legacy Model Registry project
TTL_BATCH = 50  # versions whose TTL one request reads


def open(uri: str, options: Mapping[str, Any]) -> WandbRegistry:  # backend entry point
    entity, project = parse_uri(uri)
    base_url = str(options.get("base_url") or os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL)
    scheme = urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise InvalidInput(f"WANDB_BASE_URL must be an http(s) URL, not {secrets.strip_userinfo(base_url)!r}")
    api_key = options.get("api_key") or os.environ.get("WANDB_API_KEY") or None
    secrets.register(api_key)
    return WandbRegistry(uri, entity, project, base_url=base_url, api_key=api_key)


def parse_uri(uri: str) -> tuple[str | None, str]:
    """``wandb://ENTITY/PROJECT``, ``wandb://PROJECT`` (entity from WANDB_ENTITY, or for a
    registry WANDB_ORGANIZATION), or ``wandb://`` (both from WANDB_ENTITY/WANDB_PROJECT)."""
    rest = uri.split(":", 1)[1] if ":" in uri else ""
    rest = rest[2:] if rest.startswith("//") else rest
    parts = [p for p in rest.strip("/").split("/") if p]
    if len(parts) > 2 or any(c in rest for c in "?#:@ "):
        raise InvalidInput(f"invalid registry {uri!r}: expected wandb://ENTITY/PROJECT")
    if len(parts) == 2:
        return parts[0], parts[1]
    project = parts[0] if parts else os.environ.get("WANDB_PROJECT")
    if not project:
        raise InvalidInput(
            f"invalid registry {uri!r}: no project (use wandb://ENTITY/PROJECT or set WANDB_PROJECT)"
        )
    entity = os.environ.get("WANDB_ENTITY") or None
    if project.startswith(REGISTRY_PREFIX):
        entity = os.environ.get("WANDB_ORGANIZATION") or entity
    return entity, project


class _OutcomeUnknown(RegistryError):
    """A write may or may not have happened (timeout, 5xx after sending): read before deciding."""


@dataclass
class _Target:
    """A membership as a write sees it (``AliasgateTarget``)."""

    number: int
    artifact_id: str
    metadata: dict[str, Any]
    aliases: list[str]
    source: str  # entity/project of the source sequence (where the metadata is written)
    source_read_only: bool
    other_collections: list[str] = field(default_factory=list)  # where else it is a version
    other_aliases: list[str] = field(default_factory=list)  # aliases it holds elsewhere

    @classmethod
    def from_gql(cls, node: Mapping[str, Any], here: tuple[str, str, str]) -> _Target:
        art = node["artifact"]
        seq = art["artifactSequence"]
        elsewhere = []
        for edge in (art.get("artifactMemberships") or {}).get("edges") or []:
            coll = (edge.get("node") or {}).get("artifactCollection")
            if coll and _coll_path(coll) != here:
                elsewhere.append("/".join(_coll_path(coll)))
        other_aliases = [
            f"{'/'.join(_coll_path(a['artifactCollection']))}:{a['alias']}"
            for a in art.get("aliases") or []
            if a.get("artifactCollection")
            and _coll_path(a["artifactCollection"]) != here
            and a["alias"] != LATEST
        ]
        return cls(
            number=int(node["versionIndex"]),
            artifact_id=art["id"],
            metadata=_json_object(art.get("metadata")),
            aliases=[a["alias"] for a in node.get("aliases") or []],
            source=_project_path(seq.get("project")) or f"the source project of {seq['name']}",
            # An invisible source project is one we cannot write (as the SDK judges it).
            source_read_only=seq.get("project") is None or bool(seq["project"].get("readOnly")),
            other_collections=elsewhere,
            other_aliases=other_aliases,
        )


@dataclass
class _Collection:
    id: str
    typename: str
    name: str
    description: str

    @classmethod
    def from_gql(cls, node: Mapping[str, Any]) -> _Collection:
        return cls(node["id"], node["__typename"], node["name"], node.get("description") or "")

    @property
    def head(self) -> audit.Head | None:
        found = HEAD_RE.findall(self.description)
        if not found:
            return None
        try:
            value = json.loads(found[-1])
            return audit.Head(int(value["seq"]), str(value["hash"]))
        except (ValueError, KeyError, TypeError):
            return None

    def with_head(self, head: audit.Head) -> str:
        """The description with our head line replaced (or appended); the rest is the user's."""
        line = f"{HEAD_MARKER} {json.dumps(head.as_dict(), sort_keys=True, separators=(',', ':'))}"
        if HEAD_RE.search(self.description):
            return HEAD_RE.sub(lambda _: line, self.description)
        return f"{self.description.rstrip()}\n\n{line}" if self.description.strip() else line


class WandbRegistry:
    """The Registry protocol over W&B's GraphQL API, with the guards described above."""

    atomic_batches = False
    lineage_recorded = True

    def __init__(
        self, uri: str, entity: str | None, project: str, *, base_url: str, api_key: str | None
    ) -> None:
        self.uri = uri
        self.project = project
        self.base_url = base_url.rstrip("/")
        self._given_entity = entity
        self._entity: str | None = None if project.startswith(REGISTRY_PREFIX) else entity
        self._api_key = api_key
        self._transport: Transport | None = None
        self._viewer: Mapping[str, Any] | None = None
        self._features: set[str] | None = None
        self._versions: dict[tuple[str, int], Version] = {}
        self._lock = threading.Lock()  # the bootstrap, and the table of per-collection locks
        self._write_locks: dict[str, threading.Lock] = {}
        self._ttl_ids: dict[tuple[str, int], str] = {}  # (collection, number) -> artifact id

    def _writing(self, collection: str) -> threading.Lock:
        """One write at a time per collection in this process (cleanup runs threads): each
        reads the chain head and appends after it. Other processes are not covered (no CAS)."""
        with self._lock:
            return self._write_locks.setdefault(collection, threading.Lock())

    # -- transport --------------------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            if not self._api_key:
                raise AuthError(
                    "no W&B API key: set WANDB_API_KEY (in CI, a service account's key)",
                    hint="https://wandb.ai/authorize shows a personal key; service accounts have their own",
                )
            secrets.register(self._api_key)
            token = base64.b64encode(f"api:{self._api_key}".encode()).decode()
            secrets.register(token)
            self._transport = Transport(
                self.base_url,
                headers={"Authorization": f"Basic {token}", "User-Agent": f"aliasgate/{__version__}"},
                what="W&B API",
            )
        return self._transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    @property
    def where(self) -> str:
        return f"{self.entity}/{self.project}"

    def _post(self, document: str, variables: Mapping[str, Any], *, mutation: bool = False) -> dict[str, Any]:
        """One GraphQL request; returns the whole answer (``data`` and maybe ``errors``).

        HTTP-level failures raise here; GraphQL errors are the caller's to judge, since a
        document may have several fields that fail independently."""
        name = _operation_name(document)
        try:
            response = self.transport.request(
                "POST",
                "/graphql",
                idempotent=not mutation,
                json={"query": document, "variables": dict(variables), "operationName": name},
                retry_statuses=frozenset() if mutation else RETRY_READS,
            )
        except RegistryError as exc:
            if mutation:
                raise _OutcomeUnknown(f"{name}: {exc}") from None
            raise
        status = response.status_code
        if status == 401:
            raise AuthError(
                f"W&B rejected the API key in WANDB_API_KEY (HTTP 401 from {self._safe_base})",
                hint="check WANDB_API_KEY, and WANDB_BASE_URL for a dedicated or self-managed server",
            )
        if status == 403:
            raise AuthError(f"W&B refused {name} (HTTP 403): {self._viewer_name} lacks the permission")
        if status == 429:
            raise RegistryError(f"W&B kept rate-limiting {name} (HTTP 429); try again later")
        if status >= 500 and mutation:
            raise _OutcomeUnknown(f"{name}: W&B answered HTTP {status}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RegistryError(f"W&B answered {name} with HTTP {status} and no GraphQL response")
        if status >= 400 and not body.get("data"):
            messages = _messages(body.get("errors"))
            verb = "failed" if status >= 500 else "rejected"
            raise RegistryError(
                f"W&B {verb} {name} (HTTP {status}): {messages}",
                hint="the server may be older than this aliasgate supports (W&B server >= 0.70)"
                if "Cannot query field" in messages
                else None,
            )
        return body

    def _query(
        self, document: str, variables: Mapping[str, Any], *, model: str | None = None
    ) -> dict[str, Any]:
        self._ensure_bootstrap()
        body = self._post(document, variables)
        if body.get("errors"):
            raise self._error(body["errors"], model=model)
        data = body.get("data")
        if not isinstance(data, dict):
            raise RegistryError("W&B returned no data", model=model)
        return data

    def _error(self, errors: Any, *, model: str | None = None, version: int | None = None) -> RegistryError:
        text = _messages(errors)
        if any(w in text.lower() for w in PERMISSION_WORDS):
            return AuthError(f"W&B denied {self._viewer_name}: {text}", model=model, version=version)
        return RegistryError(f"W&B: {text}", model=model, version=version)

    @property
    def _safe_base(self) -> str:
        return secrets.strip_userinfo(self.base_url)

    @property
    def _viewer_name(self) -> str:
        return str((self._viewer or {}).get("username") or "this account")

    # -- identity and organization -----------------------------------------------------------

    def _ensure_bootstrap(self) -> None:
        """Viewer, server features and (for a registry) the org entity: one request, once."""
        if self._viewer is not None:
            return
        with self._lock:
            if self._viewer is None:
                self._bootstrap()

    def _bootstrap(self) -> None:
        org_of = self.project.startswith(REGISTRY_PREFIX) and self._given_entity is not None
        variables = {"entity": self._given_entity} if org_of else {}
        body = self._post(gql.bootstrap(features=True, org_of=org_of), variables)
        if body.get("errors") and "features" in _messages(body["errors"]):
            # Servers without serverInfo.features (the SDK reads this as "no features").
            body = self._post(gql.bootstrap(features=False, org_of=org_of), variables)
            body.setdefault("data", {})["serverInfo"] = {"features": []}
        data = body.get("data") or {}
        viewer = data.get("viewer")
        if not viewer:
            raise AuthError(
                f"W&B at {self._safe_base} does not accept the API key in WANDB_API_KEY (no viewer)",
                hint="check WANDB_API_KEY and WANDB_BASE_URL",
            )
        features = ((data.get("serverInfo") or {}).get("features")) or []
        self._features = {f["name"] for f in features if f.get("isEnabled")}
        if NEEDED_FEATURE not in self._features:
            raise RegistryError(
                f"the W&B server at {self._safe_base} does not report {NEEDED_FEATURE}; aliasgate reads "
                "versions by name as the wandb SDK >= 0.28 does, which needs W&B server >= 0.70"
            )
        if self._entity is None:
            self._entity = self._resolve_entity(viewer, data if org_of else None)
        self._viewer = viewer  # last: a failed bootstrap is tried again, never half-remembered

    def _resolve_entity(self, viewer: Mapping[str, Any], data: Mapping[str, Any] | None) -> str:
        if not self.project.startswith(REGISTRY_PREFIX):
            return str(self._given_entity or viewer.get("entity") or viewer["username"])
        if data is None:  # no entity in the URI or the environment: the viewer's default entity
            fallback = str(viewer.get("entity") or "")
            data = self._post(gql.ORG_OF_ENTITY, {"entity": fallback}).get("data") or {}
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
        self._ensure_bootstrap()
        assert self._entity is not None
        return self._entity

    def whoami(self) -> Principal:
        self._ensure_bootstrap()
        assert self._viewer is not None
        teams = [
            e["node"]["name"] for e in ((self._viewer.get("teams") or {}).get("edges") or []) if e.get("node")
        ]
        detail: dict[str, Any] = {"entity": self._viewer.get("entity"), "teams": teams}
        return Principal(
            str(self._viewer["username"]), authenticated=True, source="wandb viewer", detail=detail
        )

    # -- names -------------------------------------------------------------------------------

    def _collection_name(self, model: str) -> str:
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

    def _chain(self, collection: str) -> str:
        return f"{self.entity}/{self.project}/{collection}"

    def _here(self, collection: str) -> tuple[str, str, str]:
        return (self.entity, self.project, collection)

    def _vars(self, collection: str, **extra: Any) -> dict[str, Any]:
        return {"entity": self.entity, "project": self.project, "collection": collection, **extra}

    def _project_data(self, data: Mapping[str, Any], model: str) -> Mapping[str, Any]:
        project = data.get("project")
        if project is None:
            raise NotFound(
                f"W&B project {self.where} not found (or {self._viewer_name} cannot see it)", model=model
            )
        return project  # type: ignore[no-any-return]

    def _collection(self, project: Mapping[str, Any], model: str) -> _Collection:
        node = project.get("artifactCollection")
        if node is None:
            raise NotFound(f"no such artifact collection in {self.where}", model=model)
        return _Collection.from_gql(node)

    # -- reads -------------------------------------------------------------------------------

    def models(self) -> list[str]:
        names: list[str] = []
        cursor: str | None = None
        while True:
            data = self._query(
                gql.MODELS, {"entity": self.entity, "project": self.project, "cursor": cursor, "first": PAGE}
            )
            conn = self._project_data(data, self.where)["artifactCollections"]
            names += [e["node"]["name"] for e in conn["edges"] if e.get("node")]
            if not conn["pageInfo"]["hasNextPage"]:
                return sorted(set(names))
            cursor = conn["pageInfo"]["endCursor"]

    def aliases(self, model: str) -> dict[str, int]:
        c = self._collection_name(model)
        data = self._query(gql.ALIASES, self._vars(c, first=RECENT, filters=gql.COMMITTED), model=model)
        node = self._project_data(data, model).get("artifactCollection")
        if node is None:
            raise NotFound(f"no such artifact collection in {self.where}", model=model)
        names = [e["node"]["alias"] for e in node["aliases"]["edges"] if e.get("node")]
        page = node["aliases"]["pageInfo"]
        while page["hasNextPage"]:
            more = self._query(gql.MORE_ALIASES, {"id": node["id"], "cursor": page["endCursor"]}, model=model)
            conn = (more.get("artifactCollection") or {}).get("aliases") or {"edges": [], "pageInfo": {}}
            names += [e["node"]["alias"] for e in conn["edges"] if e.get("node")]
            page = {
                "hasNextPage": bool(conn["pageInfo"].get("hasNextPage")),
                "endCursor": conn["pageInfo"].get("endCursor"),
            }
        holders: dict[str, int] = {}
        for edge in node["artifacts"]["edges"]:
            version = self._version_from_artifact(model, c, _version_number(edge["version"]), edge["node"])
            for alias in version.aliases:
                holders[alias] = version.number
        missing = sorted({n for n in names if n != LATEST and n not in holders})
        if missing:
            found = self._memberships(model, c, [f"{c}:{a}" for a in missing])
            for alias, held in zip(missing, found, strict=True):
                if held is not None:
                    holders[alias] = held.number
        return {a: holders[a] for a in sorted(holders) if a != LATEST}

    def latest(self, model: str) -> int | None:
        c = self._collection_name(model)
        (version,) = self._memberships(model, c, [f"{c}:{LATEST}"])
        return None if version is None else version.number

    def version(self, model: str, number: int) -> Version:
        c = self._collection_name(model)
        cached = self._versions.get((c, number))
        if cached is not None:
            return _as_model(cached, model)
        (version,) = self._memberships(model, c, [f"{c}:v{number}"])
        if version is None:
            raise NotFound("no such version", model=model, version=number)
        return version

    def versions(self, model: str) -> list[Version]:
        c = self._collection_name(model)
        out: list[Version] = []
        cursor: str | None = None
        while True:
            data = self._query(
                gql.VERSIONS, self._vars(c, cursor=cursor, first=PAGE, filters=gql.COMMITTED), model=model
            )
            node = self._project_data(data, model).get("artifactCollection")
            if node is None:
                raise NotFound(f"no such artifact collection in {self.where}", model=model)
            conn = node["artifacts"]
            for edge in conn["edges"]:
                out.append(
                    self._version_from_artifact(model, c, _version_number(edge["version"]), edge["node"])
                )
            if not conn["pageInfo"]["hasNextPage"]:
                break
            cursor = conn["pageInfo"]["endCursor"]
        return sorted({v.number: v for v in out}.values(), key=lambda v: v.number, reverse=True)

    def _memberships(self, model: str, c: str, names: Sequence[str]) -> list[Version | None]:
        variables = self._vars(c, **{f"n{i}": n for i, n in enumerate(names)})
        data = self._query(gql.memberships(len(names)), variables, model=model)
        project = self._project_data(data, model)
        self._collection(project, model)
        out: list[Version | None] = []
        for i in range(len(names)):
            node = project.get(f"m{i}")
            if node is None:
                out.append(None)
                continue
            version = self._version_from_artifact(model, c, int(node["versionIndex"]), node["artifact"])
            out.append(version)
        return out

    def _version_from_artifact(self, model: str, c: str, number: int, art: Mapping[str, Any]) -> Version:
        here = self._here(c)
        aliases = sorted(
            a["alias"]
            for a in art.get("aliases") or []
            if a.get("artifactCollection")
            and _coll_path(a["artifactCollection"]) == here
            and a["alias"] != LATEST
        )
        metadata = _json_object(art.get("metadata"))
        metadata.pop(METADATA_KEY, None)
        run = art.get("createdBy") or {}
        is_run = run.get("__typename") == "Run"
        metrics: dict[str, Any] = {}
        if is_run:
            summary = _json_object(run.get("summaryMetrics"))
            metrics.update(_numbers(summary, skip_private=True))
        metrics.update(_numbers(metadata))
        lineage: list[VersionId] = []
        complete = False
        if is_run:
            inputs = run.get("inputArtifacts") or {}
            edges = inputs.get("edges") or []
            complete = int(inputs.get("totalCount") or 0) <= len(edges)
            for edge in edges:
                lineage += self._lineage_ids(edge.get("node") or {})
        seq = art["artifactSequence"]
        created_by = None
        if is_run:
            created_by = (run.get("user") or {}).get("username") or run.get("name")
        version = Version(
            model=model,
            number=number,
            created_at=parse_time(str(art["createdAt"])),
            created_by=created_by,
            aliases=tuple(aliases),
            metrics=metrics,
            metadata=metadata,
            lineage=tuple(sorted(set(lineage))),
            lineage_recorded=is_run and complete,
            source=f"{_project_path(seq.get('project')) or '?'}/{seq['name']}:v{art['versionIndex']}",
        )
        self._versions[(c, number)] = version
        return version

    def _lineage_ids(self, node: Mapping[str, Any]) -> list[VersionId]:
        """An input artifact as a version of a collection in this project, else by its full path."""
        ids = []
        for edge in (node.get("artifactMemberships") or {}).get("edges") or []:
            m = edge.get("node") or {}
            coll = m.get("artifactCollection")
            if (
                coll
                and _coll_path(coll)[:2] == (self.entity, self.project)
                and m.get("versionIndex") is not None
            ):
                ids.append(VersionId(coll["name"], int(m["versionIndex"])))
        if ids or not node.get("artifactSequence"):
            return ids
        seq = node["artifactSequence"]
        path = f"{_project_path(seq.get('project')) or '?'}/{seq['name']}"
        return [VersionId(path, int(node["versionIndex"]))]

    def audit_log(self, model: str) -> audit.AuditLog:
        c = self._collection_name(model)
        chain = self._chain(c)
        records: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        head: audit.Head | None = None
        while True:
            data = self._query(
                gql.AUDIT, self._vars(c, cursor=cursor, first=PAGE, filters=gql.COMMITTED), model=model
            )
            node = self._project_data(data, model).get("artifactCollection")
            if node is None:
                raise NotFound(f"no such artifact collection in {self.where}", model=model)
            head = _Collection.from_gql(node).head
            conn = node["artifacts"]
            for edge in conn["edges"]:
                for rec in _chain_records(_json_object(edge["node"].get("metadata")), chain):
                    records.setdefault(str(rec.get("hash")), rec)
            if not conn["pageInfo"]["hasNextPage"]:
                break
            cursor = conn["pageInfo"]["endCursor"]
        ordered = sorted(records.values(), key=lambda r: (int(r.get("seq") or 0), str(r.get("hash"))))
        return audit.AuditLog(c, ordered, head)

    # -- writes ------------------------------------------------------------------------------

    def apply(self, ops: Sequence[AliasOp], records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if len(ops) != len(records):
            raise ValueError("one audit record per op")
        if len(ops) > 1:
            raise InvalidInput(
                "W&B has no transactions: apply one alias move at a time (atomic_batches is False)"
            )
        out = []
        for op, body in zip(ops, records, strict=True):
            with self._writing(self._collection_name(op.model)):
                out.append(self._apply_one(op, body))
        return out

    def _read_targets(
        self, model: str, c: str, names: Sequence[str]
    ) -> tuple[_Collection, list[_Target | None]]:
        variables = self._vars(c, **{f"n{i}": n for i, n in enumerate(names)})
        data = self._query(gql.memberships(len(names), target=True), variables, model=model)
        project = self._project_data(data, model)
        coll = self._collection(project, model)
        here = self._here(c)
        found = [
            None if project.get(f"m{i}") is None else _Target.from_gql(project[f"m{i}"], here)
            for i in range(len(names))
        ]
        return coll, found

    def _apply_one(self, op: AliasOp, body: Mapping[str, Any]) -> dict[str, Any]:
        c = self._collection_name(op.model)
        if op.target is None and op.expected is None:
            raise InvalidInput(f"{op}: nothing to do")
        names = [f"{c}:{op.alias}"] + ([f"{c}:v{op.target}"] if op.target is not None else [])
        coll, found = self._read_targets(op.model, c, names)  # 1. immediately before writing
        holder = found[0]
        actual = None if holder is None else holder.number
        if actual != op.expected:
            raise conflict(op.model, op.alias, op.expected, actual)
        if op.target is not None:
            carrier = found[1]
            if carrier is None:
                raise NotFound("no such version", model=op.model, version=op.target)
        else:
            assert holder is not None
            carrier = holder
        if carrier.source_read_only:
            raise AuthError(
                f"{self._viewer_name} may not write the metadata of {carrier.source}, where aliasgate keeps "
                f"the audit record of {op.model}:v{carrier.number}; nothing was changed",
                hint="make the account a Member of the team that owns the source project",
            )
        sealed = audit.seal({**body, "model": c}, coll.head)
        self._write_alias(op, c, carrier if op.target is not None else holder)  # 2.
        self._versions.pop((c, carrier.number), None)
        if holder is not None:
            self._versions.pop((c, holder.number), None)
        try:  # 3. the record, the head, and a read of where the alias is now
            aliases_now = self._store(op.model, c, coll, carrier, sealed)
        except _RecordFailed as exc:
            raise self._undo_unrecorded(op, c, carrier, holder, exc) from None
        here = self._here(c)
        holds = any(
            a["alias"] == op.alias and _coll_path(a["artifactCollection"]) == here
            for a in aliases_now
            if a.get("artifactCollection")
        )
        if (op.target is not None) != holds:
            now = self._holder(op.model, c, op.alias)
            raise Conflict(
                f"{op.model}:{op.alias} was moved to {_show(now)} by another writer right after this move to "
                f"{_show(op.target)} (recorded as audit #{sealed['seq']}); W&B has no compare-and-swap",
                model=op.model,
                alias=op.alias,
                expected=op.target,
                actual=now,
            )
        return sealed

    def _write_alias(self, op: AliasOp, c: str, version: _Target | None) -> None:
        """addAliases/deleteAliases; when the outcome is unknown, read and decide, resend at most once."""
        assert version is not None
        adding = op.target is not None
        document = gql.ADD_ALIASES if adding else gql.DELETE_ALIASES
        variables = {
            "input": {
                "artifactID": version.artifact_id,
                "aliases": [
                    {
                        "entityName": self.entity,
                        "projectName": self.project,
                        "artifactCollectionName": c,
                        "alias": op.alias,
                    }
                ],
            }
        }
        for attempt in (1, 2):
            try:
                body = self._post(document, variables, mutation=True)
            except _OutcomeUnknown as exc:
                now = self._holder(op.model, c, op.alias)
                if now == op.target:
                    return  # it landed
                if now != op.expected or attempt == 2:
                    if now == op.expected:
                        raise RegistryError(
                            f"{exc}; {op.model}:{op.alias} is still on {_show(now)}"
                        ) from None
                    raise conflict(op.model, op.alias, op.expected, now) from None
                continue  # it did not land and nothing else moved: the precondition still holds
            if body.get("errors"):
                raise self._alias_error(op, version.number, body["errors"])
            return

    def _alias_error(self, op: AliasOp, number: int, errors: Any) -> RegistryError:
        err = self._error(errors, model=op.model, version=number)
        if not isinstance(err, AuthError):
            return err
        verb = "move" if op.target is not None else "remove"
        where = (
            f"registry {self.project}"
            if self.project.startswith(REGISTRY_PREFIX)
            else f"project {self.where}"
        )
        return AuthError(
            f"W&B denied {self._viewer_name} permission to {verb} alias {op.alias!r} "
            f"({_messages(errors)}). If {op.alias!r} is a protected alias of {where}, only registry Admins "
            "may move it; nothing was changed",
            model=op.model,
            version=number,
            hint="ask a registry Admin to give this account the Admin role (service accounts default to Member)",
        )

    def _holder(self, model: str, c: str, alias: str) -> int | None:
        _, (found,) = self._read_targets(model, c, [f"{c}:{alias}"])
        return None if found is None else found.number

    def _store(
        self, model: str, c: str, coll: _Collection, carrier: _Target, sealed: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Write the record into the carrier's metadata and the head into the description;
        returns the carrier's aliases as W&B reports them after the write."""
        chain = self._chain(c)
        head = audit.head_of(sealed)
        variables = {
            "artifact": {
                "artifactID": carrier.artifact_id,
                "metadata": _merged(carrier.metadata, chain, [sealed]),
            },
            "collection": _collection_input(coll, coll.with_head(head)),
        }
        try:
            body = self._post(gql.record(coll.typename), variables, mutation=True)
        except _OutcomeUnknown as exc:
            return self._verify_stored(model, c, carrier, sealed, head, exc)
        data = body.get("data") or {}
        record_ok = bool((data.get("record") or {}).get("artifact"))
        head_ok = bool((data.get("head") or {}).get("artifactCollection"))
        if not record_ok:
            if head_ok:  # never leave a head pointing at a record that is not there
                self._post(
                    gql.head_only(coll.typename),
                    {"collection": _collection_input(coll, coll.description)},
                    mutation=True,
                )
            raise _RecordFailed(_messages(body.get("errors")) or "no record stored")
        if not head_ok:
            again = self._post(
                gql.head_only(coll.typename),
                {"collection": _collection_input(coll, coll.with_head(head))},
                mutation=True,
            )
            if again.get("errors"):
                raise RegistryError(
                    f"audit record #{sealed['seq']} is stored on {model}:v{carrier.number} but the chain head in "
                    f"the collection description could not be updated ({_messages(again['errors'])}); "
                    "`history --verify` will report it",
                    model=model,
                )
        return list(data["record"]["artifact"].get("aliases") or [])

    def _verify_stored(
        self,
        model: str,
        c: str,
        carrier: _Target,
        sealed: Mapping[str, Any],
        head: audit.Head,
        cause: Exception,
    ) -> list[dict[str, Any]]:
        """The record write's outcome is unknown: read, then write only what is missing."""
        coll, (now,) = self._read_targets(model, c, [f"{c}:v{carrier.number}"])
        if now is None:
            raise _RecordFailed(f"{cause}; {model}:v{carrier.number} is gone")
        stored = any(r.get("hash") == sealed["hash"] for r in _chain_records(now.metadata, self._chain(c)))
        if not stored:
            return self._store(model, c, coll, now, sealed)
        if coll.head != head:
            self._post(
                gql.head_only(coll.typename),
                {"collection": _collection_input(coll, coll.with_head(head))},
                mutation=True,
            )
        _, (after,) = self._read_targets(model, c, [f"{c}:v{carrier.number}"])
        assert after is not None
        return [{"alias": a, "artifactCollection": _coll_node(self._here(c))} for a in after.aliases]

    def _undo_unrecorded(
        self, op: AliasOp, c: str, carrier: _Target, holder: _Target | None, exc: _RecordFailed
    ) -> RegistryError:
        """The move happened but its record could not be stored: put the alias back."""
        back = AliasOp(op.model, op.alias, op.target, op.expected)
        try:
            if op.expected is None:
                self._write_alias(AliasOp(op.model, op.alias, op.target, None), c, carrier)
            else:
                restore = holder if op.target is not None else carrier
                self._write_alias(back, c, restore)
        except RegistryError as undo_exc:
            return RegistryError(
                f"the audit record could not be stored ({exc}) and undoing the move failed ({undo_exc}): "
                f"{op.alias} is on {_show(op.target)} WITHOUT an audit record",
                model=op.model,
                version=op.target,
            )
        return RegistryError(
            f"the audit record could not be stored ({exc}); the move was undone ({op.alias} is back on "
            f"{_show(op.expected)})",
            model=op.model,
            version=op.target,
        )

    def delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        """Delete (artifact sequence) or unlink (registry portfolio) one version that holds no alias.

        Its audit records move first to the newest other version, which also receives the
        delete record; aliases are re-checked in the read right before the delete, and for a
        source artifact ``deleteAliases: false`` makes W&B itself refuse one that arrived since."""
        with self._writing(self._collection_name(model)):
            return self._delete_version(model, number, record)

    def _delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        c = self._collection_name(model)
        chain = self._chain(c)
        unlink = False
        coll, (target, newest) = self._read_targets(model, c, [f"{c}:v{number}", f"{c}:{LATEST}"])
        if target is None:
            raise NotFound("no such version", model=model, version=number)
        unlink = coll.typename == "ArtifactPortfolio"
        self._refuse_if_held(model, number, target, unlink=unlink)
        carrier = (
            newest if newest is not None and newest.number != number else self._carrier(model, c, number)
        )
        if carrier.source_read_only:  # the records could not be kept: refuse before deleting
            raise AuthError(
                f"{self._viewer_name} may not write the metadata of {carrier.source}, where the audit "
                f"records of {model} would go; v{number} was not deleted",
                model=model,
                version=number,
            )
        mine = _chain_records(target.metadata, chain)
        if mine:  # move this version's records first, so deleting it loses none
            moved = self._post(
                gql.record(None),
                {
                    "artifact": {
                        "artifactID": carrier.artifact_id,
                        "metadata": _merged(carrier.metadata, chain, mine),
                    }
                },
                mutation=True,
            )
            if moved.get("errors"):
                raise self._error(moved["errors"], model=model, version=carrier.number)
            carrier.metadata = _json_object(moved["data"]["record"]["artifact"]["metadata"])
            coll, (target,) = self._read_targets(model, c, [f"{c}:v{number}"])  # re-check right before
            if target is None:
                raise NotFound("no such version", model=model, version=number)
            self._refuse_if_held(model, number, target, unlink=unlink)
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
            variables = {
                "input": {"artifactID": target.artifact_id, "deleteAliases": LATEST in target.aliases}
            }
        try:
            body = self._post(document, variables, mutation=True)
        except _OutcomeUnknown as exc:
            _, (still,) = self._read_targets(model, c, [f"{c}:v{number}"])
            if still is not None:
                raise RegistryError(
                    f"{exc}; v{number} was not deleted", model=model, version=number
                ) from None
        else:
            if body.get("errors"):
                err = self._error(body["errors"], model=model, version=number)
                if "alias" in err.message.lower() and not isinstance(err, AuthError):
                    raise Conflict(
                        f"{model}:v{number} gained an alias; not deleted ({err.message})", model=model
                    )
                raise err
        self._versions.pop((c, number), None)
        self._versions.pop((c, carrier.number), None)
        try:
            self._store(model, c, coll, carrier, sealed)
        except _RecordFailed as exc:
            raise RegistryError(
                f"v{number} was deleted but its audit record could not be stored: {exc}", model=model
            ) from None
        return sealed

    def _refuse_if_held(self, model: str, number: int, target: _Target, *, unlink: bool) -> None:
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

    def _carrier(self, model: str, c: str, number: int) -> _Target:
        """The newest other live version: where this version's records and its delete record go."""
        data = self._query(gql.NEWEST, self._vars(c, first=3, filters=gql.COMMITTED), model=model)
        node = self._project_data(data, model).get("artifactCollection")
        if node is None:
            raise NotFound(f"no such artifact collection in {self.where}", model=model)
        for edge in node["artifacts"]["edges"]:
            n = _version_number(edge["version"])
            if n != number:
                _, (found,) = self._read_targets(model, c, [f"{c}:v{n}"])
                if found is not None:
                    return found
        raise RegistryError(
            f"v{number} is the last version of {model}; aliasgate keeps audit records in versions, "
            "so it does not delete the last one",
            model=model,
            version=number,
        )

    # -- native TTL (``promote cleanup --native-ttl``) ---------------------------------------------

    def ttl_states(self, model: str, numbers: Sequence[int]) -> dict[int, TtlState]:
        """The TTL of each live version among ``numbers``, read by name in batches."""
        c = self._collection_name(model)
        out: dict[int, TtlState] = {}
        wanted = sorted(set(numbers))
        for start in range(0, len(wanted), TTL_BATCH):
            batch = wanted[start : start + TTL_BATCH]
            variables = self._vars(c, **{f"n{i}": f"{c}:v{n}" for i, n in enumerate(batch)})
            project = self._project_data(
                self._query(gql.ttl_states(len(batch)), variables, model=model), model
            )
            if project.get("artifactCollection") is None:
                raise NotFound(f"no such artifact collection in {self.where}", model=model)
            for i in range(len(batch)):
                node = project.get(f"m{i}")
                if node is None or (node.get("artifact") or {}).get("state") != "COMMITTED":
                    continue
                art = node["artifact"]
                number = int(node["versionIndex"])
                self._ttl_ids[(c, number)] = str(art["id"])
                out[number] = TtlState.from_wandb(
                    art.get("ttlDurationSeconds"),
                    art.get("ttlIsInherited"),
                    artifact_type=str((art.get("artifactType") or {}).get("name") or ""),
                    registry_linked=self.project.startswith(REGISTRY_PREFIX) or _registry_linked(art),
                )
        return out

    def set_ttl(self, model: str, number: int, seconds: int) -> None:
        """``updateArtifact`` with ``ttlDurationSeconds`` alone (metadata, description and tags are
        not sent, so they stay as they are). W&B may answer success and ignore it: re-read."""
        c = self._collection_name(model)
        artifact_id = self._ttl_ids.get((c, number))
        if artifact_id is None:
            if number not in self.ttl_states(model, [number]):
                raise NotFound("no such version", model=model, version=number)
            artifact_id = self._ttl_ids[(c, number)]
        variables = {"input": {"artifactID": artifact_id, "ttlDurationSeconds": int(seconds)}}
        for attempt in (1, 2):
            try:
                body = self._post(gql.SET_TTL, variables, mutation=True)
            except _OutcomeUnknown as exc:
                if attempt == 2:
                    raise RegistryError(str(exc), model=model, version=number) from None
                continue  # writing the same TTL twice changes nothing: sending it again is safe
            if body.get("errors"):
                raise self._error(body["errors"], model=model, version=number)
            return

    def append_record(self, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Seal ``record`` after the chain head and store it on the newest version, like a move's."""
        c = self._collection_name(model)
        with self._writing(c):
            coll, (carrier,) = self._read_targets(model, c, [f"{c}:{LATEST}"])
            if carrier is None:
                raise NotFound(f"{model} has no versions to carry its audit record", model=model)
            if carrier.source_read_only:
                raise AuthError(
                    f"{self._viewer_name} may not write the metadata of {carrier.source}, where the audit "
                    f"records of {model} go",
                    model=model,
                    version=carrier.number,
                )
            sealed = audit.seal({**record, "model": c}, coll.head)
            try:
                self._store(model, c, coll, carrier, sealed)
            except _RecordFailed as exc:
                raise RegistryError(f"the audit record could not be stored: {exc}", model=model) from None
            self._versions.pop((c, carrier.number), None)
            return sealed


class _RecordFailed(Exception):
    pass


# -- helpers ---------------------------------------------------------------------------------------


def _operation_name(document: str) -> str:
    m = re.search(r"\b(?:query|mutation)\s+(\w+)", document)
    return m.group(1) if m else "query"


def _messages(errors: Any) -> str:
    if not errors:
        return ""
    if isinstance(errors, list):
        texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
    else:
        texts = [str(errors)]
    return secrets.redact("; ".join(texts))


def _json_object(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return dict(text)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _numbers(values: Mapping[str, Any], *, skip_private: bool = False, prefix: str = "") -> dict[str, float]:
    """Numeric leaves as metrics; nested mappings flatten to ``a.b``. W&B's own ``_step``,
    ``_runtime`` and ``_timestamp`` are not metrics."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if skip_private and not prefix and str(key).startswith("_"):
            continue
        if key == METADATA_KEY and not prefix:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[name] = value
        elif isinstance(value, Mapping):
            out.update(_numbers(value, prefix=f"{name}."))
    return out


def _registry_linked(art: Mapping[str, Any]) -> bool:
    """Linked into a W&B Registry (or legacy Model Registry) collection: W&B allows no TTL there."""
    for edge in (art.get("artifactMemberships") or {}).get("edges") or []:
        coll = (edge.get("node") or {}).get("artifactCollection") or {}
        project = _coll_path(coll)[1] if coll else ""
        if coll.get("__typename") == "ArtifactPortfolio" and (
            project.startswith(REGISTRY_PREFIX) or project == LEGACY_REGISTRY
        ):
            return True
    return False


def _coll_path(node: Mapping[str, Any]) -> tuple[str, str, str]:
    project = node.get("project") or {}
    return (str((project.get("entity") or {}).get("name")), str(project.get("name")), str(node.get("name")))


def _project_path(project: Mapping[str, Any] | None) -> str | None:
    if not project:
        return None
    return f"{(project.get('entity') or {}).get('name')}/{project.get('name')}"


def _coll_node(path: tuple[str, str, str]) -> dict[str, Any]:
    return {"name": path[2], "project": {"name": path[1], "entity": {"name": path[0]}}}


def _version_number(text: str) -> int:
    return int(str(text).lstrip("v"))


def _chain_records(metadata: Mapping[str, Any], chain: str) -> list[dict[str, Any]]:
    ours = metadata.get(METADATA_KEY)
    if not isinstance(ours, Mapping):
        return []
    trail = (ours.get("audit") or {}).get(chain) if isinstance(ours.get("audit"), Mapping) else None
    return [dict(r) for r in trail if isinstance(r, Mapping)] if isinstance(trail, list) else []


def _merged(metadata: Mapping[str, Any], chain: str, new: Iterable[Mapping[str, Any]]) -> str:
    """The metadata with records appended to this chain (deduplicated); every other key kept."""
    out = dict(metadata)
    ours = dict(out.get(METADATA_KEY) or {}) if isinstance(out.get(METADATA_KEY), Mapping) else {}
    trails = dict(ours.get("audit") or {}) if isinstance(ours.get("audit"), Mapping) else {}
    trail = _chain_records(metadata, chain)
    seen = {r.get("hash") for r in trail}
    for rec in new:
        if rec.get("hash") not in seen:
            trail.append(dict(rec))
            seen.add(rec.get("hash"))
    trails[chain] = sorted(trail, key=lambda r: int(r.get("seq") or 0))
    ours["audit"] = trails
    out[METADATA_KEY] = ours
    return json.dumps(out, allow_nan=False)


def _collection_input(coll: _Collection, description: str) -> dict[str, Any]:
    key = "artifactPortfolioID" if coll.typename == "ArtifactPortfolio" else "artifactSequenceID"
    return {key: coll.id, "description": description}


def _as_model(version: Version, model: str) -> Version:
    if version.model == model:
        return version
    from dataclasses import replace

    return replace(version, model=model)


def _show(number: int | None) -> str:
    return "nothing" if number is None else f"v{number}"
