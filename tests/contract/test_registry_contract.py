"""The Registry contract, held on every backend: the embedded registry, a real ``mlflow server``
and the W&B double, each seeded with the demo (see ``conftest.py`` for the adapters).

Written against the ``Registry`` protocol and the core's public functions (``api``, ``planner``,
``applier``), never against a backend's internals: what holds here holds for any backend that
joins ``BACKENDS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from aliasgate import api, applier, audit, planner
from aliasgate.errors import Conflict, ExitCode, InvalidInput, NotFound
from aliasgate.model import AliasOp, Move, Principal, utcnow
from aliasgate.policy import load_text
from aliasgate.provenance import collect
from aliasgate.registry import AppendsRecords, BatchDeletes, EmbeddedAdmin, NativeTtl, Publishes, Registry
from tests.contract.conftest import Backend

Snapshot = dict[str, tuple[dict[str, int], list[int], list[Mapping[str, Any]], audit.Head | None]]


def snapshot(registry: Registry, *models: str) -> Snapshot:
    """Everything a move or a deletion could change: aliases, live versions, records, head."""
    out: Snapshot = {}
    for model in models:
        log = registry.audit_log(model)
        out[model] = (
            registry.aliases(model),
            [v.number for v in registry.versions(model)],
            [dict(r) for r in log.records],
            log.head,
        )
    return out


def body(op: AliasOp, kind: str = "manual") -> dict[str, Any]:
    return collect(Principal("contract", False, "test")).body(op, kind=kind, now=utcnow(), reason="contract")


def move(
    registry: Registry, model: str, alias: str, expected: int | None, target: int | None
) -> dict[str, Any]:
    op = AliasOp(model, alias, expected, target)
    return registry.apply([Move(op, body(op))])[0]


def promotion(model: str) -> str:
    return f"version: 1\npromotions:\n  - name: ship\n    model: {model}\n    from: staging\n    to: production\n"


def bundle(*models: str) -> str:
    return (
        "version: 1\npromotions:\n  - name: ship-together\n"
        f"    bundle: [{', '.join(models)}]\n    from: staging\n    to: production\n"
    )


def head_seq(registry: Registry, model: str) -> int:
    """The chain's length before the test acts (the embedded seed import is audited; others not)."""
    head = registry.audit_log(model).head
    return 0 if head is None else head.seq


def verified(registry: Registry, model: str) -> list[Mapping[str, Any]]:
    log = registry.audit_log(model)
    result = audit.verify(log)
    assert result.ok, result
    return list(log.records)


# -- the protocol and its optional capabilities -------------------------------------------------------

#: backend -> the optional capabilities it has; src/aliasgate/registry/_conformance.py holds the same
#: table for mypy. Capabilities are detected one way: isinstance with a runtime_checkable protocol.
CAPABILITIES: dict[str, set[type]] = {
    "local": {BatchDeletes, EmbeddedAdmin, Publishes, AppendsRecords},
    "mlflow": {BatchDeletes, Publishes, AppendsRecords},
    "wandb": {NativeTtl, Publishes, AppendsRecords},
}


def test_each_backend_is_a_registry_with_exactly_its_capabilities(backend: Backend) -> None:
    reg = backend.open()
    assert isinstance(reg, Registry)
    found = {
        cap
        for cap in (BatchDeletes, EmbeddedAdmin, NativeTtl, Publishes, AppendsRecords)
        if isinstance(reg, cap)
    }
    assert found == CAPABILITIES[backend.name]


# -- compare-and-swap ------------------------------------------------------------------------------


def test_a_cas_conflict_changes_nothing(backend: Backend) -> None:
    reg = backend.open()
    clf = backend.classifier
    before = snapshot(reg, clf)
    with pytest.raises(Conflict) as caught:
        move(reg, clf, "production", 1, 4)  # production is on v2
    assert caught.value.exit_code == ExitCode.CONFLICT
    assert "expected it on v1, found it on v2" in str(caught.value)
    with pytest.raises(Conflict):
        move(reg, clf, "staging", None, 3)  # "must not exist yet", but it does
    assert snapshot(backend.open(), clf) == before


def test_a_saved_plan_is_refused_whole_when_an_alias_moved_since(backend: Backend) -> None:
    reg = backend.open()
    clf = backend.classifier
    session = api.Session(reg, reg.whoami())
    plan = api.make_plan(load_text(promotion(clf), "p.yaml"), session)
    saved = planner.Plan.from_dict(plan.as_dict())
    backend.move_outside(clf, "production", 3)
    before = snapshot(reg, clf)
    with pytest.raises(Conflict, match="nothing applied"):
        api.apply_plan(session, saved, exact=True)
    assert snapshot(backend.open(), clf) == before


