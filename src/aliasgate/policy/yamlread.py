"""YAML to plain data, every value marked with its line: safe loader only, within budgets.

Duplicate keys (which PyYAML silently overwrites) and merge keys are errors. Anchors are
shared nodes after composing, so a few hundred bytes can expand to billions of values
("billion laughs"): expansion stops at :data:`MAX_VALUES`, nesting at :data:`MAX_DEPTH`.
Numbers must be finite and fit in 64 bits.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

from aliasgate.errors import PolicyIssue
from aliasgate.policy.marks import Marks, PathT, json_path

MAX_VALUES = 500_000  # values after expanding anchors; a 10,000-rule policy has about 100,000
MAX_DEPTH = 64
MAX_INT = 2**63 - 1


class _Budget(Exception):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


@cache
def loader() -> Any:
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


def parse_yaml(text: str, filename: str, marks: Marks, issues: list[PolicyIssue]) -> Any:
    import yaml

    try:
        node = yaml.compose(text, Loader=loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        issues.append(PolicyIssue(filename, line, col, "$", f"invalid YAML: {problem}"))
        return None
    except yaml.YAMLError as exc:  # pragma: no cover - composer errors are all marked
        issues.append(PolicyIssue(filename, 1, 1, "$", f"invalid YAML: {exc}"))
        return None
    except RecursionError:
        issues.append(PolicyIssue(filename, 1, 1, "$", f"nested deeper than {MAX_DEPTH} levels"))
        return None
    if node is None:
        return None
    walker = _Walker(filename, marks, issues)
    try:
        return walker.build(node, ())
    except _Budget as exc:
        issues.append(PolicyIssue(filename, exc.line, exc.column, "$", exc.message))
        return None


class _Walker:
    """Nodes to values, marking each; counts values so shared anchors cannot expand unbounded."""

    def __init__(self, filename: str, marks: Marks, issues: list[PolicyIssue]) -> None:
        import yaml

        self.filename = filename
        self.marks = marks
        self.issues = issues
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def issue(self, n: Any, path: PathT, message: str) -> None:
        mark = n.start_mark
        self.issues.append(
            PolicyIssue(self.filename, mark.line + 1, mark.column + 1, json_path(path), message)
        )

    def build(self, n: Any, path: PathT) -> Any:
        import yaml

        self.count += 1
        if self.count > MAX_VALUES or len(path) > MAX_DEPTH:
            what = (
                f"more than {MAX_VALUES:,} values (YAML anchors and aliases expand to copies)"
                if self.count > MAX_VALUES
                else f"values nested deeper than {MAX_DEPTH} levels"
            )
            raise _Budget(f"the policy holds {what}", n.start_mark.line + 1, n.start_mark.column + 1)
        self.marks.values[path] = (n.start_mark.line + 1, n.start_mark.column + 1)
        if isinstance(n, yaml.MappingNode):
            return self.mapping(n, path)
        if isinstance(n, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(n.value)]
        return self.scalar(n, path)

    def mapping(self, n: Any, path: PathT) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in n.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.issue(key_node, path, "YAML merge keys (<<) are not supported in policies")
                continue
            key = self.scalar(key_node, path)
            # a plain key is its text: `on:` is the key "on" (as in GitHub workflows), not YAML 1.1's true
            key = key if isinstance(key, str) else str(getattr(key_node, "value", key))
            kpath = (*path, key)
            self.marks.keys[kpath] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                self.issue(
                    key_node, kpath, f"duplicate key {key!r} (YAML would silently keep only the last one)"
                )
                continue
            out[key] = self.build(value_node, kpath)
        return out

    def scalar(self, n: Any, path: PathT) -> Any:
        import yaml

        if not isinstance(n, yaml.ScalarNode):
            self.issue(n, path, "mapping keys must be plain strings")
            return "<complex key>"
        try:
            value = self.constructor.construct_object(n, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.issue(n, path, f"invalid YAML value: {exc.problem}")
            return None
        except (ValueError, OverflowError) as exc:  # a timestamp such as 2026-13-45
            self.issue(n, path, f"invalid YAML value {n.value!r}: {exc}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.issue(n, path, f"{n.value!r} is not a finite number (NaN and infinity are not allowed)")
            return None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            self.issue(n, path, f"{n.value!r} is too large (numbers must fit in 64 bits)")
            return None
        return value
