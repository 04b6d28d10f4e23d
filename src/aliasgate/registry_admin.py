"""`promote registry ...`: managing the embedded registry (seed, log, set aliases by hand).

These verbs exist so demos, tests and teams without a hosted registry can use
aliasgate end to end. Alias changes made here are audited like promotions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aliasgate import seed as seed_mod
from aliasgate.api import Session, provenance
from aliasgate.errors import InvalidInput
from aliasgate.model import Ref, VersionId, is_number, utcnow, validate_alias
from aliasgate.registry import EmbeddedAdmin, Registry


def open_embedded(uri: str, *, replace: Path | None = None) -> Session:
    """A session on the embedded registry at ``uri`` (created if missing). With ``replace`` (a
    seed file), the registry file is deleted first so the seed starts from empty; a bad seed is
    refused before anything is deleted."""
    from aliasgate import api

    if not uri.startswith("local:"):
        raise InvalidInput(f"`promote registry` manages the embedded registry only, not {uri}")
    if replace is not None:
        seed_mod.load(replace)
        return api.open_session(uri, create=True, replace=True)
    return api.open_session(uri, create=True)


def admin(registry: Registry) -> EmbeddedAdmin:
    """The registry's embedded admin verbs, or a clear usage error (exit 2)."""
    if not isinstance(registry, EmbeddedAdmin):
        raise InvalidInput(f"`promote registry` manages the embedded registry only, not {registry.uri}")
    return registry


def create_model(session: Session, name: str, description: str) -> None:
    admin(session.registry).create_model(name, description)


def _pairs(items: Sequence[str], what: str) -> dict[str, Any]:
    """``--metric``/``--meta`` KEY=VALUE flags; each value read as YAML (``0.9`` is a number)."""
    import yaml

    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--{what} {item!r}: expected KEY=VALUE")
        result[key] = yaml.safe_load(value) if value else ""
    return result


def read_values(
    path: Path | None, metric_flags: Sequence[str], meta_flags: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and metadata from a JSON/YAML file, overridden by ``--metric``/``--meta`` flags."""
    metrics, metadata = _pairs(metric_flags, "metric"), _pairs(meta_flags, "meta")
    m: dict[str, Any] = {}
    md: dict[str, Any] = {}
    if path is not None:
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"cannot read {path}: {exc}") from None
        if not isinstance(data, Mapping) or not set(data) <= {"metrics", "metadata"}:
            raise InvalidInput(f"{path}: expected a mapping with `metrics:` and/or `metadata:`")
        m.update(data.get("metrics") or {})
        md.update(data.get("metadata") or {})
    m.update(metrics)
    md.update(metadata)
    for key, value in m.items():
        if not is_number(value):
            raise InvalidInput(f"metric {key}={value!r} is not a number")
    return m, md


def log_version(
    registry: Registry,
    model: str,
    metrics: Mapping[str, Any],
    metadata: Mapping[str, Any],
    inputs: Sequence[str],
    created_by: str | None,
    source: str | None,
) -> int:
    refs = [VersionId.parse(i) for i in inputs]
    return admin(registry).log_version(
        model, metrics=metrics, metadata=metadata, inputs=refs, created_by=created_by, source=source
    )


def _version_number(text: str) -> int:
    ref = Ref.of("_", text)
    if ref.number is None:
        raise InvalidInput(f"{text!r} is not a version (expected v3 or 3)")
    return ref.number


def set_alias(
    session: Session,
    model: str,
    alias: str,
    version: str | None,
    expect: str | None,
    reason: str | None,
) -> dict[str, Any] | None:
    from aliasgate import applier

    validate_alias(alias)
    target = None if version is None else _version_number(version)
    expected: int | str | None = "current"
    if expect is not None:
        expected = None if expect.lower() == "none" else _version_number(expect)
    return applier.set_alias(
        session.registry,
        model,
        alias,
        target,
        provenance(session, None, None),
        now=utcnow(),
        expected=expected,
        reason=reason,
    )


def import_seed(session: Session, path: Path) -> tuple[int, int, int]:
    """Create the seed's models and versions; set its aliases as audited manual moves."""
    from aliasgate import applier

    models = seed_mod.load(path)
    reg = session.registry
    embedded = admin(reg)
    existing = set(reg.models())
    clash = [m.name for m in models if m.name in existing]
    if clash:
        raise InvalidInput(
            f"{', '.join(clash)} already exist in {reg.uri}",
            hint="use --replace to start from an empty registry",
        )
    prov = provenance(session, None, None)
    nv = na = 0
    # Models first, then versions in dependency order (lineage inputs must exist).
    for m in models:
        embedded.create_model(m.name, m.description)
    pending = [(m, v) for m in models for v in sorted(m.versions, key=lambda v: v.number)]
    while pending:
        progressed = False
        rest = []
        for m, v in pending:
            if all(_exists(reg, ref) for ref in v.inputs):
                embedded.log_version(
                    m.name,
                    metrics=v.metrics,
                    metadata=v.metadata,
                    inputs=v.inputs,
                    created_by=v.created_by,
                    created_at=v.created_at.isoformat(),
                    source=v.source,
                    number=v.number,
                )
                nv += 1
                progressed = True
            else:
                rest.append((m, v))
        if not progressed:
            missing = {str(r) for _, v in rest for r in v.inputs if not _exists(reg, r)}
            raise InvalidInput(
                f"{path}: lineage inputs that no version provides: {', '.join(sorted(missing))}"
            )
        pending = rest
    now = utcnow()
    for m in models:
        for alias, number in m.aliases.items():
            validate_alias(alias)
            applier.set_alias(reg, m.name, alias, number, prov, now=now, reason=f"imported from {path.name}")
            na += 1
    return len(models), nv, na


def _exists(reg: Registry, ref: VersionId) -> bool:
    from aliasgate.errors import NotFound

    try:
        reg.version(ref.model, ref.number)
    except NotFound:
        return False
    return True


def export_seed(session: Session) -> str:
    import yaml

    reg = session.registry
    embedded = admin(reg)
    models = []
    for name in reg.models():
        versions = reg.versions(name)
        info = embedded.describe(name)
        models.append(
            seed_mod.ModelSeed(
                name=name,
                description=info.get("description", ""),
                versions=tuple(
                    seed_mod.VersionSeed(
                        number=v.number,
                        created_at=v.created_at,
                        created_by=v.created_by,
                        metrics=dict(v.metrics),
                        metadata=dict(v.metadata),
                        inputs=v.lineage,
                        source=v.source,
                    )
                    for v in versions
                ),
                aliases=reg.aliases(name),
            )
        )
    data = seed_mod.dump(models)
    return "# aliasgate registry export\n" + yaml.safe_dump(
        json.loads(json.dumps(data)), sort_keys=False, allow_unicode=True
    )
