"""The embedded registry's file: what may be opened, and replaced, as one.

SQLite opens whatever path it is given, follows symbolic links, and writes its companions
(``-wal``, ``-shm``) beside it; an existing file that is not a database it overwrites with one
on first write. So every path is checked before SQLite sees it, and only a file that is an
aliasgate registry may be deleted by ``registry import --replace``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aliasgate.errors import InvalidInput

SQLITE_HEADER = b"SQLite format 3\x00"
#: the files SQLite writes beside the registry (WAL mode; a rollback journal while switching to it)
COMPANIONS = ("-wal", "-shm", "-journal")


def check_file(path: Path) -> bool:
    """Refuse a registry path through which SQLite would write somewhere else (InvalidInput: exit 2,
    nothing touched): a symbolic link as the file or as one of its companions (SQLite would follow it,
    creating or overwriting the file it points to), something other than a regular file, or a file
    that is not a SQLite database. Returns whether the file exists. (A directory component of the path
    may be a link: whoever can swap those controls the directory anyway.)"""
    for p in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
        if p.is_symlink():
            raise InvalidInput(
                f"embedded registry file {p} is a symbolic link: refusing to follow it "
                "(writing through it would create or overwrite the file it points to)",
                hint="name the real file: --registry local:PATH",
            )
    if not path.exists():
        return False
    if not path.is_file():
        raise InvalidInput(f"embedded registry {path} is not a regular file: refusing to open it")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if head and head != SQLITE_HEADER:
        raise InvalidInput(
            f"{path} is not an aliasgate registry (not a SQLite database): refusing to open it"
        )
    return True


def is_registry(path: Path) -> bool:
    """Whether ``path`` is an existing aliasgate registry (read only; :func:`check_file` first)."""
    if not check_file(path) or path.stat().st_size == 0:
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return row is not None


def replace_file(path: Path) -> None:
    """Delete the embedded registry at ``path`` and its companions so the next open starts from
    empty (``registry import --replace``). Refused (InvalidInput: exit 2, nothing touched) unless
    the file is an aliasgate registry: the path may be mistyped (the policy itself, another
    database) or a link planted to make the delete, or the registry created after it, land elsewhere."""
    if check_file(path) and not is_registry(path):
        raise InvalidInput(
            f"{path} is not an aliasgate registry: --replace deletes only an embedded registry",
            hint="name the registry file with --registry local:PATH (or remove the file yourself)",
        )
    for p in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
        if p.exists():
            p.unlink()
