"""`promote registry ...`: the embedded registry's management commands (thin, like every command)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aliasgate.cli_support import (
    Arg,
    JsonOpt,
    ModelArg,
    Opt,
    ReasonOpt,
    RegistryOpt,
    Text,
    Texts,
    api,
    command,
    out,
    registry_admin,
)

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.api import Session

registry_app = typer.Typer(
    help="Manage the embedded registry: models, versions, aliases, import and export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _local(registry: str | None, replace: Path | None = None) -> closing[Session]:
    return closing(registry_admin.open_embedded(api.resolve_registry(registry, None), replace=replace))


@command(registry_app, "init")
def registry_init(registry: RegistryOpt = None) -> None:
    """Create an empty embedded registry (idempotent)."""
    with _local(registry) as session:
        out(f"embedded registry ready at {session.registry.uri}")


@command(registry_app, "create-model")
def registry_create_model(
    name: Annotated[str, Arg(help="Model name.", show_default=False)],
    description: Annotated[str, Opt("--description", help="What the model is.")] = "",
    registry: RegistryOpt = None,
) -> None:
    """Create a model."""
    with _local(registry) as session:
        registry_admin.create_model(session, name, description)
    out(f"created model {name}")


@command(registry_app, "log-version")
def registry_log_version(
    model: Annotated[str, Arg(help="Model name (created if missing).", show_default=False)],
    metric: Annotated[Texts, Opt("--metric", "-m", help="KEY=NUMBER (repeatable).")] = None,
    meta: Annotated[Texts, Opt("--meta", help="Metadata KEY=VALUE (repeatable).")] = None,
    from_file: Annotated[
        Path | None, Opt("--file", "-f", help="JSON or YAML file with `metrics:` and `metadata:` mappings.")
    ] = None,
    inputs: Annotated[
        Texts, Opt("--input", "-i", help="Lineage: derived from MODEL:vN (repeatable).")
    ] = None,
    created_by: Annotated[Text, Opt("--created-by", help="Who made it (default: whoami).")] = None,
    source: Annotated[Text, Opt("--source", help="Where the artifact lives (URI, run id).")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Log a new version with metrics, metadata and lineage."""
    metrics, metadata = registry_admin.read_values(from_file, metric or [], meta or [])
    with _local(registry) as session:
        number = registry_admin.log_version(
            session.registry, model, metrics, metadata, inputs or [], created_by, source
        )
    out(f"logged {model}:v{number}")


@command(registry_app, "set-alias")
def registry_set_alias(
    model: ModelArg,
    alias: Annotated[str, Arg(help="Alias to set.", show_default=False)],
    version: Annotated[str, Arg(help="Version (v3 or 3).", show_default=False)],
    expect: Annotated[
        Text, Opt("--expect", help="Only if the alias is on this version now (v2, or 'none').")
    ] = None,
    reason: ReasonOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Point an alias at a version by hand (compare-and-swap, audited as a manual move)."""
    with _local(registry) as session:
        record = registry_admin.set_alias(session, model, alias, version, expect, reason)
    out(f"{model}:{alias} -> {version}" + (f" (audit #{record['seq']})" if record else " (already there)"))


@command(registry_app, "delete-alias")
def registry_delete_alias(
    model: ModelArg,
    alias: Annotated[str, Arg(help="Alias to remove.", show_default=False)],
    reason: ReasonOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Remove an alias by hand (audited)."""
    with _local(registry) as session:
        record = registry_admin.set_alias(session, model, alias, None, None, reason)
    out(f"removed {model}:{alias}" + (f" (audit #{record['seq']})" if record else " (it was not set)"))


@command(registry_app, "list")
def registry_list(registry: RegistryOpt = None, as_json: JsonOpt = False) -> object:
    """List models with their version counts and aliases."""
    with _local(registry) as session:
        return api.run_models(session)


@command(registry_app, "import")
def registry_import(
    seed: Annotated[Path, Arg(help="Registry YAML (see examples/demo-registry.yaml).", show_default=False)],
    replace: Annotated[
        bool, Opt("--replace", help="Start from an empty registry (deletes the embedded registry file).")
    ] = False,
    registry: RegistryOpt = None,
) -> None:
    """Load models, versions and aliases from YAML (aliases are set as audited manual moves)."""
    with _local(registry, seed if replace else None) as session:
        models, versions, aliases = registry_admin.import_seed(session, seed)
    uri = api.resolve_registry(registry, None)
    out(f"imported {models} model(s), {versions} version(s), {aliases} alias(es) into {uri}")


@command(registry_app, "export")
def registry_export(
    output: Annotated[Path | None, Opt("--out", "-o", help="Write here instead of stdout.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Write models, versions and aliases as YAML (the format `import` reads)."""
    with _local(registry) as session:
        text = registry_admin.export_seed(session)
    if output:
        api.write_output(output, text, "the export")
        out(f"exported to {output}")
    else:
        out(text.rstrip())
