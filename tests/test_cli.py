"""The CLI surface: help on every command and option, version, exit codes, status, whoami, schema,
the embedded-registry commands, and a light start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from aliasgate import __version__
from aliasgate.cli import app
from tests.conftest import Demo, clean_env, run_promote


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    import typer.main

    click_group = typer.main.get_command(group)
    out = []

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        out.append((path, cmd))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(click_group, prefix)
    return out


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, cmd in _commands(app):
        if path and not (getattr(cmd, "help", None) or getattr(cmd, "short_help", None)):
            missing.append(" ".join(path))
        for param in getattr(cmd, "params", []):
            if getattr(param, "param_type_name", "") == "option" and not getattr(param, "help", None):
                missing.append(f"{' '.join(path)} {param.opts[0]}")
            if getattr(param, "param_type_name", "") == "argument" and not getattr(param, "help", None):
                missing.append(f"{' '.join(path)} <{param.name}>")
    assert not missing, f"no help text: {missing}"


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["plan"],
        ["apply"],
        ["check"],
        ["status"],
        ["history"],
        ["rollback"],
        ["whoami"],
        ["schema"],
        ["registry"],
        ["registry", "log-version"],
        ["registry", "import"],
    ],
)
def test_help_works_everywhere(cli, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    run = cli(*command, "--help")
    assert run.code == 0 and "Usage:" in run.stdout


def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("--version").stdout.strip() == f"aliasgate {__version__}"


def test_both_console_scripts_exist() -> None:
    for name in ("promote", "aliasgate"):
        exe = Path(sys.executable).with_name(name)
        proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=clean_env())
        assert proc.returncode == 0 and __version__ in proc.stdout


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from aliasgate.cli import main; sys.argv=['promote','--help']\n"
        "try: main()\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('requests','git','jsonschema','yaml','rich','aliasgate.registry.local','sqlite3') "
        "if m in sys.modules]\nprint('HEAVY=' + ','.join(heavy))"
    )
    # not measured by coverage, whose start-up in the child would import sqlite3 itself
    env = {k: v for k, v in clean_env().items() if not k.startswith("COVERAGE_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY=", proc.stdout


def test_usage_error_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("plan", "--no-such-flag").code == 2
    assert cli("status").code == 2


def test_missing_policy_file_exits_2(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = cli("plan", "-p", str(tmp_path / "nope.yaml"))
    assert run.code == 2 and "not found" in run.stderr


def test_unknown_registry_scheme_exits_2(cli, demo) -> None:  # type: ignore[no-untyped-def]
    run = cli("plan", "-p", str(demo.policy()), "--registry", "s3://bucket")
    assert run.code == 2 and "supported:" in run.stderr


def test_missing_embedded_registry_exits_1_with_hint(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = cli("status", "m", "--registry", f"local:{tmp_path}/none.db")
    assert run.code == 1 and "promote registry init" in run.stderr
    assert not (tmp_path / "none.db").exists()


def test_status_table_and_json(demo, cli) -> None:  # type: ignore[no-untyped-def]
    run = cli("status", "bert-classifier")
    assert run.code == 0
    lines = run.stdout.splitlines()
    assert "production=v2" in lines[0] and "staging=v4" in lines[0]
    assert lines[1].split()[:3] == ["version", "created", "age"] and "val_f1" in lines[1]
    assert "\033[" not in run.stdout  # plain when piped
    data = json.loads(cli("status", "bert-classifier", "--json", "-m", "val_f1").stdout)
    assert data["aliases"] == {"production": 2, "staging": 4}
    assert data["versions"][0]["lineage"] == ["bert-tokenizer:v2"]


def test_status_chosen_metrics(demo, cli) -> None:  # type: ignore[no-untyped-def]
    header = cli("status", "bert-classifier", "-m", "val_loss").stdout.splitlines()[1]
    assert "val_loss" in header and "val_f1" not in header


def test_whoami_embedded(demo, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PROMOTE_PRINCIPAL", "ci-prod")
    run = cli("whoami", "--json")
    data = json.loads(run.stdout)
    assert (
        data["name"] == "ci-prod" and data["authenticated"] is False and data["source"] == "PROMOTE_PRINCIPAL"
    )
    monkeypatch.delenv("PROMOTE_PRINCIPAL")
    assert "unauthenticated, os user" in cli("whoami").stdout


def test_schema_is_a_valid_draft_2020_12_schema(cli) -> None:  # type: ignore[no-untyped-def]
    from jsonschema import Draft202012Validator

    schema = json.loads(cli("schema").stdout)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_registry_commands_round_trip(tmp_path, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    uri = f"local:{tmp_path}/r.db"
    assert cli("registry", "init", "-r", uri).code == 0
    assert cli("registry", "create-model", "tok", "-r", uri).code == 0
    assert cli("registry", "create-model", "tok", "-r", uri).code == 2  # exists
    assert (
        cli("registry", "log-version", "tok", "--meta", "vocab=32000", "-r", uri).stdout.strip()
        == "logged tok:v1"
    )
    (tmp_path / "m.yaml").write_text("metrics: {f1: 0.9}\nmetadata: {framework: jax}\n")
    run = cli("registry", "log-version", "clf", "-f", "m.yaml", "-m", "loss=0.2", "-i", "tok:v1", "-r", uri)
    assert run.stdout.strip() == "logged clf:v1"
    bad = cli("registry", "log-version", "clf", "-m", "f1=high", "-r", uri)
    assert bad.code == 2 and "not a number" in bad.stderr
    missing = cli("registry", "log-version", "clf", "-i", "tok:v9", "-r", uri)
    assert missing.code == 1 and "tok:v9" in missing.stderr
    assert cli("registry", "set-alias", "clf", "production", "v1", "-r", uri).code == 0
    conflict = cli("registry", "set-alias", "clf", "production", "v1", "--expect", "none", "-r", uri)
    assert conflict.code == 4
    assert cli("registry", "set-alias", "clf", "latest", "v1", "-r", uri).code == 2
    assert cli("registry", "set-alias", "clf", "v2", "v1", "-r", uri).code == 2
    exported = cli("registry", "export", "-r", uri).stdout
    assert "inputs:\n    - tok:v1" in exported and "production: 1" in exported
    (tmp_path / "seed.yaml").write_text(exported)
    uri2 = f"local:{tmp_path}/r2.db"
    assert cli("registry", "import", "seed.yaml", "-r", uri2).code == 0
    assert cli("registry", "export", "-r", uri2).stdout == exported
    assert cli("registry", "import", "seed.yaml", "-r", uri2).code == 2  # models exist
    assert cli("registry", "import", "seed.yaml", "--replace", "-r", uri2).code == 0
    listing = cli("registry", "list", "-r", uri2, "--json")
    assert json.loads(listing.stdout)[0] == {"model": "clf", "latest": 1, "aliases": {"production": 1}}
    assert cli("registry", "delete-alias", "clf", "production", "-r", uri).code == 0
    assert json.loads(cli("history", "clf", "-r", uri, "--json").stdout)["records"][0]["kind"] == "remove"


def test_registry_commands_refuse_remote_registries(cli) -> None:  # type: ignore[no-untyped-def]
    run = cli("registry", "list", "-r", "mlflow+http://127.0.0.1:9")
    assert run.code == 2 and "embedded registry only" in run.stderr


def test_real_process_exit_codes(demo) -> None:  # type: ignore[no-untyped-def]
    env = clean_env(PROMOTE_REGISTRY=demo.uri)
    assert run_promote("plan", "-p", str(demo.policy()), env=env).code == 0
    assert run_promote("apply", "-p", str(demo.policy()), env=env).code == 0
    assert run_promote("history", "bert-classifier", "--verify", env=env).code == 0


def test_bare_promote_prints_help_naming_the_ways_in(cli: Any) -> None:
    r = cli()
    assert r.code == 0
    text = " ".join(r.stdout.split())
    for way in ("promote plan", "promote apply", "promote --dry-run", "promote cleanup", "GitHub Action"):
        assert way in text


def test_dry_run_without_a_command_is_apply_dry_run(demo: Demo, cli: Any) -> None:
    (demo.path / "aliasgate.yaml").write_text(demo.policy().read_text())
    before = demo.registry().aliases("bert-classifier")
    r = cli("--dry-run")
    assert r.code == 0, r.output
    assert "would apply ship-classifier (dry run: nothing sent)" in r.stdout
    assert demo.registry().aliases("bert-classifier") == before


def test_missing_default_policy_names_where_it_looked_and_what_is_nearby(demo: Demo, cli: Any) -> None:
    r = cli("plan")
    assert r.code == 2
    assert f"looked for {demo.path / 'aliasgate.yaml'}" in r.stderr
    assert "policies nearby: " in r.stderr and "examples/promote.yaml" in r.stderr
    assert "without -p" in r.stderr
    r = cli("plan", "-p", "nope.yaml")
    assert r.code == 2 and "pass -p" not in r.stderr and "without -p" not in r.stderr


def test_plain_http_registry_suggests_mlflow(cli: Any) -> None:
    r = cli("status", "m", "--registry", "http://user:pw-secret@127.0.0.1:5000")
    assert r.code == 2
    assert "did you mean mlflow+http://127.0.0.1:5000" in r.stderr and "pw-secret" not in r.output


def test_help_never_cuts_a_command_summary(cli: Any) -> None:
    for args in ([], ["registry"]):
        out = cli(*args, "--help").stdout
        commands = out.split("Commands:", 1)[1]
        assert "..." not in commands
