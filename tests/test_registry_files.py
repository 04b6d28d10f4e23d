"""The embedded registry's file, from the side of someone who wants it to write elsewhere.

`registry import --replace --registry local:X` deletes X: it must refuse anything that is not an
aliasgate registry (the policy, another database, a directory, a FIFO), and a bad seed must not
delete the registry it would have replaced. No registry path may be a symbolic link (as the file
or as SQLite's -wal/-shm beside it): SQLite would follow it and create or overwrite the file it
points to. Each refusal is exit 2 with a message, and leaves every file as it was."""

from __future__ import annotations

import gc
import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aliasgate.registry.local import LocalRegistry
from tests.conftest import EXAMPLES, run_promote

SEED = str(EXAMPLES / "demo-registry.yaml")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry below ``folder``: links by target, files by content (nothing may change)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        key = str(p.relative_to(folder))
        if p.is_symlink():
            out[key] = "-> " + os.readlink(p)
        elif p.is_file():
            out[key] = digest(p)
        else:
            out[key] = "dir" if p.is_dir() else "other"
    return out


def refused(run: Any, *fragments: str) -> None:
    assert run.code == 2, run.output
    assert "Traceback" not in run.output and "internal error" not in run.output, run.output
    assert all(f in run.stderr for f in fragments), run.stderr


@pytest.fixture
def registry(tmp_path: Path, cli: Any) -> Path:
    db = tmp_path / "reg" / "registry.db"
    assert cli("registry", "import", SEED, "--registry", f"local:{db}").code == 0
    gc.collect()  # close the in-process connections: SQLite checkpoints and removes -wal/-shm
    assert not Path(f"{db}-wal").exists()
    return db


# -- --replace deletes only an aliasgate registry -------------------------------------------------


def test_replace_refuses_the_policy_file(tmp_path: Path, cli: Any) -> None:
    policy = tmp_path / "aliasgate.yaml"
    policy.write_text((EXAMPLES / "aliasgate.yaml").read_text())
    before = snapshot(tmp_path)
    run = cli("registry", "import", "--replace", SEED, "--registry", f"local:{policy}")
    refused(run, f"{policy} is not an aliasgate registry")
    assert snapshot(tmp_path) == before


def test_replace_refuses_another_sqlite_database(tmp_path: Path, cli: Any) -> None:
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('alice')")
    conn.commit()
    conn.close()
    before = snapshot(tmp_path)
    refused(
        cli("registry", "import", "--replace", SEED, "--registry", f"local:{other}"),
        "not an aliasgate registry",
    )
    assert snapshot(tmp_path) == before
    # nor is another database written into by any command (not even its journal mode)
    refused(cli("registry", "list", "--registry", f"local:{other}"), "not an aliasgate registry")
    refused(cli("registry", "import", SEED, "--registry", f"local:{other}"), "not an aliasgate registry")
    assert snapshot(tmp_path) == before


def test_replace_refuses_an_empty_file_a_directory_and_a_fifo(tmp_path: Path, cli: Any) -> None:
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    before = snapshot(tmp_path)
    refused(
        cli("registry", "import", "--replace", SEED, "--registry", f"local:{tmp_path / 'empty'}"), "not an"
    )
    for name in ("dir", "fifo"):  # a FIFO is never opened: no hang
        refused(
            cli("registry", "import", "--replace", SEED, "--registry", f"local:{tmp_path / name}"),
            "regular file",
        )
    assert snapshot(tmp_path) == before


def test_a_bad_seed_with_replace_leaves_the_registry_as_it_was(
    tmp_path: Path, registry: Path, cli: Any
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: 1\nmodels:\n  - name: m\n    versions:\n      - {number: 1, age: 6mo}\n")
    before = snapshot(registry.parent)
    refused(
        cli("registry", "import", "--replace", str(bad), "--registry", f"local:{registry}"), "bad duration"
    )
    assert snapshot(registry.parent) == before
    assert LocalRegistry(registry).models() == ["bert-classifier", "bert-tokenizer"]


def test_replace_still_replaces_a_registry(tmp_path: Path, registry: Path, cli: Any) -> None:
    LocalRegistry(registry).create_model("extra", "")
    run = cli("registry", "import", "--replace", SEED, "--registry", f"local:{registry}")
    assert run.code == 0, run.output
    assert LocalRegistry(registry).models() == ["bert-classifier", "bert-tokenizer"]


# -- no registry path is followed through a symbolic link --------------------------------------------


def test_replace_through_a_link_to_another_registry_deletes_nothing(
    tmp_path: Path, registry: Path, cli: Any
) -> None:
    link = tmp_path / "link.db"
    link.symlink_to(registry)
    before = snapshot(tmp_path)
    refused(cli("registry", "import", "--replace", SEED, "--registry", f"local:{link}"), "symbolic link")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("verb", [["registry", "init"], ["registry", "import", SEED], ["registry", "list"]])
def test_a_dangling_link_does_not_create_the_file_it_points_to(
    tmp_path: Path, cli: Any, verb: list[str]
) -> None:
    victim = tmp_path / "victim" / "authorized_keys"
    victim.parent.mkdir()
    link = tmp_path / "registry.db"
    link.symlink_to(victim)
    refused(cli(*verb, "--registry", f"local:{link}"), "symbolic link")
    assert not victim.exists() and link.is_symlink()


def test_a_link_to_a_victim_file_is_not_overwritten(tmp_path: Path, cli: Any) -> None:
    victim = tmp_path / "notes.txt"
    victim.write_text("precious\n")
    link = tmp_path / "registry.db"
    link.symlink_to(victim)
    for verb in (["registry", "init"], ["registry", "import", "--replace", SEED]):
        refused(cli(*verb, "--registry", f"local:{link}"), "symbolic link")
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_link_planted_as_a_companion_file_is_refused(
    tmp_path: Path, registry: Path, cli: Any, suffix: str
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    companion = Path(f"{registry}{suffix}")
    if companion.exists():
        companion.unlink()
    companion.symlink_to(victim)
    before = snapshot(tmp_path)
    refused(
        cli("registry", "set-alias", "bert-classifier", "canary", "v1", "--registry", f"local:{registry}"),
        suffix,
    )
    refused(cli("registry", "import", "--replace", SEED, "--registry", f"local:{registry}"), suffix)
    assert snapshot(tmp_path) == before


def test_a_link_as_the_registry_of_a_policy_is_refused_by_plan_too(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / ".aliasgate").mkdir()
    (tmp_path / ".aliasgate" / "registry.db").symlink_to(victim)
    policy = tmp_path / "aliasgate.yaml"
    policy.write_text((EXAMPLES / "aliasgate.yaml").read_text())
    run = run_promote("plan", "-p", str(policy), cwd=tmp_path)
    refused(run, "symbolic link")
    assert victim.read_text() == "precious\n"
