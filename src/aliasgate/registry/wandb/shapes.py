"""What W&B's answers mean: a version as a write sees it, a collection with its chain head,
and the small decoders every module of the backend shares."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aliasgate import audit
from aliasgate.errors import RegistryError
from aliasgate.model import LATEST

REGISTRY_PREFIX = "wandb-registry-"
LEGACY_REGISTRY = "model-registry"  # a team's legacy Model Registry project
HEAD_MARKER = "aliasgate-audit-head:"
HEAD_RE = re.compile(r"^aliasgate-audit-head: (\{.*\})[ \t]*$", re.MULTILINE)

Path = tuple[str, str, str]  # entity, project, collection


@dataclass
class Target:
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
    def from_gql(cls, node: Mapping[str, Any], here: Path, model: str | None = None) -> Target:
        art = need(node, "artifact", model)
        seq = need(art, "artifactSequence", model)
        elsewhere = []
        for edge in (art.get("artifactMemberships") or {}).get("edges") or []:
            coll = (edge.get("node") or {}).get("artifactCollection")
            if coll and coll_path(coll) != here:
                elsewhere.append("/".join(coll_path(coll)))
        other_aliases = [
            f"{'/'.join(coll_path(a['artifactCollection']))}:{a['alias']}"
            for a in art.get("aliases") or []
            if a
            and a.get("artifactCollection")
            and coll_path(a["artifactCollection"]) != here
            and a["alias"] != LATEST
        ]
        return cls(
            number=int(need(node, "versionIndex", model)),
            artifact_id=str(need(art, "id", model)),
            metadata=json_object(art.get("metadata")),
            aliases=[a["alias"] for a in node.get("aliases") or [] if a and a.get("alias")],
            source=project_path(seq.get("project")) or f"the source project of {seq['name']}",
            # An invisible source project is one we cannot write (as the SDK judges it).
            source_read_only=seq.get("project") is None or bool(seq["project"].get("readOnly")),
            other_collections=elsewhere,
            other_aliases=other_aliases,
        )


@dataclass
class Collection:
    id: str
    typename: str
    name: str
    description: str

    @classmethod
    def from_gql(cls, node: Mapping[str, Any], model: str | None = None) -> Collection:
        return cls(
            str(need(node, "id", model)),
            str(node.get("__typename")),
            str(node.get("name")),
            node.get("description") or "",
        )

    @property
    def head(self) -> audit.Head | None:
        found = HEAD_RE.findall(self.description)
        return audit.decode_head(found[-1]) if found else None

    def with_head(self, head: audit.Head) -> str:
        """The description with our head line replaced (or appended); the rest is the user's."""
        line = f"{HEAD_MARKER} {audit.encode_head(head)}"
        if HEAD_RE.search(self.description):
            return HEAD_RE.sub(lambda _: line, self.description)
        return f"{self.description.rstrip()}\n\n{line}" if self.description.strip() else line

    def update_input(self, description: str) -> dict[str, Any]:
        """``UpdateArtifactSequenceInput`` / ``UpdateArtifactPortfolioInput`` for the description."""
        key = "artifactPortfolioID" if self.typename == "ArtifactPortfolio" else "artifactSequenceID"
        return {key: self.id, "description": description}


def json_object(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return dict(text)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def coll_path(node: Mapping[str, Any]) -> Path:
    project = node.get("project") or {}
    return (str((project.get("entity") or {}).get("name")), str(project.get("name")), str(node.get("name")))


def project_path(project: Mapping[str, Any] | None) -> str | None:
    if not project:
        return None
    return f"{(project.get('entity') or {}).get('name')}/{project.get('name')}"


def coll_node(path: Path) -> dict[str, Any]:
    return {"name": path[2], "project": {"name": path[1], "entity": {"name": path[0]}}}


def version_number(text: str) -> int:
    return int(str(text).lstrip("v"))


def need(node: Mapping[str, Any] | None, key: str, model: str | None = None) -> Any:
    """``node[key]`` where W&B may answer null (the SDK types the field nullable): a clean error."""
    value = node.get(key) if isinstance(node, Mapping) else None
    if value is None:
        raise RegistryError(
            f"W&B answered null for {key!r} where aliasgate needs it; try again, and report it if it persists",
            model=model,
        )
    return value


def edges(node: Mapping[str, Any] | None, key: str, model: str | None = None) -> list[Mapping[str, Any]]:
    """The edges of the connection ``node[key]`` (null connection: a clean error; null edges skipped)."""
    return [e for e in need(node, key, model).get("edges") or [] if isinstance(e, Mapping)]


def next_cursor(conn: Mapping[str, Any], model: str | None = None) -> str | None:
    """The cursor of the next page, or None on the last page."""
    page = need(conn, "pageInfo", model)
    if not page.get("hasNextPage"):
        return None
    return str(need(page, "endCursor", model))
