"""Property-based fuzzing of the two loaders of user files, bounded so it stays a few seconds.

* The policy loader, fed YAML built from the policy's own vocabulary (with NaN, huge numbers,
  control characters, anchors) and raw text: it returns a policy or raises the exit-2 errors,
  never anything else.
* The saved-plan loader and the apply-time confirmation, fed real plans with random edits (with
  and without a recomputed id): a plan is refused with exit 2, 3 or 4, or it is exactly what the
  policy yields now; never a traceback.

Examples are derandomized (the same in every run); ``PROMOTE_FUZZ_EXAMPLES=5000`` digs deeper.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aliasgate import planconfirm, planfile
from aliasgate.errors import AliasgateError, InvalidInput, PolicyError
from aliasgate.model import Principal, utcnow
from aliasgate.policy import load_text
from tests.test_planfile_tamper import get, paths, rehash

EXAMPLES = int(os.environ.get("PROMOTE_FUZZ_EXAMPLES", "150"))
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=2000,  # ms per example: a loader that loops or expands without bound fails here
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

WORDS = [
    "version", "registry", "promotions", "retention", "name", "model", "bundle", "from", "to",
    "gates", "metric", "min", "max", "beats", "by", "direction", "of", "metadata", "lineage",
    "alias", "max_age", "freeze", "windows", "tz", "principals", "remove_from", "description",
    "ttl", "keep_last", "protect", "keep_if", "top",
]  # fmt: skip
VALUES = [
    "staging", "production", "latest", "v3", "3", "14d", "0s", "99999999999w", "1%", "-5%", "higher",
    "Fri 16:00-Mon 08:00", "25:00-08:00", "2026-01-01..9999-12-31", "9999-12-31..0001-01-01",
    "Europe/Berlin", "Not/AZone", "local:x.db", "mlflow", "wandb://e/p", "production\n", "",
    "a\x1b[31m", "::stop-commands::x", "*",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(VALUES)
    | st.text(max_size=12)
)
keys = st.sampled_from(WORDS) | st.text(max_size=6)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)
rule = st.dictionaries(st.sampled_from(WORDS), values, max_size=8)
policies = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 1, 2, "1", None])},
    optional={
        "promotions": st.lists(rule, max_size=4) | values,
        "retention": st.lists(rule, max_size=3) | values,
        "registry": st.sampled_from(VALUES) | scalars,
    },
)
SNIPPETS = [
    "version: 1\n", "promotions:\n", "  - name: a\n", "    model: m\n", "    from: staging\n",
    "    to: prod\n", "    gates:\n", "      - {metric: f1, min: .nan}\n", "      - &g {max_age: 1d}\n",
    "      - *g\n", "x: &a [1, 2]\n", "y: [*a, *a, *a]\n", "<<: *a\n", "? [a]\n: b\n", "!!python/name:os.system\n",
    "t: 2026-13-45\n", "\t\n", "- [\n", "k: !!binary aGVsbG8=\n", "z: 0x7fffffffffffffffffff\n",
]  # fmt: skip


def _loads_or_refuses(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml")
    except (PolicyError, InvalidInput) as exc:
        assert exc.exit_code == 2
        for issue in getattr(exc, "issues", []):
            assert issue.file == "fuzz.yaml" and issue.line >= 0


@BOUNDED
@given(policies)
def test_policy_loader_on_policy_shaped_documents(doc: dict[str, Any]) -> None:
    _loads_or_refuses(yaml.safe_dump(doc, allow_unicode=True))


@BOUNDED
@given(st.lists(st.sampled_from(SNIPPETS) | st.text(max_size=20), max_size=12))
def test_policy_loader_on_yaml_fragments(parts: list[str]) -> None:
    _loads_or_refuses("".join(parts))


# -- saved plans -----------------------------------------------------------------------------------------


@pytest.fixture
def saved_plan(demo: Any, cli: Any) -> dict[str, Any]:
    run = cli("plan", "-p", str(demo.policy()), "-o", "plan.json")
    assert run.code == 0, run.output
    doc: dict[str, Any] = json.loads((demo.path / "plan.json").read_text())
    return doc


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.sampled_from(VALUES) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@BOUNDED
@given(data=st.data())
def test_plan_loader_and_confirmation_on_edited_plans(
    demo: Any, saved_plan: dict[str, Any], data: Any
) -> None:
    doc = copy.deepcopy(saved_plan)
    fields = list(paths(doc))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(fields))
        try:
            parent = get(doc, path[:-1])
            action = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
            if action == "replace":
                parent[path[-1]] = data.draw(json_values)
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or retyped this field's parent
    if data.draw(st.booleans()):
        doc = rehash(doc)
    raw = json.dumps(doc).encode()
    try:
        saved = planfile.parse(raw, "fuzz.json", key=None)
    except InvalidInput as exc:
        assert exc.exit_code == 2 and "fuzz.json" in exc.message
        return
    policy = load_text(demo.policy().read_bytes(), str(demo.policy()))
    registry = demo.registry()
    try:
        if saved.plan.policy_sha256 != policy.sha256:
            return  # apply refuses it before any registry is opened (exit 2; tested in the tamper suite)
        plan = planconfirm.confirm(
            saved, policy, registry, principal=Principal("fuzz", False, "test"), now=utcnow()
        )
    except AliasgateError as exc:
        assert int(exc.exit_code) in (2, 3, 4), exc
        return
    finally:
        registry.close()
    assert [m.as_dict() for m in plan.moves] == [
        {"model": "bert-classifier", "alias": "production", "expected": 2, "target": 4, "kind": "promote"}
    ]


@BOUNDED
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_plan_loader_on_arbitrary_bytes(raw: bytes) -> None:
    try:
        planfile.parse(raw, "fuzz.json", key=None)
    except InvalidInput as exc:
        assert exc.exit_code == 2 and "fuzz.json" in exc.message
