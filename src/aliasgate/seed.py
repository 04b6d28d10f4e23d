"""Registry seed files: the YAML that `promote registry import/export` reads and writes.

One neutral format for demos and tests, so the same registry content can be
loaded into the embedded registry (and, by test code, into MLflow or a W&B
double). A version gives ``created_at`` (ISO time) or ``age`` (a duration
before now), so demos never go stale.

    format: 1
    models:
      - name: bert-classifier
        versions:
          - number: 3
            age: 2d
            created_by: trainer
            metrics: {val_f1: 0.91}
            metadata: {git_commit: 4f2a9c1}
            inputs: [bert-tokenizer:v2]
        aliases: {staging: 3}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aliasgate.durations import parse_duration
from aliasgate.errors import InvalidInput
from aliasgate.model import VersionId, iso, parse_time, utcnow

SEED_FORMAT = 1


@dataclass(frozen=True)
class VersionSeed:
    number: int
    created_at: datetime
    created_by: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[VersionId, ...] = ()
    source: str | None = None


@dataclass(frozen=True)
class ModelSeed:
    name: str
    description: str = ""
    versions: tuple[VersionSeed, ...] = ()
    aliases: Mapping[str, int] = field(default_factory=dict)


def load(path: str | Path, *, now: datetime | None = None) -> list[ModelSeed]:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read registry seed {path}: {exc}") from None
    return parse(data, str(path), now=now)


def parse(data: Any, where: str = "<seed>", *, now: datetime | None = None) -> list[ModelSeed]:
    now = now or utcnow()
    if not isinstance(data, Mapping) or data.get("format") != SEED_FORMAT:
        raise InvalidInput(f"{where}: not an aliasgate registry seed (expected 'format: {SEED_FORMAT}')")
    models = []
    for i, m in enumerate(data.get("models") or []):
        at = f"{where}: models[{i}]"
        if not isinstance(m, Mapping) or not isinstance(m.get("name"), str):
            raise InvalidInput(f"{at}: each model needs a name")
        versions = []
        for j, v in enumerate(m.get("versions") or []):
            vat = f"{at}.versions[{j}]"
            if not isinstance(v, Mapping) or not isinstance(v.get("number"), int):
                raise InvalidInput(f"{vat}: each version needs an integer number")
            if "created_at" in v:
                created = parse_time(str(v["created_at"]))
            elif "age" in v:
                created = now - timedelta(seconds=parse_duration(str(v["age"])))
            else:
                created = now
            try:
                inputs = tuple(VersionId.parse(str(r)) for r in v.get("inputs") or [])
            except InvalidInput as exc:
                raise InvalidInput(f"{vat}.inputs: {exc}") from None
            versions.append(
                VersionSeed(
                    number=v["number"],
                    created_at=created,
                    created_by=v.get("created_by"),
                    metrics=dict(v.get("metrics") or {}),
                    metadata=dict(v.get("metadata") or {}),
                    inputs=inputs,
                    source=v.get("source"),
                )
            )
        aliases = m.get("aliases") or {}
        if not isinstance(aliases, Mapping) or not all(isinstance(n, int) for n in aliases.values()):
            raise InvalidInput(f"{at}.aliases: expected a mapping of alias to version number")
        models.append(ModelSeed(m["name"], str(m.get("description") or ""), tuple(versions), dict(aliases)))
    return models


def dump(models: Sequence[ModelSeed]) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for m in models:
        entry: dict[str, Any] = {"name": m.name}
        if m.description:
            entry["description"] = m.description
        entry["versions"] = [
            {
                "number": v.number,
                "created_at": iso(v.created_at),
                **({"created_by": v.created_by} if v.created_by else {}),
                **({"metrics": dict(v.metrics)} if v.metrics else {}),
                **({"metadata": dict(v.metadata)} if v.metadata else {}),
                **({"inputs": [str(r) for r in v.inputs]} if v.inputs else {}),
                **({"source": v.source} if v.source else {}),
            }
            for v in sorted(m.versions, key=lambda v: v.number)
        ]
        if m.aliases:
            entry["aliases"] = dict(sorted(m.aliases.items()))
        out.append(entry)
    return {"format": SEED_FORMAT, "models": out}
