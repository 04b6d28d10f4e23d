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
from aliasgate.errors import AuthError, NotFound, OutcomeUnknown, RegistryError
from aliasgate.model import LATEST
from aliasgate.registry.wandb import documents as gql
from aliasgate.registry.wandb.client import messages
from aliasgate.registry.wandb.project import Project
from aliasgate.registry.wandb.reads import METADATA_KEY
from aliasgate.registry.wandb.shapes import (
    Collection,
    Target,
    coll_node,
    edges,
    json_object,
    need,
    version_number,
)


class RecordFailed(Exception):
    """The record could not be stored (nothing, or only a head that was put back, was written)."""


#: The wandb SDK refuses an artifact with more top-level metadata keys, when it is created or
#: edited and whenever it is loaded (``wandb/sdk/artifacts/_validators.py``:
#: ``MAX_ARTIFACT_METADATA_KEYS`` in ``validate_metadata``). A record never makes a version cross it.
SDK_MAX_METADATA_KEYS = 100
CARRIER_SEARCH = 100  # newest versions looked at for one with room for a record


def has_room(metadata: Mapping[str, Any]) -> bool:
    """Whether the version can carry aliasgate's key and stay within the SDK's limit."""
    return len({*metadata, METADATA_KEY}) <= SDK_MAX_METADATA_KEYS


def _trails(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    ours = metadata.get(METADATA_KEY)
    trails = ours.get("audit") if isinstance(ours, Mapping) else None
    return trails if isinstance(trails, Mapping) else {}


def chain_records(metadata: Mapping[str, Any], chain: str) -> list[dict[str, Any]]:
    """This chain's records; also those stored under a case variant of its key (W&B names are
    case-insensitive, and an older aliasgate keyed them as the URI spelled them)."""
    out: list[dict[str, Any]] = []
    for key, trail in _trails(metadata).items():
        if str(key).casefold() == chain.casefold() and isinstance(trail, list):
            out += [dict(r) for r in trail if isinstance(r, Mapping)]
    return out


def merged(metadata: Mapping[str, Any], chain: str, new: Iterable[Mapping[str, Any]]) -> str:
    """The metadata with records appended to this chain (deduplicated, case variants of its key
    folded into it); every other key kept."""
    out = dict(metadata)
    ours = dict(out.get(METADATA_KEY) or {}) if isinstance(out.get(METADATA_KEY), Mapping) else {}
    trails = {k: v for k, v in _trails(metadata).items() if str(k).casefold() != chain.casefold()}
    trail: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for rec in [*chain_records(metadata, chain), *new]:
        if rec.get("hash") not in seen:
            trail.append(dict(rec))
            seen.add(rec.get("hash"))
    trails[chain] = sorted(trail, key=lambda r: int(r.get("seq") or 0))
    ours["audit"] = trails
    out[METADATA_KEY] = ours
    return json.dumps(out, allow_nan=False)


def find_carrier(p: Project, model: str, c: str, *, exclude: int | None = None) -> Target:
    """The newest live version (other than ``exclude``) that can carry a record within the SDK's
    metadata limit. Raises before anything is written when there is none."""
    data = p.query(gql.NEWEST, p.vars(c, first=CARRIER_SEARCH, filters=gql.COMMITTED), model=model)
    others = 0
    for edge in edges(p.collection_data(data, model), "artifacts", model):
        n = version_number(need(edge, "version", model))
        if n == exclude:
            continue
        others += 1
        if has_room(json_object((edge.get("node") or {}).get("metadata"))):
            _, (found,) = p.read_targets(model, c, [f"{c}:v{n}"])
            if found is not None and has_room(found.metadata):
                return found
    if not others:
        raise RegistryError(
            f"v{exclude} is the last version of {model}; aliasgate keeps audit records in versions, "
            "so it does not delete the last one",
            model=model,
            version=exclude,
        )
    raise RegistryError(
        f"no version of {model} has room for aliasgate's audit record: each has "
        f"{SDK_MAX_METADATA_KEYS} top-level metadata keys, the most the wandb SDK loads, so one more "
        "key would make it unreadable for every SDK user; nothing was changed",
        model=model,
        hint="nest some of the versions' metadata under fewer top-level keys",
    )


#: Said with every verification of a W&B chain.
LIMITS = (
    "on W&B the chain head is a line of the collection description, which every Member of the project "
    "or registry may edit: a record is vouched for by those who may move the collection's ordinary "
    "aliases, not only by the Admins who may move a protected one; W&B does not tell who wrote a "
    "version's metadata"
)


def audit_log(p: Project, model: str) -> audit.AuditLog:
    """The chain as the head in the collection description vouches for it: records planted in a
    version's metadata by whoever may write it (a source project's members) are extras."""
    c = p.collection_name(model)
    chain = p.chain(c)
    stored: list[audit.Stored] = []
    head: audit.Head | None = None
    for node in p.pages(gql.AUDIT, model, c):
        head = Collection.from_gql(node).head
        for edge in edges(node, "artifacts", model):
            where = f"the metadata of {model}:{edge.get('version')}"
            metadata = json_object((edge.get("node") or {}).get("metadata"))
            stored += [audit.Stored(rec, where) for rec in chain_records(metadata, chain)]
    return audit.AuditLog.vouched(c, stored, head, limits=LIMITS)


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
    if not has_room(carrier.metadata):  # it gained keys since it was chosen
        raise RecordFailed(
            f"{model}:v{carrier.number} has {SDK_MAX_METADATA_KEYS} top-level metadata keys now, the most "
            "the wandb SDK loads; the record was not written there"
        )
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
    return list(data["record"]["artifact"].get("aliases") or [])  # both checked above


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
    artifact = need(need(moved.get("data"), "record", model), "artifact", model)
    carrier.metadata = json_object(artifact.get("metadata"))
    return True


def append_record(p: Project, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Seal ``record`` after the chain head and store it on the newest version, like a move's."""
    c = p.collection_name(model)
    with p.writing(c):
        coll, (newest,) = p.read_targets(model, c, [f"{c}:{LATEST}"])
        if newest is None:
            raise NotFound(f"{model} has no versions to carry its audit record", model=model)
        on = newest if has_room(newest.metadata) else find_carrier(p, model, c)
        refuse_read_only(p, model, on, "go", version=on.number)
        sealed = audit.seal({**record, "model": c}, coll.head)
        try:
            store(p, model, c, coll, on, sealed)
        except RecordFailed as exc:
            raise RegistryError(f"the audit record could not be stored: {exc}", model=model) from None
        p.versions.pop((c, on.number), None)
        return sealed
