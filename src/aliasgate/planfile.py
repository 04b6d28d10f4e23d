"""The saved-plan file: write, read, validate, sign and verify.

A saved plan is an intent, not an authority. It names the registry, the policy (by
SHA-256) and every move; ``apply PLAN`` re-evaluates that policy against the registry
as it is now (:mod:`aliasgate.planconfirm`) and applies only what the re-evaluation
yields for the same candidates. What the file alone says is therefore never trusted:

* the policy comes from the policy file given to ``apply`` (its hash must equal the
  plan's), or from the copy carried inside a plan signed with ``PROMOTE_PLAN_KEY``;
* the registry is the one ``apply`` resolves (``--registry``, ``PROMOTE_REGISTRY``, the
  policy's ``registry:``), which must equal the plan's; credentials go nowhere else.

This module checks the shape strictly (exit 2 with the JSON path of the first problem):
unknown or missing fields, wrong types (``true`` is not a version), reserved or invalid
aliases, two moves of one alias, a promotion to nothing, an id that does not match.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import tempfile
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aliasgate.errors import InvalidInput
from aliasgate.model import LATEST
from aliasgate.planner import BLOCKED, MOVE, PLAN_FORMAT, UP_TO_DATE, Plan
from aliasgate.policy.source import MiB, read_input

KEY_ENV = "PROMOTE_PLAN_KEY"
MIN_KEY_LENGTH = 16
MAX_PLAN_BYTES = 64 * MiB
SIGNATURE_PREFIX = "hmac-sha256:"
MAX_INT = 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,128}")
_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SELECTOR = re.compile(r"latest|v?[0-9]{1,18}|[A-Za-z0-9_-]{1,128}")
_SHA = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[0-9a-f]{16}")

_TOP = {"format", "registry", "created_at", "principal", "policy", "rules", "id", "summary"}
_RULE_KEYS = {"rule", "models", "from", "to", "status", "candidates", "holders", "moves", "gates"}
_RULE_KEYS |= {"reason", "line", "file"}
_MOVE_KEYS = {"model", "alias", "expected", "target", "kind"}
_GATE_KEYS = {"kind", "gate", "passed", "observed", "detail", "model", "line", "spec"}
_GATE_KINDS = ("metric", "metadata", "lineage", "max_age", "freeze", "principals", "approvals", "soak")


class Tampered(InvalidInput):
    """A saved plan that is malformed, edited, or not signed as required (exit 2)."""


@dataclass(frozen=True)
class SavedPlan:
    """A plan file that passed every check that needs no registry."""

    path: str
    plan: Plan
    policy_text: str | None  # the policy carried inside (signed plans only)
    signed: bool  # the signature was verified with PROMOTE_PLAN_KEY


# -- keys and signatures ---------------------------------------------------------------------------


def plan_key(env: Mapping[str, str] | None = None) -> bytes | None:
    """The shared HMAC key (``PROMOTE_PLAN_KEY``), registered as a secret; None when unset."""
    from aliasgate import secrets

    value = (os.environ if env is None else env).get(KEY_ENV, "")
    if not value:
        return None
    secrets.register(value)
    if len(value) < MIN_KEY_LENGTH:
        raise InvalidInput(
            f"{KEY_ENV} is shorter than {MIN_KEY_LENGTH} characters",
            hint="use a random value, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`",
        )
    return value.encode("utf-8")


def canonical(doc: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign(doc: Mapping[str, Any], key: bytes) -> str:
    return SIGNATURE_PREFIX + hmac.new(key, canonical(doc), hashlib.sha256).hexdigest()


# -- writing ---------------------------------------------------------------------------------------


def document(plan: Plan, *, key: bytes | None = None) -> dict[str, Any]:
    """The saved form of ``plan``; with a key, it carries its policy and an HMAC signature."""
    doc = plan.as_dict()
    if key is not None:
        if plan.policy_text is None:
            raise InvalidInput("cannot sign this plan: it holds no copy of its policy")
        doc["policy"] = {**doc["policy"], "text": plan.policy_text}
        doc["signature"] = sign(doc, key)
    return doc


def save(plan: Plan, path: str | Path, *, key: bytes | None = None) -> None:
    """Write the plan beside ``path`` and rename it into place: a symlink at ``path`` is
    replaced, never followed, and a failed write leaves no half file."""
    text = json.dumps(document(plan, key=key), indent=2, default=str, allow_nan=False) + "\n"
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".plan-", suffix=".tmp", dir=target.parent or Path("."))
    except OSError as exc:
        raise InvalidInput(f"cannot write the plan to {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if target.is_dir():
            raise InvalidInput(f"cannot write the plan to {path}: it is a directory")
        os.replace(tmp, target)
    except OSError as exc:
        raise InvalidInput(f"cannot write the plan to {path}: {exc.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# -- reading ---------------------------------------------------------------------------------------


def read(path: str | Path, *, key: bytes | None) -> SavedPlan:
    """Read and check a saved plan; with ``key``, its signature must verify."""
    raw = read_input(path, what="plan file", limit=MAX_PLAN_BYTES)
    return parse(raw, str(path), key=key)


def parse(raw: bytes, where: str, *, key: bytes | None) -> SavedPlan:
    doc = _json(raw, where)
    signed = _check_signature(doc, where, key)
    check_document(doc, where)
    try:
        plan = Plan.from_dict(doc, where=where)
    except InvalidInput as exc:  # pragma: no cover - check_document accepts only what from_dict reads
        raise Tampered(exc.message) from None
    text = doc["policy"].get("text")
    return SavedPlan(where, plan, text, signed)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _json(raw: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_no_duplicates
        )
    except UnicodeDecodeError as exc:
        raise Tampered(f"{where} is not UTF-8 text ({exc.reason})") from None
    except RecursionError:
        raise Tampered(f"{where} is nested too deeply to be an aliasgate plan") from None
    except ValueError as exc:
        raise Tampered(f"{where} is not a valid plan file: {exc}") from None
    if not isinstance(doc, dict):
        raise Tampered(f"{where} is not an aliasgate plan (a JSON object with format {PLAN_FORMAT})")
    return doc


def _check_signature(doc: Mapping[str, Any], where: str, key: bytes | None) -> bool:
    signature = doc.get("signature")
    if key is None:
        if signature is not None and not isinstance(signature, str):
            raise Tampered(f"{where}: $.signature must be a string")
        return False
    if not isinstance(signature, str) or not signature:
        raise Tampered(
            f"{where} is not signed, and {KEY_ENV} is set: only plans signed with that key are applied",
            hint=f"make the plan with the same {KEY_ENV} in the environment of `promote plan`",
        )
    if not hmac.compare_digest(signature.encode(), sign(doc, key).encode()):
        raise Tampered(
            f"{where}: the signature does not verify with {KEY_ENV}: the plan was edited after it was "
            "signed, or signed with another key"
        )
    return True


# -- the shape -------------------------------------------------------------------------------------


def check_document(doc: Mapping[str, Any], where: str) -> None:
    """Every field of the format, typed and cross-checked; raises Tampered naming the JSON path."""
    c = _Checker(where)
    c.keys(doc, "$", _TOP, optional={"signature"})
    if doc["format"] != PLAN_FORMAT or type(doc["format"]) is not int:
        raise Tampered(f"{where} is not an aliasgate plan of format {PLAN_FORMAT} ($.format)")
    c.text(doc["registry"], "$.registry")
    c.time(doc["created_at"], "$.created_at")
    c.principal(doc["principal"])
    c.policy(doc["policy"])
    c.rules(doc["rules"])
    plan = Plan.from_dict({**doc, "id": None}, where=where)
    if not isinstance(doc["id"], str) or not _ID.fullmatch(doc["id"]) or doc["id"] != plan.id:
        raise Tampered(f"{where} was edited after it was saved (its id does not match its content)")
    if _same_json(doc["summary"], plan.as_dict()["summary"]) is False:
        raise Tampered(f"{where} was edited after it was saved ($.summary does not match its rules)")


def _awaiting_approval(r: Mapping[str, Any]) -> bool:
    """A blocked rule whose only failed gates are approvals keeps its moves (to be approved)."""
    gates = r["gates"] if isinstance(r["gates"], list) else []
    failed = [g for g in gates if isinstance(g, Mapping) and g.get("passed") is not True]
    return r["status"] == BLOCKED and bool(failed) and all(g.get("kind") == "approvals" for g in failed)


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON: ``true`` is not ``1`` here, as it is in Python."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where
        self.seen_moves: set[tuple[str, str]] = set()

    def fail(self, path: str, message: str) -> Tampered:
        return Tampered(f"{self.where}: {path}: {message}")

    def keys(self, value: Any, path: str, required: set[str], optional: Set[str] = frozenset()) -> None:
        if not isinstance(value, Mapping):
            raise self.fail(path, "expected an object")
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(path, f"missing field {missing[0]!r}")
        unknown = sorted(set(value) - required - optional)
        if unknown:
            raise self.fail(path, f"unknown field {unknown[0]!r}")

    def text(self, value: Any, path: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not value and not empty):
            raise self.fail(path, "expected a non-empty string")
        if _CONTROL.search(value):
            raise self.fail(path, "contains a control character")
        return value

    def time(self, value: Any, path: str) -> None:
        from aliasgate.model import parse_time

        try:
            parse_time(self.text(value, path))
        except (ValueError, OverflowError):
            raise self.fail(path, f"{value!r} is not an ISO-8601 time") from None

    def number(self, value: Any, path: str, *, null: bool) -> None:
        if value is None and null:
            return
        if type(value) is not int or not 1 <= value <= MAX_INT:
            raise self.fail(path, f"expected a version number (a whole number >= 1), got {value!r}")

    def alias(self, value: Any, path: str) -> str:
        alias = self.text(value, path)
        if not _ALIAS.fullmatch(alias) or alias == LATEST or re.fullmatch(r"v[0-9]+", alias):
            raise self.fail(path, f"{alias!r} is not an alias aliasgate may move")
        return alias

    def principal(self, value: Any) -> None:
        self.keys(value, "$.principal", {"name", "authenticated", "source"}, {"detail"})
        self.text(value["name"], "$.principal.name")
        if type(value["authenticated"]) is not bool:
            raise self.fail("$.principal.authenticated", "expected true or false")
        self.text(value["source"], "$.principal.source")
        if "detail" in value and not isinstance(value["detail"], Mapping):
            raise self.fail("$.principal.detail", "expected an object")

    def policy(self, value: Any) -> None:
        self.keys(value, "$.policy", {"path", "sha256"}, {"text"})
        if value["path"] is not None:
            self.text(value["path"], "$.policy.path")
        if not isinstance(value["sha256"], str) or not _SHA.fullmatch(value["sha256"]):
            raise self.fail("$.policy.sha256", "expected the SHA-256 of the policy (64 hex digits)")
        if "text" in value:
            text = value["text"]
            if not isinstance(text, str):
                raise self.fail("$.policy.text", "expected a string")
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != value["sha256"]:
                raise self.fail("$.policy.text", "the carried policy does not match $.policy.sha256")

    def rules(self, value: Any) -> None:
        if not isinstance(value, list) or not value:
            raise self.fail("$.rules", "expected a non-empty list (a plan of no rule applies nothing)")
        names: set[str] = set()
        for i, rule in enumerate(value):
            name = self.rule(rule, f"$.rules[{i}]")
            if name in names:
                raise self.fail(f"$.rules[{i}].rule", f"rule {name!r} appears twice")
            names.add(name)

    def rule(self, r: Any, path: str) -> str:
        if isinstance(r, Mapping) and "publish" in r:
            raise self.fail(
                path,
                "a rule publishing into another model cannot be applied from a saved plan: plan and apply in one run",
            )
        self.keys(r, path, _RULE_KEYS)
        name = self.text(r["rule"], f"{path}.rule")
        if not _RULE.fullmatch(name):
            raise self.fail(f"{path}.rule", f"{name!r} is not a rule name")
        models = r["models"]
        if not isinstance(models, list) or not models:
            raise self.fail(f"{path}.models", "expected a non-empty list of model names")
        for j, m in enumerate(models):
            self.model(m, f"{path}.models[{j}]")
        if len(set(models)) != len(models):
            raise self.fail(f"{path}.models", "names a model twice")
        source = self.text(r["from"], f"{path}.from")
        if not _SELECTOR.fullmatch(source):
            raise self.fail(f"{path}.from", f"{source!r} is not an alias, a version or latest")
        to = self.alias(r["to"], f"{path}.to")
        if r["status"] not in (MOVE, UP_TO_DATE, BLOCKED):
            raise self.fail(f"{path}.status", f"expected {MOVE}, {UP_TO_DATE} or {BLOCKED}")
        for field_name in ("candidates", "holders"):
            table = r[field_name]
            if not isinstance(table, Mapping) or set(table) != set(models):
                raise self.fail(f"{path}.{field_name}", "expected one entry per model of the rule")
            for m, n in table.items():
                self.number(n, f"{path}.{field_name}[{json.dumps(m)}]", null=True)
        self.moves(r, path, set(models), source, to)
        if not isinstance(r["gates"], list):
            raise self.fail(f"{path}.gates", "expected a list")
        for j, g in enumerate(r["gates"]):
            self.gate(g, f"{path}.gates[{j}]")
        self.text(r["reason"], f"{path}.reason", empty=True)
        if r["line"] is not None:
            self.number(r["line"], f"{path}.line", null=False)
        if r["file"] is not None:
            self.text(r["file"], f"{path}.file")
        return name

    def model(self, value: Any, path: str) -> str:
        name = self.text(value, path)
        if ":" in name or "/" in name or name != name.strip():
            raise self.fail(path, f"{name!r} is not a model name")
        return name

    def moves(self, r: Mapping[str, Any], path: str, models: set[str], source: str, to: str) -> None:
        moves = r["moves"]
        if not isinstance(moves, list):
            raise self.fail(f"{path}.moves", "expected a list")
        if (r["status"] == MOVE or _awaiting_approval(r)) != bool(moves):
            raise self.fail(
                f"{path}.moves",
                f"a rule moves something exactly when its status is {MOVE!r} or only approvals are missing",
            )
        for k, m in enumerate(moves):
            mp = f"{path}.moves[{k}]"
            self.keys(m, mp, _MOVE_KEYS)
            model = self.model(m["model"], f"{mp}.model")
            if model not in models:
                raise self.fail(f"{mp}.model", f"{model!r} is not a model of this rule")
            alias = self.alias(m["alias"], f"{mp}.alias")
            self.number(m["expected"], f"{mp}.expected", null=True)
            if m["kind"] == "promote":
                if alias != to:
                    raise self.fail(f"{mp}.alias", f"a promotion of this rule moves {to!r}")
                self.number(m["target"], f"{mp}.target", null=False)
            elif m["kind"] == "remove":
                if alias != source or m["target"] is not None or m["expected"] is None:
                    raise self.fail(mp, f"a removal takes {source!r} (the rule's `from`) off a version")
            else:
                raise self.fail(f"{mp}.kind", f"expected 'promote' or 'remove', got {m['kind']!r}")
            if (model, alias) in self.seen_moves:
                raise self.fail(mp, f"moves {model}:{alias} a second time")
            self.seen_moves.add((model, alias))

    def gate(self, g: Any, path: str) -> None:
        self.keys(g, path, {"kind", "gate", "passed", "observed", "detail"}, _GATE_KEYS)
        if g["kind"] not in _GATE_KINDS:
            raise self.fail(f"{path}.kind", f"unknown gate kind {g['kind']!r}")
        self.text(g["gate"], f"{path}.gate")
        if type(g["passed"]) is not bool:
            raise self.fail(f"{path}.passed", "expected true or false")
        if not isinstance(g["detail"], str):
            raise self.fail(f"{path}.detail", "expected a string")
        if "model" in g:
            self.model(g["model"], f"{path}.model")
        if "line" in g:
            self.number(g["line"], f"{path}.line", null=False)
        if "spec" in g and not isinstance(g["spec"], Mapping):
            raise self.fail(f"{path}.spec", "expected an object")
