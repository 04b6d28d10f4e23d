"""Load a policy in one place and report *every* problem: file, line, column, JSON path, message.

YAML is read with the safe loader only, composed to nodes first so each value
keeps its line; duplicate keys (which PyYAML silently overwrites) are errors.
The JSON Schema (shipped in the package) checks shape; the semantic checks
below catch what a schema cannot (duplicate rule names, ``from == to``, an
unknown time zone, a bundle gate about a model outside the bundle, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from aliasgate.durations import parse_duration
from aliasgate.errors import InvalidInput, PolicyError, PolicyIssue
from aliasgate.freeze import parse_window
from aliasgate.policy.model import (
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
)

PathT = tuple[Any, ...]

# Human names of schema definitions, for messages such as "unknown key 'above' in a metric gate".
_DEF_NAMES = {
    "": "the policy",
    "promotion": "a promotion rule",
    "metricGate": "a metric gate",
    "keepMetricGate": "a keep_if metric gate",
    "metadataGate": "a metadata gate",
    "lineageGate": "a lineage gate",
    "maxAgeGate": "a max_age gate",
    "freezeGate": "a freeze gate",
    "principalsGate": "a principals gate",
    "retention": "a retention rule",
}


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_text())
    return data


@cache
def schema_text() -> str:
    """The shipped schema: a file beside this module (importlib.resources when zipped)."""
    beside = Path(__file__).with_name("schema.json")
    if beside.is_file():
        return beside.read_text(encoding="utf-8")
    from importlib import resources  # pragma: no cover - zipped installs only

    return resources.files("aliasgate.policy").joinpath("schema.json").read_text(encoding="utf-8")


def json_path(path: PathT) -> str:
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


class _Marks:
    """Where each value (and each mapping key) of the document was written."""

    def __init__(self) -> None:
        self.values: dict[PathT, tuple[int, int]] = {}
        self.keys: dict[PathT, tuple[int, int]] = {}

    def at(self, path: PathT, *, key: bool = False) -> tuple[int, int]:
        if key and path in self.keys:
            return self.keys[path]
        p = path
        while p not in self.values and p:
            p = p[:-1]
        return self.values.get(p, (1, 1))


def load_policy(path: str | Path, *, use_cache: bool = True) -> Policy:
    """Read, validate and type a policy file; raises PolicyError listing every problem.

    A policy the schema accepted once is remembered by content hash (see
    :func:`_cache_path`), so later commands skip PyYAML and jsonschema; the
    semantic checks run every time."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(
            f"policy file {path} not found", hint="pass -p/--policy or set PROMOTE_POLICY"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read policy file {path}: {exc.strerror}") from None
    return load_text(raw, str(path), use_cache=use_cache)


def load_text(raw: bytes | str, filename: str, *, use_cache: bool = False) -> Policy:
    data_bytes = raw.encode("utf-8") if isinstance(raw, str) else raw
    sha = hashlib.sha256(data_bytes).hexdigest()
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyIssue(filename, 1, 1, "$", f"not UTF-8 text ({exc.reason})")]) from None
    issues: list[PolicyIssue] = []
    marks = _Marks()
    cache = _cache_path(sha) if use_cache else None
    data = _read_cache(cache, marks) if cache is not None else None
    validated = data is not None
    if not validated:
        data = _parse_yaml(text, filename, marks, issues)
        if data is None and issues:
            raise PolicyError(issues)  # not YAML at all: nothing more to check
        if data is None:
            raise PolicyError(
                [PolicyIssue(filename, 1, 1, "$", "the policy is empty (start with `version: 1`)")]
            )
        issues.extend(_schema_issues(data, filename, marks))
    bad_paths = {_path_key(i.path) for i in issues}
    builder = _Builder(filename, marks, issues, bad_paths)
    policy = replace(builder.build(data, sha), text=text)
    if issues:
        issues.sort(key=lambda i: (i.line, i.column, i.path))
        raise PolicyError(_dedupe(issues))
    if cache is not None and not validated:
        _write_cache(cache, data, marks)
    return policy


