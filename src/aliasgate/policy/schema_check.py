"""The shipped JSON Schema, and its errors rewritten for people (path, message, line)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache, partial
from pathlib import Path
from typing import Any

from aliasgate.errors import PolicyIssue
from aliasgate.policy.marks import Marks, PathT, json_path

# Human names of schema definitions, for messages such as "unknown key 'above' in a metric gate".
DEF_NAMES = {
    "": "the policy",
    "promotion": "a promotion rule",
    "publishTarget": "`to` (publishing into another model)",
    "metricGate": "a metric gate",
    "keepMetricGate": "a keep_if metric gate",
    "metadataGate": "a metadata gate",
    "lineageGate": "a lineage gate",
    "maxAgeGate": "a max_age gate",
    "freezeGate": "a freeze gate",
    "principalsGate": "a principals gate",
    "retention": "a retention rule",
    "notifyTarget": "a notify target",
    "webhookTarget": "a webhook target",
    "slackTarget": "a Slack target",
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


def schema_issues(data: Any, filename: str, marks: Marks) -> list[PolicyIssue]:
    from jsonschema import Draft202012Validator

    root = schema()
    def_ids = {id(v): k for k, v in root["$defs"].items()}
    def_ids[id(root)] = ""
    validator = Draft202012Validator(root)
    issues: list[PolicyIssue] = []
    discriminated: set[PathT] = set()
    errors = sorted(_errors(validator, jsonable(data)), key=lambda pe: (len(pe[0]), str(pe[0])))
    # Discriminator errors first: when a gate is of no kind (or two), its other errors are noise.
    for path, error, _ in errors:
        if error.validator == "oneOf" and "bundle" not in error.schema.get("x-discriminator", ("bundle",)):
            discriminated.add(path)
    for path, error, rebase in errors:
        if any(path[: len(d)] == d for d in discriminated) and not (
            error.validator == "oneOf" and "x-discriminator" in error.schema
        ):
            continue
        for sub_path, message, on_key in _translate(error, def_ids, rebase):
            line, col = marks.at(sub_path, key=on_key)
            issues.append(PolicyIssue(filename, line, col, json_path(sub_path), message))
    return issues


# Rules of a large policy mostly differ only in these names; each is checked against its own
# pattern, and the rest of the rule is validated once per distinct shape (10,000 rules: seconds
# less). A name that fails its pattern stays in the shape, so its error reads as usual.
_PLACEHOLDERS = {"name": ("name", "n"), "model": ("model", "m"), "to": ("alias", "a"), "from": (None, "s")}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MANY_RULES = 32


class _Rebase:
    """Maps the path of an error (or of one of its sub-errors) onto the path in the whole policy:
    errors of a rule validated on its own have ``promotions[0]`` where the rule is ``promotions[i]``."""

    def __init__(self, index: int | None) -> None:
        self.index = index

    def __call__(self, error: Any) -> PathT:
        path = tuple(error.absolute_path)
        return path if self.index is None else ("promotions", self.index, *path[2:])


def _errors(validator: Any, doc: Any) -> list[tuple[PathT, Any, _Rebase]]:
    """(path in the policy, error, how to place its sub-errors) for every schema error."""
    whole = _Rebase(None)
    rules = doc.get("promotions") if isinstance(doc, Mapping) else None
    if not isinstance(rules, list) or len(rules) < _MANY_RULES:
        return [(whole(e), e, whole) for e in validator.iter_errors(doc)]
    out = [(whole(e), e, whole) for e in validator.iter_errors({**doc, "promotions": []})]
    seen: dict[str, list[Any]] = {}
    for i, rule in enumerate(rules):
        shape = _shape(rule)
        key = json.dumps(shape, sort_keys=True)
        if key not in seen:
            seen[key] = list(validator.iter_errors({"version": 1, "promotions": [shape]}))
        rebase = _Rebase(i)
        out.extend((rebase(e), e, rebase) for e in seen[key])
    return out


def _shape(rule: Any) -> Any:
    if not isinstance(rule, Mapping):
        return rule
    out = dict(rule)
    for key, (def_name, placeholder) in _PLACEHOLDERS.items():
        value = rule.get(key)
        if isinstance(value, str) and not _CONTROL.search(value) and _pattern(def_name).search(value):
            out[key] = placeholder
    return out


@cache
def _pattern(def_name: str | None) -> re.Pattern[str]:
    defs = schema()["$defs"]
    text = defs["selector"]["oneOf"][0]["pattern"] if def_name is None else defs[def_name]["pattern"]
    return re.compile(text)


Found = Iterator[tuple[PathT, str, bool]]


def _translate(error: Any, def_ids: dict[int, str], where_in: Any) -> Found:
    """jsonschema's messages, rewritten for people: (path, message, points-at-key)."""
    path = where_in(error)
    sch = error.schema if isinstance(error.schema, Mapping) else {}
    v = error.validator
    inst = error.instance
    where = DEF_NAMES.get(def_ids.get(id(sch), "?"), "here")
    if v == "additionalProperties":
        yield from _unknown_keys(path, sch, inst, where)
    elif v == "oneOf" and "x-discriminator" in sch and isinstance(inst, Mapping):
        yield (*_discriminator(path, sch, inst), False)
    elif "x-message" in sch and v in ("pattern", "const", "enum", "oneOf", "anyOf", "type", "not"):
        if v == "type" and not _scalar(inst):
            yield path, f"expected {_type_name(sch.get('type'))}, got {describe(inst)}", False
        else:
            shown = f" (got {describe(inst)})" if _scalar(inst) and not sch.get("x-secret") else ""
            yield path, f"{sch['x-message']}{shown}", False
    elif v == "required":
        for key in [k for k in error.validator_value if k not in inst]:
            yield path, f"missing required key {key!r} in {where}", False
    elif v == "dependentRequired":
        for key, needs in error.validator_value.items():
            for need in needs if key in inst else ():
                if need not in inst:
                    yield (*path, key), f"`{key}` only applies together with `{need}`", True
    elif v in _SIMPLE:
        yield path, _SIMPLE[v](error.validator_value, inst), False
    elif v in ("oneOf", "anyOf") and _best(error) is not None:
        yield from _translate(_best(error), def_ids, where_in)
    else:  # pragma: no cover - every validator the schema uses is handled
        yield path, error.message, False