# -- never on nothing ------------------------------------------------------------------------------


def test_a_move_to_a_missing_version_leaves_the_alias_and_the_chain_as_they_were(backend: Backend) -> None:
    reg = backend.open()
    clf = backend.classifier
    before = snapshot(reg, clf)
    with pytest.raises(NotFound):
        move(reg, clf, "production", 2, 42)
    assert snapshot(backend.open(), clf) == before


def test_a_rollback_never_leaves_an_alias_on_nothing(backend: Backend) -> None:
    reg = backend.open()
    session = api.Session(reg, reg.whoami())
    clf = backend.classifier
    with pytest.raises(InvalidInput, match="with --to"):  # no audited move before v2 to go back to
        api.rollback(session, clf, "production", to=None, reason=None, dry_run=False)
    move(reg, clf, "canary", None, 3)
    with pytest.raises(InvalidInput, match="never left on nothing"):  # no holder before v3
        api.rollback(session, clf, "canary", to=None, reason=None, dry_run=False)
    assert reg.aliases(clf)["canary"] == 3


# -- bundles -----------------------------------------------------------------------------------------


def test_a_bundle_moves_all_or_nothing_or_is_compensated(backend: Backend) -> None:
    """Another writer moves the tokenizer between plan and apply. A transactional registry refuses
    the whole bundle; the others move the classifier, meet the conflict, and undo it, audited."""
    reg = backend.open()
    clf, tok = backend.classifier, backend.tokenizer
    move(reg, tok, "staging", 2, 1)  # so the bundle moves both: clf 2 -> 4, tok 2 -> 1
    session = api.Session(reg, reg.whoami())
    plan = api.make_plan(load_text(bundle(clf, tok), "b.yaml"), session)
    assert [(m.model, m.expected, m.target) for m in plan.moves] == [(clf, 2, 4), (tok, 2, 1)]
    backend.move_outside(tok, "production", 1)
    before = snapshot(reg, clf)
    result = api.apply_plan(session, plan, exact=False)
    (outcome,) = result.outcomes
    assert outcome.status == applier.CONFLICT and result.exit_code == ExitCode.CONFLICT
    reg = backend.open()
    assert reg.aliases(clf)["production"] == 2  # where it was
    assert reg.aliases(tok)["production"] == 1  # the other writer's choice
    records = verified(reg, clf)
    if reg.atomic_batches:
        assert snapshot(reg, clf) == before and outcome.undone == []
    else:
        assert [(r["kind"], r["from"], r["to"]) for r in records[-2:]] == [("promote", 2, 4), ("undo", 4, 2)]
        assert outcome.undone == [f"{clf}:production v4 -> v2"]
    verified(reg, tok)


# -- the audit chain ---------------------------------------------------------------------------------


def test_the_chain_verifies_and_detects_an_edited_and_a_deleted_record(backend: Backend) -> None:
    reg = backend.open()
    session = api.Session(reg, reg.whoami())
    clf = backend.classifier
    n = head_seq(reg, clf)
    for expected, target in ((2, 3), (3, 4), (4, 2)):
        move(reg, clf, "production", expected, target)
    records, verification = api.history(session, clf)
    assert verification.ok and [r["seq"] for r in records][n:] == [n + 1, n + 2, n + 3]

    def verify_again() -> audit.Verification:
        return api.history(api.Session(backend.open(), session.principal), clf)[1]

    backend.edit_record(clf, n + 2, "to", 1)  # an attacker rewrites where the alias went
    verification = verify_again()
    assert not verification.ok and verification.first_bad == n + 2 and "edited" in str(verification.problem)
    backend.edit_record(clf, n + 2, "to", 4)  # put back as it was
    assert verify_again().ok
    backend.drop_record(clf, n + 3)  # the newest: only the separately kept head shows it is gone
    verification = verify_again()
    assert not verification.ok and verification.first_bad == n + 3 and "missing" in str(verification.problem)


def test_a_record_that_moves_nothing_extends_the_chain_and_moves_nothing(backend: Backend) -> None:
    reg = backend.open()
    clf = backend.classifier
    assert isinstance(reg, AppendsRecords)
    n = head_seq(reg, clf)
    before = snapshot(reg, clf)[clf]
    sealed = reg.append_record(clf, body(AliasOp(clf, "production", 2, 4), kind="approve"))
    assert (sealed["kind"], sealed["seq"]) == ("approve", n + 1)
    reg = backend.open()
    after = snapshot(reg, clf)[clf]
    assert after[:2] == before[:2]  # no alias and no version changed
    records = verified(reg, clf)
    assert records[-1] == sealed and reg.audit_log(clf).head == audit.head_of(sealed)
    moved = move(reg, clf, "staging", 4, 3)  # a move after it chains onto it
    assert moved["seq"] == n + 2 and moved["prev"] == sealed["hash"]
    with pytest.raises(NotFound):
        reg.append_record("no-such-model", body(AliasOp("no-such-model", "production", 1, 2), kind="approve"))


