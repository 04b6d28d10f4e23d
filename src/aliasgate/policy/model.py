"""The typed policy: what the loader hands the planner and the retention planner.

Every rule and gate remembers where it was written (file, line, JSON path),
so a blocked gate can be reported at its line (terminal, GitHub annotation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aliasgate.freeze import Window


@dataclass(frozen=True)
class Loc:
    file: str
    line: int
    column: int
    path: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NOWHERE = Loc("<none>", 0, 0, "$")


@dataclass(frozen=True)
class MetricGate:
    metric: str
    min: float | None = None
    max: float | None = None
    beats: str | None = None  # alias of the champion
    by: float = 0.0  # margin for beats
    relative: bool = False  # by is a fraction of the champion's value
    direction: str = "higher"
    top: int | None = None  # retention keep_if only: keep the best N
    of: str | None = None
    loc: Loc = NOWHERE
    kind: str = "metric"


@dataclass(frozen=True)
class MetadataGate:
    keys: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    of: str | None = None
    loc: Loc = NOWHERE
    kind: str = "metadata"


@dataclass(frozen=True)
class LineageGate:
    model: str
    alias: str | None = None
    rule: str | None = None  # ... published from that version by this rule (its gates passed)
    of: str | None = None
    loc: Loc = NOWHERE
    kind: str = "lineage"


@dataclass(frozen=True)
class MaxAgeGate:
    seconds: int
    text: str
    of: str | None = None
    loc: Loc = NOWHERE
    kind: str = "max_age"


@dataclass(frozen=True)
class FreezeGate:
    windows: tuple[Window, ...]
    tz: str = "UTC"
    loc: Loc = NOWHERE
    kind: str = "freeze"
    of: str | None = None


@dataclass(frozen=True)
class PrincipalsGate:
    names: tuple[str, ...]
    loc: Loc = NOWHERE
    kind: str = "principals"
    of: str | None = None


@dataclass(frozen=True)
class ApprovalsGate:
    """Four-eyes: ``required`` approvals recorded in the audit trail by principals of ``approvers``
    (names, globs or group names; ``members`` holds each group's principals), none by the roles in
    ``not_by`` (``author``: who made the saved plan; ``applier``: who applies it), none older than
    ``within`` seconds."""

    required: int
    approvers: tuple[str, ...]
    members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    not_by: tuple[str, ...] = ()
    within: int | None = None
    within_text: str | None = None
    loc: Loc = NOWHERE
    kind: str = "approvals"
    of: str | None = None


@dataclass(frozen=True)
class SoakGate:
    """The candidate has held ``alias`` continuously for at least ``seconds`` (audit trail)."""

    alias: str
    seconds: int
    text: str
    of: str | None = None
    loc: Loc = NOWHERE
    kind: str = "soak"


Gate = (
    MetricGate
    | MetadataGate
    | LineageGate
    | MaxAgeGate
    | FreezeGate
    | PrincipalsGate
    | ApprovalsGate
    | SoakGate
)


@dataclass(frozen=True)
class Rule:
    """Move ``to`` onto what ``source`` names, for one model or a bundle moving together."""

    name: str
    models: tuple[str, ...]
    source: str  # alias, 'latest' or 'v<N>'
    to: str
    gates: tuple[Gate, ...] = ()
    bundle: bool = False
    remove_from: bool = False
    description: str = ""
    loc: Loc = NOWHERE
    #: publish the candidate into this model (collection) of the same registry, then move ``to``
    #: there (``to: {model, alias}``); None: ``to`` moves within the rule's model
    dest: str | None = None

    @property
    def publishes(self) -> bool:
        return self.dest is not None


@dataclass(frozen=True)
class RetentionRule:
    pattern: str  # model name or fnmatch glob
    ttl_seconds: int | None = None
    ttl_text: str | None = None
    keep_last: int | None = None
    protect: tuple[str, ...] = ("*",)
    keep_if: tuple[Gate, ...] = ()
    name: str | None = None
    loc: Loc = NOWHERE

    @property
    def label(self) -> str:
        return self.name or f"retention[{self.pattern}]"


NOTIFY_EVENTS = ("moved", "blocked", "rolled_back", "cleanup")


@dataclass(frozen=True)
class NotifyTarget:
    """Where to tell people: a Standard Webhooks endpoint or a Slack incoming webhook.

    Holds the names of environment variables only; the URL and secret are read at delivery."""

    kind: str  # webhook | slack
    url_env: str
    secret_env: str | None = None  # webhooks only
    on: tuple[str, ...] = NOTIFY_EVENTS
    required: bool = False
    loc: Loc = NOWHERE

    @property
    def label(self) -> str:
        return f"{self.kind} ${self.url_env}"


@dataclass(frozen=True)
class Policy:
    path: str
    sha256: str
    registry: str | None = None
    promotions: tuple[Rule, ...] = ()
    retention: tuple[RetentionRule, ...] = ()
    notify: tuple[NotifyTarget, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> principals
    text: str | None = field(default=None, repr=False, compare=False)  # the source, as read

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.promotions if r.name == name), None)