def _read_cache(path: Path, marks: _Marks) -> Any:
    """The parsed document and its line marks, as remembered for a policy that passed the schema."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        marks.values = {tuple(p): (line, col) for p, line, col in cached["values"]}
        marks.keys = {tuple(p): (line, col) for p, line, col in cached["keys"]}
        return cached["data"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: Path, data: Any, marks: _Marks) -> None:
    try:
        payload = json.dumps(
            {
                "data": data,
                "values": [[list(p), line, col] for p, (line, col) in marks.values.items()],
                "keys": [[list(p), line, col] for p, (line, col) in marks.keys.items()],
            }
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(payload, encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):
        pass  # a read-only home, or a value JSON cannot hold: the next run parses again


def _cache_path(policy_sha: str) -> Path | None:
    """Where a policy that passed the schema is remembered, parsed.

    Parsing and schema validation are pure functions of the policy bytes and the
    schema, so the result is keyed by both hashes (and the aliasgate version): a
    later command skips importing PyYAML and jsonschema. Only passes are cached;
    the semantic checks run every time; PROMOTE_NO_CACHE=1 turns it off."""
    from aliasgate import __version__

    if os.environ.get("PROMOTE_NO_CACHE"):
        return None
    base = os.environ.get("PROMOTE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "aliasgate"
    )
    schema_sha = hashlib.sha256(schema_text().encode()).hexdigest()[:16]
    return Path(base) / "policies" / f"{policy_sha}-{schema_sha}-{__version__}.json"


def _dedupe(issues: list[PolicyIssue]) -> list[PolicyIssue]:
    seen: set[tuple[int, str, str]] = set()
    out = []
    for issue in issues:
        key = (issue.line, issue.path, issue.message)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def _path_key(path: str) -> str:
    return path


# -- YAML --------------------------------------------------------------------------------------


@cache
def _loader() -> Any:
    """The safe loader, plus YAML 1.2 floats: PyYAML reads ``1e-3`` as a string (YAML 1.1)."""
    import yaml

    # libyaml's parser when present (10x faster on big policies), same safe constructor either way.
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class PolicyLoader(base):  # type: ignore[valid-type,misc]
        pass

    PolicyLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return PolicyLoader


def _parse_yaml(text: str, filename: str, marks: _Marks, issues: list[PolicyIssue]) -> Any:
    import yaml

    try:
        node = yaml.compose(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        issues.append(PolicyIssue(filename, line, col, "$", f"invalid YAML: {problem}"))
        return None
    except yaml.YAMLError as exc:  # pragma: no cover - composer errors are all marked
        issues.append(PolicyIssue(filename, 1, 1, "$", f"invalid YAML: {exc}"))
        return None
    if node is None:
        return None
    constructor = yaml.constructor.SafeConstructor()

    def build(n: yaml.Node, path: PathT) -> Any:
        marks.values[path] = (n.start_mark.line + 1, n.start_mark.column + 1)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    issues.append(
                        PolicyIssue(
                            filename,
                            key_node.start_mark.line + 1,
                            key_node.start_mark.column + 1,
                            json_path(path),
                            "YAML merge keys (<<) are not supported in policies",
                        )
                    )
                    continue
                key = build_scalar(key_node, path)
                if not isinstance(key, str):
                    key = str(key)
                kpath = (*path, key)
                marks.keys[kpath] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key in out:
                    issues.append(
                        PolicyIssue(
                            filename,
                            key_node.start_mark.line + 1,
                            key_node.start_mark.column + 1,
                            json_path(kpath),
                            f"duplicate key {key!r} (YAML would silently keep only the last one)",
                        )
                    )
                    continue
                out[key] = build(value_node, kpath)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(n.value)]
        return build_scalar(n, path)

    def build_scalar(n: yaml.Node, path: PathT) -> Any:
        if not isinstance(n, yaml.ScalarNode):
            issues.append(
                PolicyIssue(
                    filename,
                    n.start_mark.line + 1,
                    n.start_mark.column + 1,
                    json_path(path),
                    "mapping keys must be plain strings",
                )
            )
            return "<complex key>"
        try:
            return constructor.construct_object(n, deep=True)
        except yaml.constructor.ConstructorError as exc:
            issues.append(
                PolicyIssue(
                    filename,
                    n.start_mark.line + 1,
                    n.start_mark.column + 1,
                    json_path(path),
                    f"invalid YAML value: {exc.problem}",
                )
            )
            return None

    return build(node, ())


# -- schema ------------------------------------------------------------------------------------


def _schema_issues(data: Any, filename: str, marks: _Marks) -> list[PolicyIssue]:
    from jsonschema import Draft202012Validator

    root = schema()
    def_ids = {id(v): k for k, v in root["$defs"].items()}
    def_ids[id(root)] = ""
    validator = Draft202012Validator(root)
    issues: list[PolicyIssue] = []
    discriminated: set[PathT] = set()
    errors = sorted(validator.iter_errors(_jsonable(data)), key=lambda e: (len(e.absolute_path), str(e.path)))
    # Discriminator errors first: when a gate is of no kind (or two), its other errors are noise.
    for error in errors:
        if error.validator == "oneOf" and "bundle" not in error.schema.get("x-discriminator", ("bundle",)):
            discriminated.add(tuple(error.absolute_path))
    for error in errors:
        path = tuple(error.absolute_path)
        if any(path[: len(d)] == d for d in discriminated) and not (
            error.validator == "oneOf" and "x-discriminator" in error.schema
        ):
            continue
        for sub_path, message, on_key in _translate(error, def_ids):
            line, col = marks.at(sub_path, key=on_key)
            issues.append(PolicyIssue(filename, line, col, json_path(sub_path), message))
    return issues


def _translate(error: Any, def_ids: dict[int, str]) -> Iterator[tuple[PathT, str, bool]]:
    """jsonschema's messages, rewritten for people: (path, message, points-at-key)."""
    path = tuple(error.absolute_path)
    sch = error.schema if isinstance(error.schema, Mapping) else {}
    v = error.validator
    inst = error.instance
    where = _DEF_NAMES.get(def_ids.get(id(sch), "?"), "here")
    if v == "additionalProperties":
        import difflib

        allowed = sorted(sch.get("properties", {}))
        for key in sorted(set(inst) - set(allowed)):
            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            msg = f"unknown key {key!r} in {where}"
            msg += f"; did you mean {hint[0]!r}?" if hint else f"; expected one of: {', '.join(allowed)}"
            yield (*path, key), msg, True
        return
    if v == "oneOf" and "x-discriminator" in sch and isinstance(inst, Mapping):
        kinds = list(sch["x-discriminator"])
        present = [k for k in kinds if k in inst]
        noun = "a promotion" if "bundle" in kinds else "a gate"
        if len(present) > 1:
            if noun == "a promotion":
                yield path, "a promotion names either `model` or `bundle`, not both", False
            else:
                yield (
                    path,
                    f"{noun} has one kind; found {' and '.join(present)}: split it into separate gates",
                    False,
                )
        else:
            keys = ", ".join(repr(k) for k in inst) or "none"
            yield path, f"{noun} needs exactly one of: {', '.join(kinds)} (found keys: {keys})", False
        return
    if "x-message" in sch and v in ("pattern", "const", "enum", "oneOf", "anyOf", "type", "not"):
        if v == "type" and not _scalar(inst):
            yield path, f"expected {_type_name(sch.get('type'))}, got {_describe(inst)}", False
            return
        shown = f" (got {_describe(inst)})" if _scalar(inst) else ""
        yield path, f"{sch['x-message']}{shown}", False
        return
    if v == "required":
        missing = [k for k in error.validator_value if k not in inst]
        for key in missing:
            yield path, f"missing required key {key!r} in {where}", False
        return
    if v == "type":
        yield path, f"expected {_type_name(error.validator_value)}, got {_describe(inst)}", False
        return
    if v == "enum":
        yield (
            path,
            f"expected one of {', '.join(map(str, error.validator_value))}, got {_describe(inst)}",
            False,
        )
        return
    if v == "const":
        yield path, f"expected {error.validator_value!r}, got {_describe(inst)}", False
        return
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        yield path, f"must be {op} {error.validator_value}, got {_describe(inst)}", False
        return
    if v == "minItems":
        yield path, f"needs at least {error.validator_value} item(s)", False
        return
    if v == "uniqueItems":
        yield path, "contains the same item twice", False
        return
    if v in ("minLength", "minProperties"):
        yield path, "must not be empty", False
        return
    if v == "dependentRequired":
        for key, needs in error.validator_value.items():
            if key in inst:
                for need in needs:
                    if need not in inst:
                        yield (*path, key), f"`{key}` only applies together with `{need}`", True
        return
    if v == "pattern":
        yield path, f"{_describe(inst)} does not match the expected form {error.validator_value}", False
        return
    if v in ("oneOf", "anyOf"):
        best = _best(error)
        if best is not None:
            yield from _translate(best, def_ids)
            return
    yield path, error.message, False  # pragma: no cover - every validator the schema uses is handled


