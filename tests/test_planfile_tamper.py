"""Saved plans from the side of whoever can edit the CI artifact between `plan` and `apply`.

Every field of the format is changed, removed, retyped and duplicated. With the id left as it
was, the file no longer matches its id (exit 2). An attacker can recompute the unkeyed id, so
every case is also applied with a recomputed id: it is refused (2, 3 or 4) and the registry is
untouched, or, for fields that only describe the plan (its evidence and provenance), it applies
what the policy yields now and the audit record carries the re-evaluated evidence, never the
edited text. With PROMOTE_PLAN_KEY set, no edit survives, whatever the id says.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aliasgate import planfile
from aliasgate.planner import Plan

Doc = dict[str, Any]
PathT = tuple[Any, ...]
KEY = "k" * 8 + "0123456789abcdef"

# Fields that describe the plan rather than decide it: with a recomputed id an edit of these
# applies what the policy yields now, and the record carries the re-evaluated values.
INFORMATIONAL = (
    ("created_at",),
    ("principal",),
    ("policy", "path"),
    ("rules", 0, "reason"),
    ("rules", 0, "line"),
    ("rules", 0, "file"),
    ("rules", 0, "gates", 0, "observed"),
    ("rules", 0, "gates", 0, "detail"),
    ("rules", 0, "gates", 0, "line"),
    ("rules", 0, "gates", 0, "spec"),
)


def informational(path: PathT) -> bool:
    shape = tuple(0 if isinstance(p, int) else p for p in path)  # any rule, any gate
    return any(shape[: len(p)] == p for p in INFORMATIONAL)


# -- the registry, before and after ------------------------------------------------------------------


def state(demo: Any) -> tuple[Any, ...]:
    reg = demo.registry()
    models = ("bert-classifier", "bert-tokenizer")
    return tuple((reg.aliases(m), len(reg.audit_log(m).records)) for m in models)


@pytest.fixture
def saved(demo: Any, cli: Any) -> Doc:
    run = cli("plan", "-p", str(demo.policy()), "-o", "plan.json")
    assert run.code == 0, run.output
    doc: Doc = json.loads((demo.path / "plan.json").read_text())
    return doc


def apply(cli: Any, demo: Any, doc: Doc | str, *extra: str, env: dict[str, str] | None = None) -> Any:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    (demo.path / "plan.json").write_text(text)
    return cli("apply", "plan.json", "-p", str(demo.policy()), *extra, env=env)


def rehash(doc: Doc) -> Doc:
    """What an attacker without the key can do: recompute the unkeyed id and the summary."""
    body = {k: v for k, v in doc.items() if k not in ("id", "summary", "signature")}
    try:
        plan = Plan.from_dict({**body, "id": None})
    except Exception:  # the edit broke the shape: keep the old id, the loader refuses it anyway
        return doc
    out = plan.as_dict()
    out.update({k: v for k, v in doc.items() if k not in ("id", "summary")})
    out["id"], out["summary"] = plan.id, out["summary"]
    return out


# -- mutations -----------------------------------------------------------------------------------------


def paths(value: Any, prefix: PathT = ()) -> Iterator[PathT]:
    """Every field of the document; of lists of gates, the first and last only (the same shape)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        picks = sorted({0, len(value) - 1}) if value else []
        for i in picks:
            yield (*prefix, i)
            yield from paths(value[i], (*prefix, i))


def get(doc: Any, path: PathT) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 if value != 2 else 1
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return 1
    if isinstance(value, list):
        return value[:-1] if value else [{}]
    return {**value, "extra": 1}


