"""Publishing in the embedded registry: a version of one model copied into another.

The copy carries the source's metadata and metrics, a lineage edge to the source and, in its
``source`` column, the marker ``aliasgate-publish:MODEL:vN`` by which a later publish of the same
version finds and reuses it. Finding and creating happen in one write transaction, so two
concurrent publishes of one version make one copy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aliasgate.errors import InvalidInput, NotFound
from aliasgate.model import iso, utcnow
from aliasgate.registry import Published

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.registry.local import LocalRegistry

MARKER = "aliasgate-publish:"


def _marker(source_model: str, number: int) -> str:
    return f"{MARKER}{source_model}:v{number}"


def _find(conn: sqlite3.Connection, dest_id: int, source_model: str, number: int) -> int | None:
    row = conn.execute(
        "SELECT v.number FROM versions v JOIN lineage l ON l.model_id = v.model_id AND l.number = v.number "
        "WHERE v.model_id = ? AND v.source = ? AND l.input_model = ? AND l.input_number = ? "
        "ORDER BY v.number LIMIT 1",
        (dest_id, _marker(source_model, number), source_model, number),
    ).fetchone()
    return None if row is None else int(row["number"])


def _model_row(conn: sqlite3.Connection, name: str) -> int | None:
    row = conn.execute("SELECT id FROM models WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row["id"])


def _check(source_model: str, dest_model: str) -> None:
    for name in (source_model, dest_model):
        if "/" in name:
            raise InvalidInput(
                f"invalid model {name!r}: the embedded registry has no projects ('project/name' is for W&B)"
            )
    if source_model == dest_model:
        raise InvalidInput(f"cannot publish {source_model} into itself")


def published_copy(reg: LocalRegistry, source_model: str, number: int, dest_model: str) -> Published | None:
    _check(source_model, dest_model)
    with reg._read() as conn:
        dest_id = _model_row(conn, dest_model)
        found = None if dest_id is None else _find(conn, dest_id, source_model, number)
    return None if found is None else Published(found, reused=True)


def publish(reg: LocalRegistry, source_model: str, number: int, dest_model: str) -> Published:
    _check(source_model, dest_model)
    reg.create_model(dest_model, exist_ok=True)
    with reg._write() as conn:
        src_id = _model_row(conn, source_model)
        if src_id is None:
            raise NotFound("no such model in the embedded registry", model=source_model)
        row = conn.execute(
            "SELECT metadata, metrics FROM versions WHERE model_id = ? AND number = ?", (src_id, number)
        ).fetchone()
        if row is None:
            raise NotFound("no such version", model=source_model, version=number)
        dest_id = reg._model_id(conn, dest_model)
        found = _find(conn, dest_id, source_model, number)
        if found is not None:
            return Published(found, reused=True)
        new = int(conn.execute("SELECT next_version FROM models WHERE id = ?", (dest_id,)).fetchone()[0])
        conn.execute(
            "INSERT INTO versions(model_id, number, created_at, created_by, metadata, metrics, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                dest_id,
                new,
                iso(utcnow()),
                reg.whoami().name,
                row["metadata"],
                row["metrics"],
                _marker(source_model, number),
            ),
        )
        conn.execute(
            "INSERT INTO lineage(model_id, number, input_model, input_number) VALUES (?, ?, ?, ?)",
            (dest_id, new, source_model, number),
        )
        conn.execute("UPDATE models SET next_version = ? WHERE id = ?", (new + 1, dest_id))
        return Published(new, reused=False)


def append_record(reg: LocalRegistry, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
    with reg._write() as conn:
        return reg._append(conn, reg._model_id(conn, model), dict(record))