def _best(error: Any) -> Any:
    from jsonschema.exceptions import best_match

    return best_match(error.context) if error.context else None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _type_name(t: Any) -> str:
    names = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "number": "a number",
        "integer": "a whole number",
        "boolean": "true or false",
        "null": "nothing",
    }
    if isinstance(t, list):
        return " or ".join(names.get(str(x), str(x)) for x in t)
    return names.get(t, str(t))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _jsonable(value: Any) -> Any:
    """Dates and other YAML scalars as strings so the schema reports them as wrong types."""
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _Opaque(value)


class _Opaque(str):
    """A YAML value JSON has no type for (a date, a timestamp): compared as a string."""

    __slots__ = ()

    def __new__(cls, value: Any) -> _Opaque:
        return super().__new__(cls, str(value))


# -- semantics + typing --------------------------------------------------------------------------


class _Builder:
    """Turns validated data into typed rules, adding the issues a schema cannot see.

    Runs even when the schema found problems, skipping what is malformed, so one
    pass reports everything."""

    def __init__(self, filename: str, marks: _Marks, issues: list[PolicyIssue], bad: set[str]) -> None:
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
                self.issue((), f"a policy is a mapping (start with `version: 1`), got {_describe(data)}")
            return Policy(self.filename, sha)
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
        return Policy(self.filename, sha, registry, tuple(rules), tuple(retention))

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
        to = raw.get("to")
        if not isinstance(source, str) or not isinstance(to, str):
            return None
        if source == to:
            self.issue(
                (*path, "to"), f"`from` and `to` are the same alias ({to!r}): the rule would move nothing"
            )
        gates: list[Gate] = []
        principals = raw.get("principals")
        if isinstance(principals, list) and all(isinstance(p, str) for p in principals):
            gates.append(PrincipalsGate(tuple(principals), loc=self.loc((*path, "principals"))))
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
                return LineageGate(model=lin["model"], alias=alias, of=of, loc=loc)
            if "max_age" in raw and isinstance(raw["max_age"], str):
                return self.duration_gate(raw["max_age"], (*path, "max_age"), of, loc)
            if "freeze" in raw and isinstance(raw["freeze"], Mapping) and not keep:
                return self.freeze_gate(raw["freeze"], (*path, "freeze"), loc)
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

    def duration_gate(self, text: str, path: PathT, of: str | None, loc: Loc) -> MaxAgeGate | None:
        try:
            seconds = parse_duration(text)
        except InvalidInput as exc:
            if json_path(path) not in self.bad:
                self.issue(path, exc.message)
            return None
        return MaxAgeGate(seconds=seconds, text=text, of=of, loc=loc)

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

    def retention(self, raw: Any, path: PathT) -> RetentionRule | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("model"), str):
            return None
        ttl_text = raw.get("ttl") if isinstance(raw.get("ttl"), str) else None
        ttl = None
        if ttl_text is not None:
            try:
                ttl = parse_duration(ttl_text)
            except InvalidInput as exc:
                if json_path((*path, "ttl")) not in self.bad:
                    self.issue((*path, "ttl"), exc.message)
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


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _valid_tz(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
