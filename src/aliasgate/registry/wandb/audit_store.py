"""Where the audit trail lives on W&B, and how it is written and read.

Records live in the metadata of a version under ``aliasgate.audit[<entity>/<project>/<collection>]``
(merged, never replacing other keys); the chain head is a line ``aliasgate-audit-head: {...}`` in
the collection description, written in the same request as the record, so ``history --verify``
catches a deleted newest record. Reading the trail collects the records of every live version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aliasgate import audit
from aliasgate.errors import AuthError, NotFound, RegistryError
from aliasgate.model import LATEST
from aliasgate.registry.wandb import documents as gql
from aliasgate.registry.wandb.client import OutcomeUnknown, messages
from aliasgate.registry.wandb.project import Project
from aliasgate.registry.wandb.reads import METADATA_KEY
from aliasgate.registry.wandb.shapes import Collection, Target, coll_node, json_object


class RecordFailed(Exception):
    """The record could not be stored (nothing, or only a head that was put back, was written)."""


def chain_records(metadata: Mapping[str, Any], chain: str) -> list[dict[str, Any]]:
    ours = metadata.get(METADATA_KEY)
    if not isinstance(ours, Mapping):
        return []
    trail = (ours.get("audit") or {}).get(chain) if isinstance(ours.get("audit"), Mapping) else None
    return [dict(r) for r in trail if isinstance(r, Mapping)] if isinstance(trail, list) else []


def merged(metadata: Mapping[str, Any], chain: str, new: Iterable[Mapping[str, Any]]) -> str:
    """The metadata with records appended to this chain (deduplicated); every other key kept."""
    out = dict(metadata)
    ours = dict(out.get(METADATA_KEY) or {}) if isinstance(out.get(METADATA_KEY), Mapping) else {}
    trails = dict(ours.get("audit") or {}) if isinstance(ours.get("audit"), Mapping) else {}
    trail = chain_records(metadata, chain)
    seen = {r.get("hash") for r in trail}
    for rec in new:
        if rec.get("hash") not in seen:
            trail.append(dict(rec))
            seen.add(rec.get("hash"))
    trails[chain] = sorted(trail, key=lambda r: int(r.get("seq") or 0))
    ours["audit"] = trails
    out[METADATA_KEY] = ours
    return json.dumps(out, allow_nan=False)


def audit_log(p: Project, model: str) -> audit.AuditLog:
    c = p.collection_name(model)
    chain = p.chain(c)
    records: dict[str, dict[str, Any]] = {}
    head: audit.Head | None = None
    for node in p.pages(gql.AUDIT, model, c):
        head = Collection.from_gql(node).head
        for edge in node["artifacts"]["edges"]:
            for rec in chain_records(json_object(edge["node"].get("metadata")), chain):
                records.setdefault(str(rec.get("hash")), rec)
    ordered = sorted(records.values(), key=lambda r: (int(r.get("seq") or 0), str(r.get("hash"))))
    return audit.AuditLog(c, ordered, head)


def refuse_read_only(p: Project, model: str, carrier: Target, consequence: str, **where: Any) -> None:
    """AuthError when the carrier's metadata is not ours to write (the record could not be kept)."""
    if carrier.source_read_only:
        raise AuthError(
            f"{p.client.viewer_name} may not write the metadata of {carrier.source}, where the audit "
            f"records of {model} {consequence}",
            model=model,
            **where,
        )


def store(
    p: Project, model: str, c: str, coll: Collection, carrier: Target, sealed: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Write the record into the carrier's metadata and the head into the description;
    returns the carrier's aliases as W&B reports them after the write."""
    head = audit.head_of(sealed)
    variables = {
        "artifact": {
            "artifactID": carrier.artifact_id,
            "metadata": merged(carrier.metadata, p.chain(c), [sealed]),
        },
        "collection": coll.update_input(coll.with_head(head)),
    }
    try:
        body = p.client.post(gql.record(coll.typename), variables, mutation=True)
    except OutcomeUnknown as exc:
        return _verify_stored(p, model, c, carrier, sealed, head, exc)
    data = body.get("data") or {}
    record_ok = bool((data.get("record") or {}).get("artifact"))
    head_ok = bool((data.get("head") or {}).get("artifactCollection"))
    if not record_ok:
        if head_ok:  # never leave a head pointing at a record that is not there
            write_head(p, coll, coll.description)
        raise RecordFailed(messages(body.get("errors")) or "no record stored")
    if not head_ok:
        again = write_head(p, coll, coll.with_head(head))
        if again.get("errors"):
            raise RegistryError(
                f"audit record #{sealed['seq']} is stored on {model}:v{carrier.number} but the chain head in "
                f"the collection description could not be updated ({messages(again['errors'])}); "
                "`history --verify` will report it",
                model=model,
            )
    return list(data["record"]["artifact"].get("aliases") or [])


def write_head(p: Project, coll: Collection, description: str) -> dict[str, Any]:
    return p.client.post(
        gql.head_only(coll.typename), {"collection": coll.update_input(description)}, mutation=True
    )


def _verify_stored(
    p: Project,
    model: str,
    c: str,
    carrier: Target,
    sealed: Mapping[str, Any],
    head: audit.Head,
    cause: Exception,
) -> list[dict[str, Any]]:
    """The record write's outcome is unknown: read, then write only what is missing."""
    coll, (now,) = p.read_targets(model, c, [f"{c}:v{carrier.number}"])
    if now is None:
        raise RecordFailed(f"{cause}; {model}:v{carrier.number} is gone")
    stored = any(r.get("hash") == sealed["hash"] for r in chain_records(now.metadata, p.chain(c)))
    if not stored:
        return store(p, model, c, coll, now, sealed)
    if coll.head != head:
        write_head(p, coll, coll.with_head(head))
    _, (after,) = p.read_targets(model, c, [f"{c}:v{carrier.number}"])
    assert after is not None
    return [{"alias": a, "artifactCollection": coll_node(p.here(c))} for a in after.aliases]


def relocate(p: Project, model: str, c: str, source: Target, carrier: Target) -> bool:
    """Copy ``source``'s records of this chain to ``carrier`` (before ``source`` is deleted);
    False when it has none."""
    chain = p.chain(c)
    mine = chain_records(source.metadata, chain)
    if not mine:
        return False
    variables = {
        "artifact": {"artifactID": carrier.artifact_id, "metadata": merged(carrier.metadata, chain, mine)}
    }
    moved = p.client.post(gql.record(None), variables, mutation=True)
    if moved.get("errors"):
        raise p.client.error(moved["errors"], model=model, version=carrier.number)
    carrier.metadata = json_object(moved["data"]["record"]["artifact"]["metadata"])
    return True


def append_record(p: Project, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Seal ``record`` after the chain head and store it on the newest version, like a move's."""
    c = p.collection_name(model)
    with p.writing(c):
        coll, (carrier,) = p.read_targets(model, c, [f"{c}:{LATEST}"])
        if carrier is None:
            raise NotFound(f"{model} has no versions to carry its audit record", model=model)
        refuse_read_only(p, model, carrier, "go", version=carrier.number)
        sealed = audit.seal({**record, "model": c}, coll.head)
        try:
            store(p, model, c, coll, carrier, sealed)
        except RecordFailed as exc:
            raise RegistryError(f"the audit record could not be stored: {exc}", model=model) from None
        p.versions.pop((c, carrier.number), None)
        return sealed
