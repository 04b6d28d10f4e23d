"""Reads: model names, alias holders, versions with metrics, metadata and lineage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from aliasgate.errors import NotFound
from aliasgate.model import LATEST, Version, VersionId, parse_time
from aliasgate.registry.wandb import documents as gql
from aliasgate.registry.wandb.project import PAGE, Project
from aliasgate.registry.wandb.shapes import (
    coll_path,
    edges,
    json_object,
    need,
    next_cursor,
    project_path,
    version_number,
)

METADATA_KEY = "aliasgate"  # the top-level metadata key that holds aliasgate's records
RECENT = 10  # newest versions read with the alias names: usually every holder is among them


def models(p: Project) -> list[str]:
    names: list[str] = []
    cursor: str | None = None
    while True:
        data = p.query(
            gql.MODELS, {"entity": p.entity, "project": p.project, "cursor": cursor, "first": PAGE}
        )
        project = p.project_data(data, p.where)
        names += [str(e["node"]["name"]) for e in edges(project, "artifactCollections") if e.get("node")]
        cursor = next_cursor(project["artifactCollections"])
        if cursor is None:
            return sorted(set(names))


def aliases(p: Project, model: str) -> dict[str, int]:
    c = p.collection_name(model)
    data = p.query(gql.ALIASES, p.vars(c, first=RECENT, filters=gql.COMMITTED), model=model)
    node = p.collection_data(data, model)
    names = [e["node"]["alias"] for e in edges(node, "aliases", model) if e.get("node")]
    cursor = next_cursor(node["aliases"], model)
    while cursor is not None:
        more = p.query(gql.MORE_ALIASES, {"id": need(node, "id", model), "cursor": cursor}, model=model)
        coll = need(more, "artifactCollection", model)
        names += [e["node"]["alias"] for e in edges(coll, "aliases", model) if e.get("node")]
        cursor = next_cursor(coll["aliases"], model)
    holders: dict[str, int] = {}
    for edge in edges(node, "artifacts", model):
        version = from_artifact(
            p, model, c, version_number(need(edge, "version", model)), need(edge, "node", model)
        )
        for alias in version.aliases:
            holders[alias] = version.number
    missing = sorted({n for n in names if n != LATEST and n not in holders})
    if missing:
        found = memberships(p, model, c, [f"{c}:{a}" for a in missing])
        for alias, held in zip(missing, found, strict=True):
            if held is not None:
                holders[alias] = held.number
    return {a: holders[a] for a in sorted(holders) if a != LATEST}


def latest(p: Project, model: str) -> int | None:
    c = p.collection_name(model)
    (version,) = memberships(p, model, c, [f"{c}:{LATEST}"])
    return None if version is None else version.number


def version(p: Project, model: str, number: int) -> Version:
    c = p.collection_name(model)
    cached = p.versions.get((c, number))
    if cached is not None:
        return cached if cached.model == model else replace(cached, model=model)
    (found,) = memberships(p, model, c, [f"{c}:v{number}"])
    if found is None:
        raise NotFound("no such version", model=model, version=number)
    return found


def versions(p: Project, model: str) -> list[Version]:
    c = p.collection_name(model)
    out: list[Version] = []
    for node in p.pages(gql.VERSIONS, model, c):
        for edge in edges(node, "artifacts", model):
            number = version_number(need(edge, "version", model))
            out.append(from_artifact(p, model, c, number, need(edge, "node", model)))
    return sorted({v.number: v for v in out}.values(), key=lambda v: v.number, reverse=True)


def memberships(p: Project, model: str, c: str, names: Sequence[str]) -> list[Version | None]:
    variables = p.vars(c, **{f"n{i}": n for i, n in enumerate(names)})
    data = p.query(gql.memberships(len(names)), variables, model=model)
    project = p.project_data(data, model)
    p.collection_data(data, model)
    out: list[Version | None] = []
    for i in range(len(names)):
        node = project.get(f"m{i}")
        if node is None:
            out.append(None)
            continue
        number = int(need(node, "versionIndex", model))
        out.append(from_artifact(p, model, c, number, need(node, "artifact", model)))
    return out


def from_artifact(p: Project, model: str, c: str, number: int, art: Mapping[str, Any]) -> Version:
    here = p.here(c)
    held = sorted(
        a["alias"]
        for a in art.get("aliases") or []
        if a
        and a.get("artifactCollection")
        and coll_path(a["artifactCollection"]) == here
        and a["alias"] != LATEST
    )
    metadata = json_object(art.get("metadata"))
    metadata.pop(METADATA_KEY, None)
    run = art.get("createdBy") or {}
    is_run = run.get("__typename") == "Run"
    metrics: dict[str, Any] = {}
    if is_run:
        metrics.update(numbers(json_object(run.get("summaryMetrics")), skip_private=True))
    metrics.update(numbers(metadata))
    lineage: list[VersionId] = []
    complete = False
    if is_run:
        inputs = run.get("inputArtifacts") or {}
        used = inputs.get("edges") or []
        complete = int(inputs.get("totalCount") or 0) <= len(used)
        for edge in used:
            lineage += _lineage_ids(p, (edge or {}).get("node") or {})
    seq = need(art, "artifactSequence", model)
    linked = seq.get("project") and coll_path(seq) != here and art.get("versionIndex") is not None
    origin = VersionId("/".join(coll_path(seq)), int(art["versionIndex"])) if linked else None
    created_by = None
    if is_run:
        created_by = (run.get("user") or {}).get("username") or run.get("name")
    version = Version(
        model=model,
        number=number,
        created_at=parse_time(str(need(art, "createdAt", model))),
        created_by=created_by,
        aliases=tuple(held),
        metrics=metrics,
        metadata=metadata,
        lineage=tuple(sorted(set(lineage))),
        lineage_recorded=is_run and complete,
        published_from=origin,  # a link: the version of the sequence it was logged to
        source=f"{project_path(seq.get('project')) or '?'}/{seq.get('name')}:v{art.get('versionIndex')}",
    )
    p.versions[(c, number)] = version
    return version


def _lineage_ids(p: Project, node: Mapping[str, Any]) -> list[VersionId]:
    """An input artifact as a version of a collection in this project, else by its full path."""
    ids = []
    for edge in (node.get("artifactMemberships") or {}).get("edges") or []:
        m = (edge or {}).get("node") or {}
        coll = m.get("artifactCollection")
        if coll and coll_path(coll)[:2] == (p.entity, p.project) and m.get("versionIndex") is not None:
            ids.append(VersionId(coll["name"], int(m["versionIndex"])))
    if ids or not node.get("artifactSequence") or node.get("versionIndex") is None:
        return ids
    seq = node["artifactSequence"]
    path = f"{project_path(seq.get('project')) or '?'}/{seq['name']}"
    return [VersionId(path, int(node["versionIndex"]))]


def numbers(values: Mapping[str, Any], *, skip_private: bool = False, prefix: str = "") -> dict[str, float]:
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
            out.update(numbers(value, prefix=f"{name}."))
    return out
