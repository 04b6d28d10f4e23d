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


def read_values(
    path: Path | None, metrics: Mapping[str, Any], metadata: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and metadata from a JSON/YAML file, overridden by flags."""
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
    registry: Any,
    model: str,
    metrics: Mapping[str, Any],
    metadata: Mapping[str, Any],
    inputs: Sequence[str],
    created_by: str | None,
    source: str | None,
) -> int:
    refs = [VersionId.parse(i) for i in inputs]
    number: int = registry.log_version(
        model, metrics=metrics, metadata=metadata, inputs=refs, created_by=created_by, source=source
    )
    return number


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


def replace_local(uri: str, seed: Path) -> None:
    """``registry import --replace``: delete the embedded registry at ``uri`` so the seed starts
    from empty. Refused (exit 2, nothing touched) unless the seed reads and the file is an
    aliasgate registry: the path may be mistyped (the policy itself, another database) or a
    link planted to make the delete, or the registry created after it, land elsewhere."""
    from aliasgate.registry.local_file import COMPANIONS, check_file, is_registry

    seed_mod.load(seed)  # a bad seed is refused before anything is deleted
    path = Path(uri.split(":", 1)[1])
    if check_file(path) and not is_registry(path):
        raise InvalidInput(
            f"{path} is not an aliasgate registry: --replace deletes only an embedded registry",
            hint="name the registry file with --registry local:PATH (or remove the file yourself)",
        )
    for p in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
        if p.exists():
            p.unlink()


def import_seed(session: Session, path: Path) -> tuple[int, int, int]:
    """Create the seed's models and versions; set its aliases as audited manual moves."""
    from aliasgate import applier

    models = seed_mod.load(path)
    reg = session.registry
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
        reg.create_model(m.name, m.description)  # type: ignore[attr-defined]
    pending = [(m, v) for m in models for v in sorted(m.versions, key=lambda v: v.number)]
    while pending:
        progressed = False
        rest = []
        for m, v in pending:
            if all(_exists(reg, ref) for ref in v.inputs):
                reg.log_version(  # type: ignore[attr-defined]
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


def _exists(reg: Any, ref: VersionId) -> bool:
    from aliasgate.errors import NotFound

    try:
        reg.version(ref.model, ref.number)
    except NotFound:
        return False
    return True


def export_seed(session: Session) -> str:
    import yaml

    reg = session.registry
    models = []
    for name in reg.models():
        versions = reg.versions(name)
        info = reg.describe(name)  # type: ignore[attr-defined]
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