# -- deletes -------------------------------------------------------------------------------------------


def test_delete_refuses_an_alias_holder_and_audits_a_deletion(backend: Backend) -> None:
    reg = backend.open()
    clf = backend.classifier
    n = head_seq(reg, clf)
    before = snapshot(reg, clf)
    record = {"kind": "delete", "model": clf, "alias": None, "from": 2, "to": None, "version": 2}
    with pytest.raises(Conflict, match="holds production"):
        reg.delete_version(clf, 2, record)
    assert snapshot(backend.open(), clf) == before
    sealed = reg.delete_version(clf, 1, {**record, "from": 1, "version": 1})
    assert sealed["kind"] == "delete" and sealed["seq"] == n + 1
    reg = backend.open()
    assert [v.number for v in reg.versions(clf)] == [4, 3, 2]
    with pytest.raises(NotFound):
        reg.version(clf, 1)
    assert verified(reg, clf)[n:] == [sealed]


def test_cleanup_keeps_holders_kept_versions_and_one_that_gains_an_alias_after_planning(
    backend: Backend,
) -> None:
    """keep_last 1 keeps v4, aliases keep v2 and v4; v1 and v3 are past the TTL. Between plan
    and cleanup another writer puts an alias on v3: it is kept, without a deletion record."""
    reg = backend.open()
    session = api.Session(reg, reg.whoami())
    clf = backend.classifier
    n = head_seq(reg, clf)
    newest = max(v.created_at for v in reg.versions(clf))
    policy = load_text(f"version: 1\nretention:\n  - model: {clf}\n    ttl: 7d\n    keep_last: 1\n", "r.yaml")
    plan = api.cleanup_plan(policy, session, now=newest + timedelta(days=365))
    planned = {(v.model, v.number) for v in plan.verdicts if v.action == "delete"}
    assert planned == {(clf, 1), (clf, 3)}
    backend.move_outside(clf, "hotfix", 3)
    result = api.cleanup(session, plan, max_deletions=10)
    assert result.exit_code == 0
    assert {(o.number, o.status) for o in result.outcomes} == {(1, "deleted"), (3, "skipped")}
    (skipped,) = [o for o in result.outcomes if o.status == "skipped"]
    assert "holds hotfix now; not deleted" in skipped.message
    reg = backend.open()
    assert [v.number for v in reg.versions(clf)] == [4, 3, 2]
    assert reg.aliases(clf)["hotfix"] == 3  # the alias another writer set stays with its version
    records = verified(reg, clf)
    assert [(r["kind"], r.get("version")) for r in records[n:]] == [("delete", 1)]


# -- history, rollback, whoami -----------------------------------------------------------------------


def test_history_rollback_and_whoami_agree(backend: Backend) -> None:
    session = api.connect(backend.uri)
    try:
        clf = backend.classifier
        n = head_seq(session.registry, clf)
        assert session.registry.whoami() == session.principal
        plan = api.make_plan(load_text(promotion(clf), "p.yaml"), session)
        result = api.apply_plan(session, plan, exact=False)
        assert result.exit_code == ExitCode.OK and session.registry.aliases(clf)["production"] == 4
        rb, record = api.rollback(session, clf, "production", to=None, reason=None, dry_run=False)
        assert (rb.current, rb.target, rb.undoing) == (4, 2, n + 1) and record is not None
        assert session.registry.aliases(clf)["production"] == 2
        records, verification = api.history(session, clf, alias="production")
        assert verification.ok
        records = [r for r in records if r["seq"] > n]
        assert [(r["kind"], r["from"], r["to"], r["seq"]) for r in records] == [
            ("promote", 2, 4, n + 1),
            ("rollback", 4, 2, n + 2),
        ]
        assert records[1]["rolls_back"] == n + 1 and records[1] == record
        for r in records:
            assert r["principal"] == session.principal.as_dict()
        with pytest.raises(InvalidInput, match="never left on nothing"):  # rolled back to the start
            api.rollback(session, clf, "production", to=None, reason=None, dry_run=False)
        assert session.registry.aliases(clf)["production"] == 2
    finally:
        session.close()
