"""`promote registry ...`: the embedded registry's management commands (thin, like every command)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aliasgate.cli_support import JsonOpt, RegistryOpt, command, face, out

if TYPE_CHECKING:
    from aliasgate.api import Session

registry_app = typer.Typer(
    help="Manage the embedded registry: models, versions, aliases, import and export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _local(registry: str | None, replace: Path | None = None) -> Session:
    from aliasgate import api, registry_admin

    return registry_admin.open_embedded(api.resolve_registry(registry, None), replace=replace)


def _pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    import yaml

    from aliasgate.errors import InvalidInput

    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--{what} {item!r}: expected KEY=VALUE")
        result[key] = yaml.safe_load(value) if value else ""
    return result


@command(registry_app, "init")
def registry_init(registry: RegistryOpt = None) -> None:
    """Create an empty embedded registry (idempotent)."""
    session = _local(registry)
    session.close()
    out(f"embedded registry ready at {session.registry.uri}")


@command(registry_app, "create-model")
def registry_create_model(
    name: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    description: Annotated[str, typer.Option("--description", help="What the model is.")] = "",
    registry: RegistryOpt = None,
) -> None:
    """Create a model."""
    from aliasgate import registry_admin

    session = _local(registry)
    try:
        registry_admin.create_model(session, name, description)
    finally:
        session.close()
    out(f"created model {name}")


@command(registry_app, "log-version")
def registry_log_version(
    model: Annotated[str, typer.Argument(help="Model name (created if missing).", show_default=False)],
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="KEY=NUMBER (repeatable).")
    ] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Metadata KEY=VALUE (repeatable).")] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="JSON or YAML file with `metrics:` and `metadata:` mappings."),
    ] = None,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="Lineage: derived from MODEL:vN (repeatable).")
    ] = None,
    created_by: Annotated[
        str | None, typer.Option("--created-by", help="Who made it (default: whoami).")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Where the artifact lives (URI, run id).")
    ] = None,
    registry: RegistryOpt = None,
) -> None:
    """Log a new version with metrics, metadata and lineage."""
    from aliasgate import registry_admin

    metrics, metadata = registry_admin.read_values(from_file, _pairs(metric, "metric"), _pairs(meta, "meta"))
    session = _local(registry)
    try:
        number = registry_admin.log_version(
            session.registry, model, metrics, metadata, inputs or [], created_by, source
        )
    finally:
        session.close()
    out(f"logged {model}:v{number}")


@command(registry_app, "set-alias")
def registry_set_alias(
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    alias: Annotated[str, typer.Argument(help="Alias to set.", show_default=False)],
    version: Annotated[str, typer.Argument(help="Version (v3 or 3).", show_default=False)],
    expect: Annotated[
        str | None, typer.Option("--expect", help="Only if the alias is on this version now (v2, or 'none').")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why; recorded in the audit record.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Point an alias at a version by hand (compare-and-swap, audited as a manual move)."""
    from aliasgate import registry_admin

    session = _local(registry)
    try:
        record = registry_admin.set_alias(session, model, alias, version, expect, reason)
    finally:
        session.close()
    out(f"{model}:{alias} -> {version}" + (f" (audit #{record['seq']})" if record else " (already there)"))


@command(registry_app, "delete-alias")
def registry_delete_alias(
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    alias: Annotated[str, typer.Argument(help="Alias to remove.", show_default=False)],
    reason: Annotated[str | None, typer.Option("--reason", help="Why; recorded in the audit record.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Remove an alias by hand (audited)."""
    from aliasgate import registry_admin

    session = _local(registry)
    try:
        record = registry_admin.set_alias(session, model, alias, None, None, reason)
    finally:
        session.close()
    out(f"removed {model}:{alias}" + (f" (audit #{record['seq']})" if record else " (it was not set)"))


@command(registry_app, "list")
def registry_list(registry: RegistryOpt = None, as_json: JsonOpt = False) -> int:
    """List models with their version counts and aliases."""
    from aliasgate import api

    return face(as_json).emit(api.run_models(_local(registry)))


@command(registry_app, "import")
def registry_import(
    seed: Annotated[
        Path, typer.Argument(help="Registry YAML (see examples/demo-registry.yaml).", show_default=False)
    ],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Start from an empty registry (deletes the embedded registry file)."),
    ] = False,
    registry: RegistryOpt = None,
) -> None:
    """Load models, versions and aliases from YAML (aliases are set as audited manual moves)."""
    from aliasgate import api, registry_admin

    uri = api.resolve_registry(registry, None)
    session = _local(registry, seed if replace else None)
    try:
        counts = registry_admin.import_seed(session, seed)
    finally:
        session.close()
    out(f"imported {counts[0]} model(s), {counts[1]} version(s), {counts[2]} alias(es) into {uri}")


@command(registry_app, "export")
def registry_export(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Write models, versions and aliases as YAML (the format `import` reads)."""
    from aliasgate import registry_admin

    session = _local(registry)
    try:
        text = registry_admin.export_seed(session)
    finally:
        session.close()
    if output:
        from aliasgate.api import write_output

        write_output(output, text, "the export")
        out(f"exported to {output}")
    else:
        out(text.rstrip())
