"""Load a policy in one place and report *every* problem: file, line, column, JSON path, message.

Reading (:mod:`~aliasgate.policy.source`: regular files only, within a size cap), YAML
(:mod:`~aliasgate.policy.yamlread`: safe loader, line marks, budgets), the JSON Schema
(:mod:`~aliasgate.policy.schema_check`) and the semantic checks
(:mod:`~aliasgate.policy.build`) each live in their own module; this one runs them in
order and remembers policies that passed the schema.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from aliasgate.errors import PolicyError, PolicyIssue
from aliasgate.policy.build import Builder
from aliasgate.policy.marks import Marks, json_path
from aliasgate.policy.model import Policy
from aliasgate.policy.schema_check import schema, schema_issues, schema_text
from aliasgate.policy.source import MiB, read_input
from aliasgate.policy.yamlread import parse_yaml

__all__ = ["MAX_POLICY_BYTES", "json_path", "load_policy", "load_text", "schema", "schema_text"]

MAX_POLICY_BYTES = 16 * MiB


def load_policy(path: str | Path, *, use_cache: bool = True) -> Policy:
    """Read, validate and type a policy file; raises PolicyError listing every problem.

    A policy the schema accepted once is remembered by content hash (see
    :func:`_cache_path`), so later commands skip PyYAML and jsonschema; the
    semantic checks run every time."""
    raw = read_input(
        path, what="policy file", limit=MAX_POLICY_BYTES, hint="pass -p/--policy or set PROMOTE_POLICY"
    )
    return load_text(raw, str(path), use_cache=use_cache)


def load_text(raw: bytes | str, filename: str, *, use_cache: bool = False) -> Policy:
    data_bytes = raw.encode("utf-8") if isinstance(raw, str) else raw
    sha = hashlib.sha256(data_bytes).hexdigest()
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyIssue(filename, 1, 1, "$", f"not UTF-8 text ({exc.reason})")]) from None
    issues: list[PolicyIssue] = []
    marks = Marks()
    cache = _cache_path(sha) if use_cache else None
    data = _read_cache(cache, marks) if cache is not None else None
    validated = data is not None
    if not validated:
        data = parse_yaml(text, filename, marks, issues)
        if data is None and issues:
            raise PolicyError(issues)  # not YAML at all: nothing more to check
        if data is None:
            raise PolicyError(
                [PolicyIssue(filename, 1, 1, "$", "the policy is empty (start with `version: 1`)")]
            )
        rejected = {i.path for i in issues}  # values the YAML reader refused: said once is enough
        issues.extend(i for i in schema_issues(data, filename, marks) if i.path not in rejected)
    bad_paths = {_path_key(i.path) for i in issues}
    builder = Builder(filename, marks, issues, bad_paths)
    policy = replace(builder.build(data, sha), text=text)
    if issues:
        issues.sort(key=lambda i: (i.line, i.column, i.path))
        raise PolicyError(_dedupe(issues))
    if cache is not None and not validated:
        _write_cache(cache, data, marks)
    return policy


def _read_cache(path: Path, marks: Marks) -> Any:
    """The parsed document and its line marks, as remembered for a policy that passed the schema."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        marks.values = {tuple(p): (line, col) for p, line, col in cached["values"]}
        marks.keys = {tuple(p): (line, col) for p, line, col in cached["keys"]}
        return cached["data"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: Path, data: Any, marks: Marks) -> None:
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
