"""From validated data to typed rules, adding the problems a schema cannot see.

Duplicate rule names, ``from == to``, an unknown time zone, a bundle gate about a model
outside the bundle, a duration longer than anything the clock can subtract, ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aliasgate.durations import parse_duration
from aliasgate.errors import InvalidInput, PolicyIssue
from aliasgate.freeze import parse_window
from aliasgate.policy.marks import Marks, PathT, json_path
from aliasgate.policy.model import (
    ApprovalsGate,
    FreezeGate,
    Gate,
    LineageGate,
    Loc,
    MaxAgeGate,
    MetadataGate,
    MetricGate,
    Policy,
    PrincipalsGate,
    RetentionRule,
    Rule,
    SoakGate,
)
from aliasgate.policy.notify import targets as notify_targets
from aliasgate.policy.schema_check import describe


class Builder:
    """Turns validated data into typed rules, adding the issues a schema cannot see.

    Runs even when the schema found problems, skipping what is malformed, so one
    pass reports everything."""

    def __init__(self, filename: str, marks: Marks, issues: list[PolicyIssue], bad: set[str]) -> None:
        self.filename = filename
        self.marks = marks
        self.issues = issues
        self.bad = bad

    def loc(self, path: PathT) -> Loc:
        line, col = self.marks.at(path)
        return Loc(self.filename, line, col, json_path(path))

    def issue(self, path: PathT, message: str, *, key: bool = False) -> None:
        line, col = self.marks.at(path, key=key)
        self.issues.append(PolicyIssue(self.filename, line, col, json_path(path), message))

    def build(self, data: Any, sha: str) -> Policy:
        if not isinstance(data, Mapping):
            if not self.issues:
                self.issue((), f"a policy is a mapping (start with `version: 1`), got {describe(data)}")
            return Policy(self.filename, sha)
        self.groups = self.read_groups(data.get("groups"))
        rules = []
        names: dict[str, int] = {}
        for i, raw in enumerate(_list(data.get("promotions"))):
            rule = self.rule(raw, ("promotions", i))
            if rule is None:
                continue
            if rule.name in names:
                self.issue(
                    ("promotions", i, "name"),
                    f"duplicate rule name {rule.name!r} (first used by promotions[{names[rule.name]}])",
                )
            else:
                names[rule.name] = i
            rules.append(rule)
        retention = []
        rnames: dict[str, int] = {}
        for i, raw in enumerate(_list(data.get("retention"))):
            rrule = self.retention(raw, ("retention", i))
            if rrule is None:
                continue
            if rrule.name:
                if rrule.name in rnames:
                    self.issue(("retention", i, "name"), f"duplicate retention rule name {rrule.name!r}")
                rnames[rrule.name] = i
            retention.append(rrule)
        registry = data.get("registry") if isinstance(data.get("registry"), str) else None
        notify = notify_targets(self, data.get("notify"))
        return Policy(
            self.filename, sha, registry, tuple(rules), tuple(retention), notify=notify, groups=self.groups
        )

    def read_groups(self, raw: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(raw, Mapping):
            return {}
        return {
            str(k): tuple(p for p in v if isinstance(p, str)) for k, v in raw.items() if isinstance(v, list)
        }

    def rule(self, raw: Any, path: PathT) -> Rule | None:
        if not isinstance(raw, Mapping):
            return None
        name = raw.get("name")
        if not isinstance(name, str):
            return None
        if isinstance(raw.get("bundle"), list):
            models = tuple(m for m in raw["bundle"] if isinstance(m, str))
            bundle = True
        elif isinstance(raw.get("model"), str):
            models = (raw["model"],)
            bundle = False
        else:
            return None
        source = raw.get("from")
        if (isinstance(source, int) and not isinstance(source, bool)) or (
            isinstance(source, str) and re.match(r"^[0-9]+$", source)
        ):
            source = f"v{source}"
        to, dest = _destination(raw.get("to"), models)
        if not isinstance(source, str) or not isinstance(to, str):
            return None
        if dest is not None:
            self.publishing(raw, path, bundle)
        elif source == to:
            self.issue(
                (*path, "to"), f"`from` and `to` are the same alias ({to!r}): the rule would move nothing"
            )
        gates: list[Gate] = []
        principals = raw.get("principals")
        if isinstance(principals, list) and all(isinstance(p, str) for p in principals):
            gates.append(PrincipalsGate(tuple(principals), loc=self.loc((*path, "principals"))))
        if isinstance(raw.get("approvals"), Mapping):
            approvals = self.approvals_gate(raw["approvals"], (*path, "approvals"))
            if approvals is not None:
                gates.append(approvals)
        for j, g in enumerate(_list(raw.get("gates"))):
            gate = self.gate(g, (*path, "gates", j), models, bundle, keep=False)
            if gate is not None:
                gates.append(gate)
        if raw.get("remove_from") and (source == "latest" or re.match(r"^v\d+$", source)):
            self.issue(
                (*path, "remove_from"),
                f"remove_from needs `from` to be an alias; {source!r} is not one",
                key=True,
            )
        return Rule(
            name=name,
            models=models,
            source=source,
            to=to,
            gates=tuple(gates),
            bundle=bundle,
            remove_from=bool(raw.get("remove_from", False)),
            description=str(raw.get("description") or ""),
            loc=self.loc(path),
            dest=dest,
        )

    def publishing(self, raw: Mapping[str, Any], path: PathT, bundle: bool) -> None:
        """What a rule publishing into another model cannot also do."""
        if bundle:
            self.issue((*path, "to"), "a bundle cannot publish into another model: name one `model`")
        if raw.get("remove_from"):
            self.issue(
                (*path, "remove_from"),
                "remove_from does not combine with publishing into another model (`to: {model, alias}`)",
                key=True,
            )

    def _of(self, raw: Mapping[str, Any], path: PathT, models: tuple[str, ...], bundle: bool) -> str | None:
        of = raw.get("of")
        if of is None:
            return None
        if not bundle:
            if of != models[0]:
                self.issue((*path, "of"), f"`of` names {of!r} but this rule is about {models[0]!r}")
            return None
        if of not in models:
            self.issue((*path, "of"), f"`of` names {of!r}, which is not in the bundle ({', '.join(models)})")
            return None
        return str(of)

    def gate(
        self, raw: Any, path: PathT, models: tuple[str, ...], bundle: bool, *, keep: bool
    ) -> Gate | None:
        if not isinstance(raw, Mapping):
            return None
        loc = self.loc(path)
        of = self._of(raw, path, models, bundle) if models else None
        try:
            if "metric" in raw and isinstance(raw["metric"], str):
                return self.metric_gate(raw, path, of, loc)
            if "metadata" in raw:
                md = raw["metadata"]
                if isinstance(md, list) and md and all(isinstance(k, str) for k in md):
                    return MetadataGate(keys=tuple(md), of=of, loc=loc)
                if isinstance(md, Mapping) and md:
                    return MetadataGate(values=dict(md), of=of, loc=loc)
                return None
            if "lineage" in raw and isinstance(raw["lineage"], Mapping):
                lin = raw["lineage"]
                if not isinstance(lin.get("model"), str):
                    return None
                alias = lin.get("alias") if isinstance(lin.get("alias"), str) else None
                by = lin.get("rule") if isinstance(lin.get("rule"), str) else None
                return LineageGate(model=lin["model"], alias=alias, rule=by, of=of, loc=loc)
            if "max_age" in raw and isinstance(raw["max_age"], str):
                return self.duration_gate(raw["max_age"], (*path, "max_age"), of, loc)
            if "freeze" in raw and isinstance(raw["freeze"], Mapping) and not keep:
                return self.freeze_gate(raw["freeze"], (*path, "freeze"), loc)
            if "soak" in raw and isinstance(raw["soak"], Mapping) and not keep:
                return self.soak_gate(raw["soak"], (*path, "soak"), of, loc)
            if "principals" in raw and isinstance(raw["principals"], list) and not keep:
                return PrincipalsGate(tuple(str(p) for p in raw["principals"]), loc=loc)
        except InvalidInput as exc:
            self.issue(path, exc.message)
        return None

    def metric_gate(self, raw: Mapping[str, Any], path: PathT, of: str | None, loc: Loc) -> MetricGate | None:
        def num(key: str) -> float | None:
            v = raw.get(key)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        lo, hi = num("min"), num("max")
        if lo is not None and hi is not None and lo > hi:
            self.issue(path, f"min ({lo:g}) is greater than max ({hi:g}): no value can pass")
        by_raw = raw.get("by", 0)
        relative = isinstance(by_raw, str) and by_raw.endswith("%")
        try:
            by = float(by_raw[:-1]) / 100 if relative else float(by_raw)
        except (TypeError, ValueError):
            by = 0.0
        beats = raw.get("beats") if isinstance(raw.get("beats"), str) else None
        direction = raw.get("direction", "higher")
        top = raw.get("top") if isinstance(raw.get("top"), int) else None
        return MetricGate(
            metric=raw["metric"],
            min=lo,
            max=hi,
            beats=beats,
            by=by,
            relative=relative,
            direction=direction if direction in ("higher", "lower") else "higher",
            top=top,
            of=of,
            loc=loc,
        )

    def seconds(self, text: str, path: PathT) -> int | None:
        """The duration ``text`` in seconds, or None once the reason is reported at ``path``."""
        try:
            return _duration(text)
        except InvalidInput as exc:
            if json_path(path) not in self.bad:
                self.issue(path, exc.message)
            return None

    def duration_gate(self, text: str, path: PathT, of: str | None, loc: Loc) -> MaxAgeGate | None:
        seconds = self.seconds(text, path)
        return None if seconds is None else MaxAgeGate(seconds=seconds, text=text, of=of, loc=loc)

    def freeze_gate(self, raw: Mapping[str, Any], path: PathT, loc: Loc) -> FreezeGate | None:
        tz = raw.get("tz", "UTC")
        ok = True
        if isinstance(tz, str) and not _valid_tz(tz):
            self.issue((*path, "tz"), f"unknown time zone {tz!r}: use an IANA name such as Europe/Berlin")
            ok = False
        windows = []
        for k, w in enumerate(_list(raw.get("windows"))):
            if not isinstance(w, str):
                continue
            try:
                windows.append(parse_window(w))
            except InvalidInput as exc:
                if json_path((*path, "windows", k)) not in self.bad:
                    self.issue((*path, "windows", k), exc.message)
                ok = False
        if not ok or not windows or not isinstance(tz, str):
            return None
        return FreezeGate(tuple(windows), tz, loc=loc)

    def soak_gate(self, raw: Mapping[str, Any], path: PathT, of: str | None, loc: Loc) -> SoakGate | None:
        alias, text = raw.get("alias"), raw.get("for")
        if not isinstance(alias, str) or not isinstance(text, str):
            return None
        seconds = self.seconds(text, (*path, "for"))
        return None if seconds is None else SoakGate(alias=alias, seconds=seconds, text=text, of=of, loc=loc)

    def approvals_gate(self, raw: Mapping[str, Any], path: PathT) -> ApprovalsGate | None:
        """``approvals:`` of a rule; ``from`` entries that name a group stand for its members."""
        required, approvers = raw.get("required"), raw.get("from")
        if type(required) is not int or not isinstance(approvers, list):
            return None
        names = tuple(a for a in approvers if isinstance(a, str))
        members = {n: self.groups[n] for n in names if n in self.groups}
        concrete = {p for n in names for p in members.get(n, (n,))}
        if not any(_is_glob(p) for p in concrete) and len(concrete) < required:
            self.issue(
                (*path, "required"),
                f"{required} approvals are required but `from` names only {len(concrete)} principal(s): "
                "no plan could ever be approved",
            )
        within_text = raw.get("within") if isinstance(raw.get("within"), str) else None
        within = None if within_text is None else self.seconds(within_text, (*path, "within"))
        if within_text is not None and within is None:
            return None
        not_by = raw.get("not_by", [])
        return ApprovalsGate(
            required=required,
            approvers=names,
            members=members,
            not_by=tuple(r for r in not_by if r in ("author", "applier")) if isinstance(not_by, list) else (),
            within=within,
            within_text=within_text,
            loc=self.loc(path),
        )

    def retention(self, raw: Any, path: PathT) -> RetentionRule | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("model"), str):
            return None
        ttl_text = raw.get("ttl") if isinstance(raw.get("ttl"), str) else None
        ttl = None if ttl_text is None else self.seconds(ttl_text, (*path, "ttl"))
        keep_last = raw.get("keep_last") if isinstance(raw.get("keep_last"), int) else None
        protect = raw.get("protect", ["*"])
        protect_t = tuple(p for p in protect if isinstance(p, str)) if isinstance(protect, list) else ("*",)
        keep_if = []
        for j, g in enumerate(_list(raw.get("keep_if"))):
            if isinstance(g, Mapping) and "of" in g:
                self.issue(
                    (*path, "keep_if", j, "of"),
                    "`of` names a bundle member; a keep_if gate is about the version being kept",
                    key=True,
                )
            gate = self.gate(g, (*path, "keep_if", j), (), False, keep=True)
            if gate is not None:
                keep_if.append(gate)
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        return RetentionRule(
            pattern=raw["model"],
            ttl_seconds=ttl,
            ttl_text=ttl_text,
            keep_last=keep_last,
            protect=protect_t,
            keep_if=tuple(keep_if),
            name=name,
            loc=self.loc(path),
        )


def _is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _valid_tz(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


MAX_DURATION_YEARS = 1000
_MAX_DURATION = MAX_DURATION_YEARS * 366 * 86400


def _duration(text: str) -> int:
    """Seconds, at most 1000 years: any longer and the clock cannot subtract it from today."""
    seconds = parse_duration(text)
    if seconds > _MAX_DURATION:
        raise InvalidInput(f"duration {text!r} is longer than {MAX_DURATION_YEARS} years")
    return seconds


def _destination(to: Any, models: tuple[str, ...]) -> tuple[Any, str | None]:
    """``to`` as (alias, destination model): a plain alias, or ``{model, alias}`` to publish
    (a destination equal to the rule's own model is a plain move)."""
    if not isinstance(to, Mapping):
        return to, None
    alias, model = to.get("alias"), to.get("model")
    if not isinstance(model, str) or (len(models) == 1 and model == models[0]):
        return alias, None
    return alias, model
