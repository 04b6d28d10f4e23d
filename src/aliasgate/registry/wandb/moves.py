"""Alias moves, guarded as tightly as W&B allows (it has no compare-and-swap).

1. read the holder, the target and the chain head in one request, immediately before
   writing, and refuse (Conflict, nothing changed) if the alias moved;
2. ``addAliases`` (or ``deleteAliases``); if its outcome is unknown (timeout, 5xx) read
   before deciding, never resend blindly;
3. store the sealed audit record and the chain head in one request whose answer shows
   where the alias is now; if another writer took it in between, the move is recorded
   and Conflict raised. If the record cannot be stored, the move is undone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aliasgate import audit
from aliasgate.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    NotFound,
    OutcomeUnknown,
    RegistryError,
    conflict,
)
from aliasgate.model import AliasOp, Move, vn
from aliasgate.registry import one_move
from aliasgate.registry.wandb import documents as gql
from aliasgate.registry.wandb.audit_store import RecordFailed, find_carrier, has_room, store
from aliasgate.registry.wandb.client import messages
from aliasgate.registry.wandb.project import Project
from aliasgate.registry.wandb.shapes import Target, coll_path


def apply(p: Project, moves: Sequence[Move]) -> list[dict[str, Any]]:
    move = one_move(moves)
    with p.writing(p.collection_name(move.op.model)):
        return [_apply_one(p, move.op, move.record)]


def _apply_one(p: Project, op: AliasOp, body: Mapping[str, Any]) -> dict[str, Any]:
    c = p.collection_name(op.model)
    if op.target is None and op.expected is None:
        raise InvalidInput(f"{op}: nothing to do")
    names = [f"{c}:{op.alias}"] + ([f"{c}:v{op.target}"] if op.target is not None else [])
    coll, found = p.read_targets(op.model, c, names)  # 1. immediately before writing
    holder = found[0]
    actual = None if holder is None else holder.number
    if actual != op.expected:
        raise conflict(op.model, op.alias, op.expected, actual)
    if op.target is not None:
        version = found[1]  # where the alias goes
        if version is None:
            raise NotFound("no such version", model=op.model, version=op.target)
    else:
        assert holder is not None
        version = holder  # where it leaves
    # The record goes on that version, or where the SDK's metadata limit cannot bite.
    carrier = version if has_room(version.metadata) else find_carrier(p, op.model, c)
    if carrier.source_read_only:
        raise AuthError(
            f"{p.client.viewer_name} may not write the metadata of {carrier.source}, where aliasgate keeps "
            f"the audit record of {op.model}:v{carrier.number}; nothing was changed",
            hint="make the account a Member of the team that owns the source project",
        )
    sealed = audit.seal({**body, "model": c}, coll.head)
    _write_alias(p, op, c, version)  # 2.
    for touched in (version, carrier, holder):
        if touched is not None:
            p.versions.pop((c, touched.number), None)
    try:  # 3. the record, the head, and a read of where the alias is now
        aliases_now = store(p, op.model, c, coll, carrier, sealed)
    except RecordFailed as exc:
        raise _undo_unrecorded(p, op, c, version, holder, exc) from None
    here = p.here(c)
    if carrier is version:
        holds = any(
            a["alias"] == op.alias and coll_path(a["artifactCollection"]) == here
            for a in aliases_now
            if a and a.get("artifactCollection")
        )
    else:
        holds = p.holder(op.model, c, op.alias) == version.number
    if (op.target is not None) != holds:
        now = p.holder(op.model, c, op.alias)
        raise Conflict(
            f"{op.model}:{op.alias} was moved to {vn(now)} by another writer right after this move to "
            f"{vn(op.target)} (recorded as audit #{sealed['seq']}); W&B has no compare-and-swap",
            model=op.model,
            alias=op.alias,
            expected=op.target,
            actual=now,
        )
    return sealed


def _write_alias(p: Project, op: AliasOp, c: str, version: Target | None) -> None:
    """addAliases/deleteAliases; when the outcome is unknown, read and decide, resend at most once."""
    assert version is not None
    document = gql.ADD_ALIASES if op.target is not None else gql.DELETE_ALIASES
    alias = {"entityName": p.entity, "projectName": p.project, "artifactCollectionName": c, "alias": op.alias}
    variables = {"input": {"artifactID": version.artifact_id, "aliases": [alias]}}
    for attempt in (1, 2):
        try:
            body = p.client.post(document, variables, mutation=True)
        except OutcomeUnknown as exc:
            now = p.holder(op.model, c, op.alias)
            if now == op.target:
                return  # it landed
            if now != op.expected or attempt == 2:
                if now == op.expected:
                    raise RegistryError(f"{exc}; {op.model}:{op.alias} is still on {vn(now)}") from None
                raise conflict(op.model, op.alias, op.expected, now) from None
            continue  # it did not land and nothing else moved: the precondition still holds
        if body.get("errors"):
            raise _alias_error(p, op, version.number, body["errors"])
        return


def _alias_error(p: Project, op: AliasOp, number: int, errors: Any) -> RegistryError:
    err = p.client.error(errors, model=op.model, version=number)
    if not isinstance(err, AuthError):
        return err
    verb = "move" if op.target is not None else "remove"
    where = f"registry {p.project}" if p.registry else f"project {p.where}"
    return AuthError(
        f"W&B denied {p.client.viewer_name} permission to {verb} alias {op.alias!r} "
        f"({messages(errors)}). If {op.alias!r} is a protected alias of {where}, only registry Admins "
        "may move it; nothing was changed",
        model=op.model,
        version=number,
        hint="ask a registry Admin to give this account the Admin role (service accounts default to Member)",
    )


def _undo_unrecorded(
    p: Project, op: AliasOp, c: str, carrier: Target, holder: Target | None, exc: RecordFailed
) -> RegistryError:
    """The move happened but its record could not be stored: put the alias back."""
    try:
        if op.expected is None:
            _write_alias(p, AliasOp(op.model, op.alias, op.target, None), c, carrier)
        else:
            _write_alias(p, op.inverse(), c, holder if op.target is not None else carrier)
    except RegistryError as undo_exc:
        return RegistryError(
            f"the audit record could not be stored ({exc}) and undoing the move failed ({undo_exc}): "
            f"{op.alias} is on {vn(op.target)} WITHOUT an audit record",
            model=op.model,
            version=op.target,
        )
    return RegistryError(
        f"the audit record could not be stored ({exc}); the move was undone ({op.alias} is back on "
        f"{vn(op.expected)})",
        model=op.model,
        version=op.target,
    )
