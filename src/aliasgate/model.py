"""Registry-neutral values: versions, principals, alias operations, references.

Every backend translates its own objects into these, so the planner, the gates
and the applier never know which registry they talk to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aliasgate.errors import BadReference

LATEST = "latest"
# Aliases as the strictest backend (MLflow) allows them; `latest` and `v<digits>` are reserved.
ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
VERSION_RE = re.compile(r"^v?(\d+)$")


def is_version_token(token: str) -> bool:
    return VERSION_RE.match(token) is not None


def validate_alias(alias: str) -> str:
    """An alias a user may set: not ``latest`` (automatic) and not ``v3`` (a version)."""
    if not ALIAS_RE.match(alias):
        raise BadReference(f"invalid alias {alias!r}: use letters, digits, '_' and '-' (at most 128)")
    if alias == LATEST or re.match(r"^v\d+$", alias):
        raise BadReference(f"alias {alias!r} is reserved: 'latest' and 'v<number>' name versions")
    return alias


@dataclass(frozen=True, order=True)
class VersionId:
    """A version of a model by number: ``model:v3``."""

    model: str
    number: int

    def __str__(self) -> str:
        return f"{self.model}:v{self.number}"

    @classmethod
    def parse(cls, text: str) -> VersionId:
        ref = Ref.parse(text)
        if ref.number is None:
            raise BadReference(f"{text!r} is not a version reference (expected model:vN)")
        return cls(ref.model, ref.number)


@dataclass(frozen=True)
class Ref:
    """A reference as users write it: ``model:alias``, ``model:vN``, ``model:N`` or ``model:latest``."""

    model: str
    alias: str | None = None  # set when the selector is an alias (including 'latest')
    number: int | None = None  # set when the selector is a version number

    @classmethod
    def parse(cls, text: str, *, default_selector: str | None = None) -> Ref:
        model, sep, selector = text.rpartition(":")
        if not sep:
            model, selector = text, (default_selector or "")
        if not model or not selector:
            raise BadReference(f"invalid reference {text!r}: expected model:alias, model:vN or model:latest")
        return cls.of(model, selector)

    @classmethod
    def of(cls, model: str, selector: str) -> Ref:
        m = VERSION_RE.match(selector)
        if m:
            return cls(model, number=int(m.group(1)))
        if not ALIAS_RE.match(selector):
            raise BadReference(f"invalid selector {selector!r} in {model}:{selector}")
        return cls(model, alias=selector)

    @property
    def selector(self) -> str:
        return f"v{self.number}" if self.number is not None else str(self.alias)

    def __str__(self) -> str:
        return f"{self.model}:{self.selector}"


@dataclass(frozen=True)
class Principal:
    """Who the registry says we are (or, unauthenticated, who we claim to be)."""

    name: str
    authenticated: bool
    source: str  # how it was established, e.g. "mlflow users/current", "PROMOTE_PRINCIPAL"
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "authenticated": self.authenticated,
            "source": self.source,
            **({"detail": dict(self.detail)} if self.detail else {}),
        }


@dataclass(frozen=True)
class Version:
    """One immutable version with what gates read: metrics, metadata, lineage, age."""

    model: str
    number: int
    created_at: datetime  # timezone-aware, UTC
    created_by: str | None = None
    aliases: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    lineage: tuple[VersionId, ...] = ()  # versions this one was derived from
    lineage_recorded: bool = True  # False where the backend cannot tell (then lineage gates fail closed)
    source: str | None = None  # where the version came from (run id, artifact path) for display
    #: the version of another model this one is a published copy or link of (W&B link, MLflow
    #: ``models:/`` source); lineage gates follow it like a lineage edge
    published_from: VersionId | None = None

    @property
    def id(self) -> VersionId:
        return VersionId(self.model, self.number)

    def __str__(self) -> str:
        return f"{self.model}:v{self.number}"

    def metric(self, name: str) -> float | None:
        """The metric as a float, or None when absent or not a number (NaN is returned as NaN)."""
        value = self.metrics.get(name)
        if value is None or isinstance(value, bool):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class AliasOp:
    """A compare-and-swap on one alias: move it from ``expected`` to ``target``.

    ``expected`` None means the alias must not exist yet; ``target`` None removes it
    (only ever requested explicitly, e.g. a rule with ``remove_from``).
    """

    model: str
    alias: str
    expected: int | None
    target: int | None

    def inverse(self) -> AliasOp:
        return AliasOp(self.model, self.alias, self.target, self.expected)

    def __str__(self) -> str:
        def show(v: int | None) -> str:
            return "(none)" if v is None else f"v{v}"

        return f"{self.model}:{self.alias} {show(self.expected)} -> {show(self.target)}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """UTC ISO-8601 with a Z, the one timestamp format aliasgate writes."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value) and not math.isinf(value)