def _unknown_keys(path: PathT, sch: Mapping[str, Any], inst: Any, where: str) -> Found:
    import difflib

    allowed = sorted(sch.get("properties", {}))
    for key in sorted(set(inst) - set(allowed)):
        hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        msg = f"unknown key {key!r} in {where}"
        msg += f"; did you mean {hint[0]!r}?" if hint else f"; expected one of: {', '.join(allowed)}"
        yield (*path, key), msg, True


def _discriminator(path: PathT, sch: Mapping[str, Any], inst: Mapping[str, Any]) -> tuple[PathT, str]:
    kinds = list(sch["x-discriminator"])
    present = [k for k in kinds if k in inst]
    noun = sch.get("x-noun") or ("a promotion" if "bundle" in kinds else "a gate")
    if len(present) > 1 and noun == "a promotion":
        return path, "a promotion names either `model` or `bundle`, not both"
    if len(present) > 1:
        split = "targets" if noun == "a notify target" else "gates"
        return path, f"{noun} has one kind; found {' and '.join(present)}: split it into separate {split}"
    keys = ", ".join(repr(k) for k in inst) or "none"
    return path, f"{noun} needs exactly one of: {', '.join(kinds)} (found keys: {keys})"


def _bound(sign: str, want: Any, inst: Any) -> str:
    return f"must be {sign} {want}, got {describe(inst)}"


_OPS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
# validator -> message from (the validator's value, the instance)
_SIMPLE: dict[str, Callable[[Any, Any], str]] = {
    "type": lambda want, inst: f"expected {_type_name(want)}, got {describe(inst)}",
    "enum": lambda want, inst: f"expected one of {', '.join(map(str, want))}, got {describe(inst)}",
    "const": lambda want, inst: f"expected {want!r}, got {describe(inst)}",
    **{op: partial(_bound, sign) for op, sign in _OPS.items()},
    "minItems": lambda want, inst: f"needs at least {want} item(s)",
    "uniqueItems": lambda want, inst: "contains the same item twice",
    "minLength": lambda want, inst: "must not be empty",
    "minProperties": lambda want, inst: "must not be empty",
    # the schema's only `not`: no control characters in names and other text
    "not": lambda want, inst: f"{describe(inst)} contains a control character (newline, tab, escape, ...)",
    "pattern": lambda want, inst: f"{describe(inst)} does not match the expected form {want}",
}


def _best(error: Any) -> Any:
    from jsonschema.exceptions import best_match

    if not error.context:
        return None
    # The branch written for the instance's own type explains it best (a mapping `to` is a publish
    # target, not a bad alias).
    wrong = {e.schema_path[0] for e in error.context if e.validator == "type" and not e.relative_path}
    own = [e for e in error.context if e.schema_path and e.schema_path[0] not in wrong]
    return best_match(own or error.context)


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


def describe(value: Any) -> str:
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


def jsonable(value: Any) -> Any:
    """Dates and other YAML scalars as strings so the schema reports them as wrong types."""
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _Opaque(value)


class _Opaque(str):
    """A YAML value JSON has no type for (a date, a timestamp): compared as a string."""

    __slots__ = ()

    def __new__(cls, value: Any) -> _Opaque:
        return super().__new__(cls, str(value))