def retyped(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else 0
    if isinstance(value, (int, float)):
        return str(value) if value != 1 else True
    if isinstance(value, str):
        return [value]
    if value is None:
        return ""
    if isinstance(value, list):
        return {}
    return []


def mutations(doc: Doc) -> Iterator[tuple[str, PathT, Doc | str]]:
    for path in paths(doc):
        parent, last = get(doc, path[:-1]), path[-1]
        for how in ("changed", "removed", "retyped", "duplicated"):
            new = copy.deepcopy(doc)
            target = get(new, path[:-1])
            if how == "changed":
                target[last] = changed(parent[last])
            elif how == "retyped":
                target[last] = retyped(parent[last])
            elif how == "removed":
                del target[last]
            elif isinstance(parent, list):
                target.insert(last, copy.deepcopy(parent[last]))
            else:  # a JSON object with the key twice: only expressible as text
                marker = "__dup__"
                target[marker] = parent[last]
                text = json.dumps(new)
                yield how, path, text.replace(json.dumps(marker), json.dumps(last))
                continue
            yield how, path, new


def label(how: str, path: PathT) -> str:
    return how + ":" + ".".join(str(p) for p in path)


# -- the suite -----------------------------------------------------------------------------------------


def test_an_untouched_plan_still_applies(demo: Any, cli: Any, saved: Doc) -> None:
    run = apply(cli, demo, saved)
    assert run.code == 0, run.output
    assert demo.registry().aliases("bert-classifier")["production"] == 4


def test_every_field_edited_with_the_id_kept_is_refused(demo: Any, cli: Any, saved: Doc) -> None:
    """Through the loader (fast, every case), and the first few through `apply` end to end."""
    cases = list(mutations(saved))
    assert len(cases) > 150
    for how, path, doc in cases:
        text = doc if isinstance(doc, str) else json.dumps(doc)
        try:
            planfile.parse(text.encode(), "plan.json", key=None)
        except planfile.Tampered as exc:
            assert "plan.json" in exc.message, label(how, path)
            continue
        pytest.fail(f"accepted: {label(how, path)}")
    before = state(demo)
    for how, path, doc in cases[:: max(1, len(cases) // 12)]:
        run = apply(cli, demo, doc)
        assert run.code == 2, (label(how, path), run.output)
        assert "Traceback" not in run.output
        assert state(demo) == before, label(how, path)


def test_every_decisive_field_edited_with_a_recomputed_id_is_refused(demo: Any, cli: Any, saved: Doc) -> None:
    before = state(demo)
    tried = 0
    for how, path, doc in mutations(saved):
        if informational(path) or path in (("id",), ("summary",)) or path[:1] == ("summary",):
            continue
        forged = doc if isinstance(doc, str) else json.dumps(rehash(doc))
        run = apply(cli, demo, forged)
        tried += 1
        assert run.code in (2, 3, 4), (label(how, path), run.output)
        assert "Traceback" not in run.output and "internal error" not in run.output
        assert state(demo) == before, label(how, path)
    assert tried > 80


def test_descriptive_fields_edited_with_a_recomputed_id_never_reach_the_record(
    demo: Any, cli: Any, saved: Doc
) -> None:
    forged = copy.deepcopy(saved)
    forged["rules"][0]["reason"] = "approved by the CTO"
    forged["rules"][0]["gates"][0]["observed"] = 0.999
    forged["rules"][0]["gates"][0]["detail"] = "0.999 >= 0.89"
    run = apply(cli, demo, rehash(forged))
    assert run.code == 0, run.output
    record = demo.registry().audit_log("bert-classifier").records[-1]
    text = json.dumps(record)
    assert "CTO" not in text and "0.999" not in text
    assert record["gates"][0]["observed"] == 0.912


def test_the_id_removed_or_emptied_is_refused(demo: Any, cli: Any, saved: Doc) -> None:
    before = state(demo)
    for doc in ({k: v for k, v in saved.items() if k != "id"}, {**saved, "id": ""}, {**saved, "id": None}):
        run = apply(cli, demo, doc)
        assert run.code == 2, run.output
        assert state(demo) == before


def test_a_plan_naming_another_registry_is_refused_before_any_connection(
    demo: Any, cli: Any, saved: Doc, tmp_path: Path
) -> None:
    before = state(demo)
    elsewhere = tmp_path / "elsewhere" / "registry.db"
    run = apply(cli, demo, rehash({**saved, "registry": f"local:{elsewhere}"}))
    assert run.code == 2 and "does not match" in run.stderr, run.output
    assert not elsewhere.parent.exists()
    # nor can --registry point a plan elsewhere
    run = apply(cli, demo, saved, "--registry", f"local:{elsewhere}")
    assert run.code == 2 and "does not match" in run.stderr, run.output
    assert not elsewhere.parent.exists()
    # credentials only ever go to the registry resolved here: an MLflow host in the plan is not contacted
    run = apply(cli, demo, rehash({**saved, "registry": "mlflow+http://127.0.0.1:9"}))
    assert run.code == 2 and "does not match" in run.stderr, run.output
    assert state(demo) == before


def test_deleting_the_stored_spec_does_not_skip_the_principals_check(demo: Any, cli: Any) -> None:
    policy = demo.write(
        "guarded.yaml",
        demo.policy().read_text().replace("    gates:\n", "    principals: [ci-prod]\n    gates:\n", 1),
    )
    run = cli("plan", "-p", str(policy), "-o", "plan.json", env={"PROMOTE_PRINCIPAL": "ci-prod"})
    assert run.code == 0, run.output
    doc = json.loads((demo.path / "plan.json").read_text())
    assert doc["rules"][0]["gates"][0]["spec"] == {"principals": ["ci-prod"]}
    del doc["rules"][0]["gates"][0]["spec"]
    doc["rules"][0]["gates"][0]["observed"]["name"] = "mallory"
    before = state(demo)
    (demo.path / "plan.json").write_text(json.dumps(rehash(doc)))
    run = cli("apply", "plan.json", "-p", str(policy), env={"PROMOTE_PRINCIPAL": "mallory"})
    assert run.code == 3 and "mallory" in run.stderr, run.output
    assert state(demo) == before


def test_the_policy_named_by_the_plan_is_never_opened(demo: Any, cli: Any, saved: Doc) -> None:
    """A laxer policy elsewhere in the checkout cannot be swapped in by editing the plan."""
    lax = demo.write("lax.yaml", demo.policy().read_text().replace("min: 0.89", "min: 0.1"))
    doc = copy.deepcopy(saved)
    doc["policy"]["path"] = str(lax)
    doc["policy"]["sha256"] = __import__("hashlib").sha256(lax.read_bytes()).hexdigest()
    before = state(demo)
    run = apply(cli, demo, rehash(doc))
    assert run.code == 2 and "policy changed" in run.stderr, run.output
    assert state(demo) == before


# -- the attacks of the report, one by one ---------------------------------------------------------------

MOVE = ("rules", 0, "moves", 0)


def _edit(doc: Doc, path: PathT, value: Any) -> Doc:
    new = copy.deepcopy(doc)
    get(new, path[:-1])[path[-1]] = value
    return new


@pytest.mark.parametrize(
    ("what", "path", "value", "code"),
    [
        ("a target that failed the gates", (*MOVE, "target"), 1, 2),
        ("another model's alias", (*MOVE, "model"), "bert-tokenizer", 2),
        ("latest as alias", (*MOVE, "alias"), "latest", 2),
        ("empty alias", (*MOVE, "alias"), "", 2),
        ("alias with a trailing newline", (*MOVE, "alias"), "production\n", 2),
        ("target null", (*MOVE, "target"), None, 2),
        ("a spoofed kind", (*MOVE, "kind"), "rollback", 2),
        ("true as a version", (*MOVE, "target"), True, 2),
        ("a float as a version", (*MOVE, "target"), 4.0, 2),
        ("a huge version", (*MOVE, "target"), 10**30, 2),
        ("the candidate swapped", ("rules", 0, "candidates", "bert-classifier"), 3, 4),
        ("the holder swapped", ("rules", 0, "holders", "bert-classifier"), 1, 4),
        ("a failed verdict flipped", ("rules", 0, "gates", 0, "passed"), False, 4),
        ("an unknown rule", ("rules", 0, "rule"), "ship-everything", 2),
        ("format 2", ("format",), 2, 2),
        ("format true", ("format",), True, 2),
    ],
)
def test_named_attacks_are_refused(
    demo: Any, cli: Any, saved: Doc, what: str, path: PathT, value: Any, code: int
) -> None:
    before = state(demo)
    run = apply(cli, demo, rehash(_edit(saved, path, value)))
    assert run.code == code, (what, run.output)
    assert state(demo) == before, what


def test_two_moves_of_one_alias_are_refused(demo: Any, cli: Any, saved: Doc) -> None:
    doc = copy.deepcopy(saved)
    move = doc["rules"][0]["moves"][0]
    doc["rules"][0]["moves"].append({**move, "expected": 4, "target": 1})
    before = state(demo)
    run = apply(cli, demo, rehash(doc))
    assert run.code == 2 and "second time" in run.stderr, run.output
    assert state(demo) == before


# -- signed plans ----------------------------------------------------------------------------------------


def test_signed_plan_applies_and_any_edit_resigned_without_the_key_is_refused(
    demo: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMOTE_PLAN_KEY", KEY)
    assert cli("plan", "-p", str(demo.policy()), "-o", "plan.json").code == 0
    doc = json.loads((demo.path / "plan.json").read_text())
    assert doc["signature"].startswith("hmac-sha256:") and "text" in doc["policy"]
    before = state(demo)
    lax = doc["policy"]["text"].replace("min: 0.89", "min: 0.1")
    forgeries = [
        rehash(_edit(doc, ("rules", 0, "reason"), "edited")),
        rehash({k: v for k, v in doc.items() if k != "signature"}),
        rehash(_edit(doc, ("policy", "text"), lax)),
        {**doc, "signature": "hmac-sha256:" + "0" * 64},
        {**doc, "signature": planfile.sign(doc, b"another key of enough length")},
    ]
    for forged in forgeries:
        run = apply(cli, demo, forged)
        assert run.code == 2, run.output
        assert state(demo) == before
    assert KEY not in json.dumps(doc)
    # the untouched signed plan applies with its own policy copy, even without the policy file
    (demo.path / "plan.json").write_text(json.dumps(doc))
    run = cli("apply", "plan.json", "-p", "no-such-policy.yaml")
    assert run.code == 0, run.output
    assert KEY not in run.output


def test_with_the_key_set_an_unsigned_plan_is_refused(
    demo: Any, cli: Any, saved: Doc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMOTE_PLAN_KEY", KEY)
    before = state(demo)
    run = apply(cli, demo, saved)
    assert run.code == 2 and "not signed" in run.stderr, run.output
    assert state(demo) == before


def test_a_signed_plan_without_the_key_falls_back_to_the_policy_file(
    demo: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMOTE_PLAN_KEY", KEY)
    assert cli("plan", "-p", str(demo.policy()), "-o", "plan.json").code == 0
    monkeypatch.delenv("PROMOTE_PLAN_KEY")
    lost = cli("apply", "plan.json", "-p", "no-such-policy.yaml")
    assert lost.code == 2 and "PROMOTE_PLAN_KEY" in lost.stderr, lost.output
    run = cli("apply", "plan.json", "-p", str(demo.policy()))
    assert run.code == 0, run.output


def test_a_short_key_is_refused(demo: Any, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMOTE_PLAN_KEY", "short")
    run = cli("plan", "-p", str(demo.policy()), "-o", "plan.json")
    assert run.code == 2 and "PROMOTE_PLAN_KEY" in run.stderr
