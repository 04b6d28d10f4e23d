"""The embedded registry's own management verbs (``promote registry ...``): models and versions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aliasgate.errors import InvalidInput, NotFound
from aliasgate.model import VersionId, iso, parse_time, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.registry.local import LocalRegistry


def create_model(reg: LocalRegistry, name: str, description: str = "", *, exist_ok: bool = False) -> bool:
    _check_model_name(name)
    with reg._write() as conn:
        exists = conn.execute("SELECT 1 FROM models WHERE name = ?", (name,)).fetchone()
        if exists:
            if exist_ok:
                return False
            raise InvalidInput(f"model {name!r} already exists")
        conn.execute(
            "INSERT INTO models(name, created_at, description) VALUES (?, ?, ?)",
            (name, iso(utcnow()), description),
        )
        return True


def log_version(
    reg: LocalRegistry,
    model: str,
    *,
    metrics: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    inputs: Sequence[VersionId] = (),
    created_by: str | None = None,
    created_at: str | None = None,
    source: str | None = None,
    number: int | None = None,
    create_model: bool = True,
) -> int:
    """Log a new version (numbers are never reused). ``number`` is for imports only."""
    if create_model:
        reg.create_model(model, exist_ok=True)
    with reg._write() as conn:
        mid = reg._model_id(conn, model)
        for ref in inputs:
            in_mid = conn.execute("SELECT id FROM models WHERE name = ?", (ref.model,)).fetchone()
            if (
                in_mid is None
                or not conn.execute(
                    "SELECT 1 FROM versions WHERE model_id = ? AND number = ?", (in_mid["id"], ref.number)
                ).fetchone()
            ):
                raise NotFound(f"lineage input {ref} does not exist", model=ref.model, version=ref.number)
        row = conn.execute("SELECT next_version FROM models WHERE id = ?", (mid,)).fetchone()
        if number is None:
            number = int(row["next_version"])
        elif conn.execute(
            "SELECT 1 FROM versions WHERE model_id = ? AND number = ?", (mid, number)
        ).fetchone():
            raise InvalidInput(f"{model}:v{number} already exists")
        conn.execute(
            "INSERT INTO versions(model_id, number, created_at, created_by, metadata, metrics, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                mid,
                number,
                iso(parse_time(created_at)) if created_at else iso(utcnow()),
                created_by if created_by is not None else reg.whoami().name,
                json.dumps(dict(metadata or {}), sort_keys=True),
                json.dumps(dict(metrics or {}), sort_keys=True),
                source,
            ),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO lineage(model_id, number, input_model, input_number) VALUES (?, ?, ?, ?)",
            [(mid, number, ref.model, ref.number) for ref in inputs],
        )
        conn.execute("UPDATE models SET next_version = MAX(next_version, ?) WHERE id = ?", (number + 1, mid))
        return number


def describe(reg: LocalRegistry, model: str) -> dict[str, Any]:
    with reg._read() as conn:
        row = conn.execute("SELECT * FROM models WHERE name = ?", (model,)).fetchone()
        if row is None:
            raise NotFound("no such model in the embedded registry", model=model)
        return {"name": row["name"], "created_at": row["created_at"], "description": row["description"]}


def _check_model_name(name: str) -> None:
    if not name or len(name) > 256 or any(c in name for c in ":/\\\n\t") or name.strip() != name:
        raise InvalidInput(f"invalid model name {name!r}: no ':', '/', '\\' or surrounding spaces")
