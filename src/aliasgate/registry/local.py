"""The embedded registry: one SQLite file, works with nothing else installed.

Discipline: a connection per operation, WAL so readers never block the
writer, ``BEGIN IMMEDIATE`` for every write so a compare-and-swap and its
audit record commit together or not at all, and a versioned schema.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aliasgate import audit
from aliasgate.errors import Conflict, InvalidInput, NotFound, RegistryError, conflict, still_held
from aliasgate.model import (
    LATEST,
    Move,
    Principal,
    Version,
    VersionId,
    os_user,
    parse_time,
    validate_alias,
)
from aliasgate.registry import local_admin, local_publish, local_schema
from aliasgate.registry.local_file import check_file, replace_file

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.registry import DeleteResult, Published

#: Said with every verification: the embedded registry authenticates no one.
LIMITS = (
    "the embedded registry keeps the records and the chain head in one SQLite file: whoever can write "
    "that file can rewrite both, so the chain proves nothing against them"
)
BUSY_TIMEOUT_MS = 60_000


def open(uri: str, options: Mapping[str, Any]) -> LocalRegistry:
    path = uri.split(":", 1)[1] if ":" in uri else uri
    if path.startswith("//"):
        path = path[2:]
    if not path:
        raise InvalidInput(f"invalid registry {uri!r}: expected local:PATH")
    if options.get("replace"):
        replace_file(Path(path))
    return LocalRegistry(Path(path), create=bool(options.get("create", False) or options.get("replace")))


class LocalRegistry:
    """SQLite-backed registry with true compare-and-swap and multi-alias transactions."""

    atomic_batches = True
    lineage_recorded = True
    delete_batch = 200  # versions per delete_versions call: one transaction

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        self.uri = f"local:{path}"
        self._reader: sqlite3.Connection | None = None
        if not check_file(path):
            if not create:
                raise RegistryError(
                    f"no embedded registry at {path}",
                    hint="create one with `promote registry init` or `promote registry import FILE`",
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            self._migrate(conn)

    def close(self) -> None:
        """Release the read connection (writes open and close their own)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __del__(self) -> None:
        self.close()

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction (a consistent snapshot under WAL) on a reused connection:
        planning 1,000 rules would otherwise open thousands of connections."""
        if self._reader is None:
            self._reader = self._connect()
        conn = self._reader
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: take the write lock before reading, so the CAS check and the
        write see the same state and concurrent writers queue instead of racing."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise RegistryError(f"embedded registry {self.path}: {exc}") from exc
        finally:
            conn.close()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        local_schema.migrate(conn, self.path)

    # -- reads ---------------------------------------------------------------------------------

    def whoami(self) -> Principal:
        configured = os.environ.get("PROMOTE_PRINCIPAL")
        if configured:
            return Principal(configured, authenticated=False, source="PROMOTE_PRINCIPAL")
        return Principal(os_user(), authenticated=False, source="os user")

    def models(self) -> list[str]:
        with self._read() as conn:
            return [r["name"] for r in conn.execute("SELECT name FROM models ORDER BY name")]

    def _model_id(self, conn: sqlite3.Connection, model: str) -> int:
        row = conn.execute("SELECT id FROM models WHERE name = ?", (model,)).fetchone()
        if row is None:
            raise NotFound("no such model in the embedded registry", model=model)
        return int(row["id"])

    def aliases(self, model: str) -> dict[str, int]:
        with self._read() as conn:
            return self._aliases(conn, self._model_id(conn, model))

    @staticmethod
    def _aliases(conn: sqlite3.Connection, model_id: int) -> dict[str, int]:
        rows = conn.execute(
            "SELECT alias, number FROM aliases WHERE model_id = ? ORDER BY alias", (model_id,)
        )
        return {r["alias"]: int(r["number"]) for r in rows}

    def latest(self, model: str) -> int | None:
        with self._read() as conn:
            mid = self._model_id(conn, model)
            row = conn.execute("SELECT MAX(number) AS n FROM versions WHERE model_id = ?", (mid,)).fetchone()
            return None if row["n"] is None else int(row["n"])

    def version(self, model: str, number: int) -> Version:
        with self._read() as conn:
            mid = self._model_id(conn, model)
            row = conn.execute(
                "SELECT * FROM versions WHERE model_id = ? AND number = ?", (mid, number)
            ).fetchone()
            if row is None:
                raise NotFound("no such version", model=model, version=number)
            return self._version(conn, model, mid, row, None, None)

    def versions(self, model: str) -> list[Version]:
        with self._read() as conn:
            mid = self._model_id(conn, model)
            aliases: dict[int, list[str]] = {}
            for r in conn.execute(
                "SELECT alias, number FROM aliases WHERE model_id = ? ORDER BY alias", (mid,)
            ):
                aliases.setdefault(int(r["number"]), []).append(r["alias"])
            lineage: dict[int, list[VersionId]] = {}
            for r in conn.execute(
                "SELECT number, input_model, input_number FROM lineage WHERE model_id = ?", (mid,)
            ):
                lineage.setdefault(int(r["number"]), []).append(
                    VersionId(r["input_model"], r["input_number"])
                )
            rows = conn.execute("SELECT * FROM versions WHERE model_id = ? ORDER BY number DESC", (mid,))
            return [self._version(conn, model, mid, row, aliases, lineage) for row in rows]

    def _version(
        self,
        conn: sqlite3.Connection,
        model: str,
        mid: int,
        row: sqlite3.Row,
        aliases: dict[int, list[str]] | None,
        lineage: dict[int, list[VersionId]] | None,
    ) -> Version:
        number = int(row["number"])
        if aliases is None:
            names = [
                r["alias"]
                for r in conn.execute(
                    "SELECT alias FROM aliases WHERE model_id = ? AND number = ? ORDER BY alias",
                    (mid, number),
                )
            ]
        else:
            names = aliases.get(number, [])
        if lineage is None:
            inputs = [
                VersionId(r["input_model"], int(r["input_number"]))
                for r in conn.execute(
                    "SELECT input_model, input_number FROM lineage WHERE model_id = ? AND number = ?",
                    (mid, number),
                )
            ]
        else:
            inputs = lineage.get(number, [])
        return Version(
            model=model,
            number=number,
            created_at=parse_time(row["created_at"]),
            created_by=row["created_by"],
            aliases=tuple(names),
            metrics=json.loads(row["metrics"]),
            metadata=json.loads(row["metadata"]),
            lineage=tuple(sorted(inputs)),
            source=row["source"],
        )

    def audit_log(self, model: str) -> audit.AuditLog:
        with self._read() as conn:
            mid = self._model_id(conn, model)
            head_row = conn.execute(
                "SELECT audit_seq, audit_hash FROM models WHERE id = ?", (mid,)
            ).fetchone()
            stored = [
                audit.Stored(_json_or_stub(r["record"], int(r["seq"])), f"the audit table (row #{r['seq']})")
                for r in conn.execute("SELECT seq, record FROM audit WHERE model_id = ? ORDER BY seq", (mid,))
            ]
        head = (
            audit.Head(int(head_row["audit_seq"]), head_row["audit_hash"]) if head_row["audit_seq"] else None
        )
        return audit.AuditLog.vouched(model, stored, head, limits=LIMITS)

    # -- writes ----------------------------------------------------------------------------------

    def apply(self, moves: Sequence[Move]) -> list[dict[str, Any]]:
        ops = [m.op for m in moves]
        with self._write() as conn:
            mids = {op.model: self._model_id(conn, op.model) for op in ops}
            # Check every op first: a bundle moves all or nothing.
            for op in ops:
                current = self._holder(conn, mids[op.model], op.alias)
                if current != op.expected:
                    raise conflict(op.model, op.alias, op.expected, current)
                if op.target is not None:
                    self._require_version(conn, op.model, mids[op.model], op.target)
            sealed = []
            for op, body in ((m.op, m.record) for m in moves):
                mid = mids[op.model]
                if op.target is None:
                    conn.execute("DELETE FROM aliases WHERE model_id = ? AND alias = ?", (mid, op.alias))
                else:
                    conn.execute(
                        "INSERT INTO aliases(model_id, alias, number) VALUES (?, ?, ?) "
                        "ON CONFLICT(model_id, alias) DO UPDATE SET number = excluded.number",
                        (mid, op.alias, op.target),
                    )
                sealed.append(self._append(conn, mid, body))
            return sealed

    def delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        with self._write() as conn:
            mid = self._model_id(conn, model)
            return self._delete(conn, model, mid, number, record)

    def delete_versions(
        self, model: str, numbers: Sequence[int], records: Sequence[Mapping[str, Any]]
    ) -> list[DeleteResult]:
        """Every deletion of the batch and its record in one transaction: all commit, or none
        (and this raises). A version that holds an alias, or is gone, gets its error back."""
        if len(numbers) != len(records):
            raise ValueError("one audit record per version")
        results: list[DeleteResult] = []
        with self._write() as conn:
            mid = self._model_id(conn, model)
            for number, record in zip(numbers, records, strict=True):
                try:
                    results.append(self._delete(conn, model, mid, number, record))
                except (NotFound, Conflict) as exc:
                    results.append(exc)
        return results

    def _delete(
        self, conn: sqlite3.Connection, model: str, mid: int, number: int, record: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._require_version(conn, model, mid, number)
        held = [
            r["alias"]
            for r in conn.execute(
                "SELECT alias FROM aliases WHERE model_id = ? AND number = ?", (mid, number)
            )
        ]
        if held:
            raise still_held(model, number, held)
        conn.execute("DELETE FROM lineage WHERE model_id = ? AND number = ?", (mid, number))
        conn.execute("DELETE FROM versions WHERE model_id = ? AND number = ?", (mid, number))
        return self._append(conn, mid, record)

    def _append(self, conn: sqlite3.Connection, mid: int, body: Mapping[str, Any]) -> dict[str, Any]:
        row = conn.execute("SELECT audit_seq, audit_hash FROM models WHERE id = ?", (mid,)).fetchone()
        head = audit.Head(int(row["audit_seq"]), row["audit_hash"]) if row["audit_seq"] else None
        sealed = audit.seal(body, head)
        if conn.execute(
            "SELECT 1 FROM audit WHERE model_id = ? AND seq = ?", (mid, sealed["seq"])
        ).fetchone():
            raise RegistryError(
                f"the audit table of {self.path} already holds a record #{sealed['seq']} that the chain head "
                "does not vouch for (written by something other than aliasgate); nothing was changed",
                hint="`promote history --verify` names it; remove that row once you know where it came from",
            )
        conn.execute(
            "INSERT INTO audit(model_id, seq, record) VALUES (?, ?, ?)",
            (mid, sealed["seq"], audit.canonical(sealed)),
        )
        conn.execute(
            "UPDATE models SET audit_seq = ?, audit_hash = ? WHERE id = ?",
            (sealed["seq"], sealed["hash"], mid),
        )
        return sealed

    @staticmethod
    def _holder(conn: sqlite3.Connection, mid: int, alias: str) -> int | None:
        row = conn.execute(
            "SELECT number FROM aliases WHERE model_id = ? AND alias = ?", (mid, alias)
        ).fetchone()
        return None if row is None else int(row["number"])

    @staticmethod
    def _require_version(conn: sqlite3.Connection, model: str, mid: int, number: int) -> None:
        row = conn.execute(
            "SELECT 1 FROM versions WHERE model_id = ? AND number = ?", (mid, number)
        ).fetchone()
        if row is None:
            raise NotFound("no such version", model=model, version=number)

    # -- Publishes: a version copied into another model (``to: {model, alias}``) ----------------

    def published_copy(self, source_model: str, number: int, dest_model: str) -> Published | None:
        return local_publish.published_copy(self, source_model, number, dest_model)

    def publish(self, source_model: str, number: int, dest_model: str) -> Published:
        return local_publish.publish(self, source_model, number, dest_model)

    def append_record(self, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return local_publish.append_record(self, model, record)

    # -- embedded-only management (the `promote registry` commands) ----------------------------

    # the management verbs live in local_admin.py; bound here, they are this class's methods
    create_model = local_admin.create_model
    log_version = local_admin.log_version
    describe = local_admin.describe


def _json_or_stub(text: str, seq: int) -> dict[str, Any]:
    """A stored record; one that is not a JSON object comes back as a stub no head vouches for."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"seq": seq, "hash": None, "unreadable": True}


def validate_set_alias(alias: str) -> str:
    if alias == LATEST:
        raise InvalidInput("'latest' is automatic: it always names the newest version")
    return validate_alias(alias)


def matches(pattern: str, name: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)
