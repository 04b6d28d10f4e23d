"""The embedded registry's SQLite schema, versioned, and its migration."""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from pathlib import Path

from aliasgate.errors import InvalidInput, RegistryError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    next_version INTEGER NOT NULL DEFAULT 1,   -- numbers are never reused
    audit_seq    INTEGER NOT NULL DEFAULT 0,   -- chain head, kept apart from the records
    audit_hash   TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    model_id   INTEGER NOT NULL REFERENCES models(id),
    number     INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    metadata   TEXT NOT NULL DEFAULT '{}',
    metrics    TEXT NOT NULL DEFAULT '{}',
    source     TEXT,
    PRIMARY KEY (model_id, number)
);
CREATE TABLE IF NOT EXISTS lineage (
    model_id     INTEGER NOT NULL,
    number       INTEGER NOT NULL,
    input_model  TEXT NOT NULL,
    input_number INTEGER NOT NULL,
    PRIMARY KEY (model_id, number, input_model, input_number),
    FOREIGN KEY (model_id, number) REFERENCES versions(model_id, number) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS aliases (
    model_id INTEGER NOT NULL,
    alias    TEXT NOT NULL,
    number   INTEGER NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, number) REFERENCES versions(model_id, number)
);
CREATE TABLE IF NOT EXISTS audit (
    model_id INTEGER NOT NULL REFERENCES models(id),
    seq      INTEGER NOT NULL,
    record   TEXT NOT NULL,
    PRIMARY KEY (model_id, seq)
);
CREATE INDEX IF NOT EXISTS aliases_by_version ON aliases(model_id, number);
"""


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Create or upgrade the schema of the registry at ``path`` (never writing into a foreign database)."""
    row = None
    with suppress(sqlite3.OperationalError):
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    current = int(row["value"]) if row else 0
    if not current and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise InvalidInput(
            f"{path} is a SQLite database but not an aliasgate registry: refusing to write into it"
        )
    conn.execute("PRAGMA journal_mode = WAL")
    if current > SCHEMA_VERSION:
        raise RegistryError(
            f"{path} has schema version {current}; this aliasgate knows up to {SCHEMA_VERSION}",
            hint="upgrade aliasgate",
        )
    if current < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
            conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        conn.execute("COMMIT")
