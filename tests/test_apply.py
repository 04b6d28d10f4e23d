"""plan -> apply -> history -> rollback on the embedded registry; saved plans; bundles; exit codes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest

from aliasgate import applier, planner
from aliasgate.errors import RegistryError
from aliasgate.model import AliasOp, Move, Principal, utcnow
from aliasgate.policy import load_text
from aliasgate.provenance import collect
from aliasgate.registry.local import LocalRegistry

POLICY = """\
version: 1
promotions:
  - name: ship
    model: bert-classifier
    from: staging
    to: production
    gates:
      - {metric: val_f1, min: MIN}
"""


def test_quick_start_flow(demo, cli) -> None:  # type: ignore[no-untyped-def]
    plan = cli("plan", "-p", str(demo.policy()))
    assert plan.code == 0, plan.output
    assert "move bert-classifier:production v2 -> v4" in plan.stdout
    assert "PASS val_f1 >= 0.89" in plan.stdout  # every gate with its value, plain when piped
    assert "0.912 >= 0.89" in plan.stdout
    applied = cli("apply", "-p", str(demo.policy()))
    assert applied.code == 0, applied.output
    assert demo.registry().aliases("bert-classifier")["production"] == 4
    again = cli("apply", "-p", str(demo.policy()))
    assert again.code == 0 and "up to date" in again.stdout
    history = cli("history", "bert-classifier", "--verify")
    assert history.code == 0 and "promote" in history.stdout and "intact" in history.stdout
    rb = cli("rollback", "bert-classifier", "production")
    assert rb.code == 0 and "v4 -> v2" in rb.stdout
    assert demo.registry().aliases("bert-classifier")["production"] == 2


def test_blocked_exits_3_and_changes_nothing(demo, cli) -> None:  # type: ignore[no-untyped-def]
    policy = demo.write("p.yaml", POLICY.replace("MIN", "0.99"))
    for cmd in ("plan", "apply"):
        run = cli(cmd, "-p", str(policy))
        assert run.code == 3, run.output
        assert "FAIL val_f1 >= 0.99" in run.stdout and "blocked" in run.stdout
    assert demo.registry().aliases("bert-classifier")["production"] == 2
    assert len(demo.registry().audit_log("bert-classifier").records) == 2  # only the import's records


def test_dry_run_changes_nothing(demo, cli) -> None:  # type: ignore[no-untyped-def]
    run = cli("apply", "--dry-run", "-p", str(demo.policy()))
    assert run.code == 0 and "dry run" in run.stdout
    assert demo.registry().aliases("bert-classifier")["production"] == 2
    assert len(demo.registry().audit_log("bert-classifier").records) == 2


def test_missing_candidate_is_blocked_not_an_error(demo, cli) -> None:  # type: ignore[no-untyped-def]
    policy = demo.write("p.yaml", POLICY.replace("MIN", "0").replace("from: staging", "from: canary"))
    run = cli("plan", "-p", str(policy))
    assert run.code == 3 and "nothing holds bert-classifier:canary" in run.stdout


def test_unknown_model_is_a_registry_error_naming_it(demo, cli) -> None:  # type: ignore[no-untyped-def]
    policy = demo.write("p.yaml", POLICY.replace("MIN", "0").replace("bert-classifier", "gpt-9"))
    run = cli("plan", "-p", str(policy))
    assert run.code == 1 and "gpt-9" in run.stderr and "Traceback" not in run.output


def test_plan_json_matches_saved_plan(demo, cli) -> None:  # type: ignore[no-untyped-def]
    run = cli("plan", "-p", str(demo.policy()), "--json", "-o", "plan.json")
    printed = json.loads(run.stdout)
    saved = json.loads((demo.path / "plan.json").read_text())
    assert printed == saved
    rule = saved["rules"][0]
    assert rule["status"] == "move" and rule["moves"] == [
        {"model": "bert-classifier", "alias": "production", "expected": 2, "target": 4, "kind": "promote"}
    ]
    assert all("observed" in g and "passed" in g for g in rule["gates"])


def test_saved_plan_applies_exactly(demo, cli) -> None:  # type: ignore[no-untyped-def]
    cli("plan", "-p", str(demo.policy()), "-o", "plan.json")
    # the staging alias moving after planning: the policy no longer yields the plan's candidate
    demo.registry().apply(
        [Move(AliasOp("bert-classifier", "staging", 4, 3), {"kind": "manual", "model": "bert-classifier"})]
    )
    moved = cli("apply", "plan.json", "-p", str(demo.policy()))
    assert moved.code == 4 and "staging: the plan expected it on v4, found it on v3" in moved.stderr
    assert demo.registry().aliases("bert-classifier")["production"] == 2
    demo.registry().apply(
        [Move(AliasOp("bert-classifier", "staging", 3, 4), {"kind": "manual", "model": "bert-classifier"})]
    )
    run = cli("apply", "plan.json", "-p", str(demo.policy()))
    assert run.code == 0, run.output
    assert demo.registry().aliases("bert-classifier")["production"] == 4
    rec = demo.registry().audit_log("bert-classifier").records[-1]
    assert rec["plan"]["id"] == json.loads((demo.path / "plan.json").read_text())["id"]


def test_edited_saved_plan_is_rejected(demo, cli) -> None:  # type: ignore[no-untyped-def]
    cli("plan", "-p", str(demo.policy()), "-o", "plan.json")
    data = json.loads((demo.path / "plan.json").read_text())
    data["rules"][0]["moves"][0]["target"] = 1
    (demo.path / "plan.json").write_text(json.dumps(data))
    run = cli("apply", "plan.json")
    assert run.code == 2 and "edited" in run.stderr
    assert demo.registry().aliases("bert-classifier")["production"] == 2


def test_saved_plan_for_another_registry_is_refused(demo, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cli("plan", "-p", str(demo.policy()), "-o", "plan.json")
    run = cli("apply", "plan.json", "-p", str(demo.policy()), "--registry", f"local:{tmp_path}/other.db")
    assert run.code == 2 and "does not match" in run.stderr


# -- bundles -------------------------------------------------------------------------------------------

BUNDLE = """\
version: 1
promotions:
  - name: ship-together
    bundle: [bert-classifier, bert-tokenizer]
    from: staging
    to: production
    gates:
      - {metric: val_f1, min: 0.9, of: bert-classifier}
      - {lineage: {model: bert-tokenizer, alias: production}, of: bert-classifier}
"""


def _bundle_demo(demo) -> None:  # type: ignore[no-untyped-def]
    reg = demo.registry()
    n = reg.log_version("bert-tokenizer", metadata={"vocab_size": 40000})
    c = reg.log_version(
        "bert-classifier", metrics={"val_f1": 0.93}, inputs=[reg.version("bert-tokenizer", n).id]
    )
    prov = collect(Principal("t", False, "test"))
    applier.set_alias(reg, "bert-tokenizer", "staging", n, prov, now=utcnow())
    applier.set_alias(reg, "bert-classifier", "staging", c, prov, now=utcnow())


def test_bundle_moves_together_and_lineage_sees_the_new_tokenizer(demo, cli) -> None:  # type: ignore[no-untyped-def]
    _bundle_demo(demo)
    policy = demo.write("b.yaml", BUNDLE)
    run = cli("apply", "-p", str(policy))
    assert run.code == 0, run.output
    assert demo.registry().aliases("bert-classifier")["production"] == 5
    assert demo.registry().aliases("bert-tokenizer")["production"] == 3


class NonAtomic:
    """The embedded registry presented as a backend without transactions, failing on demand:
    the applier's compensation path is the one MLflow and W&B take."""

    atomic_batches = False
    lineage_recorded = True

    def __init__(self, inner: LocalRegistry, fail_on: str | None = None) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.fail_on = fail_on
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def apply(self, moves: Sequence[Move]) -> list[dict[str, Any]]:
        assert len(moves) == 1, "a non-atomic backend gets one move at a time"
        op, record = moves[0].op, moves[0].record
        self.calls.append(f"{op.model}:{record['kind']}")
        if self.fail_on == op.model and record["kind"] == "promote":
            raise RegistryError("injected failure", model=op.model, version=op.target)
        return self.inner.apply(moves)


def test_bundle_on_a_backend_without_transactions_is_compensated(demo) -> None:  # type: ignore[no-untyped-def]
    _bundle_demo(demo)
    reg = NonAtomic(demo.registry(), fail_on="bert-tokenizer")
    pol = load_text(BUNDLE, "b.yaml")
    prov = collect(Principal("t", False, "test"))
    p = planner.plan(pol, reg, now=utcnow(), principal=prov.principal)  # type: ignore[arg-type]
    result = applier.apply(reg, p, prov, now=utcnow)  # type: ignore[arg-type]
    outcome = result.outcomes[0]
    assert outcome.status == "failed" and "injected failure" in outcome.message
    assert outcome.undone == ["bert-classifier:production v5 -> v2"]
    assert reg.calls == ["bert-classifier:promote", "bert-tokenizer:promote", "bert-classifier:undo"]
    assert demo.registry().aliases("bert-classifier")["production"] == 2
    kinds = [r["kind"] for r in demo.registry().audit_log("bert-classifier").records]
    assert kinds[-2:] == ["promote", "undo"]  # the undo is audited
    assert result.exit_code == 1


def test_remove_from_hands_the_alias_over(demo, cli) -> None:  # type: ignore[no-untyped-def]
    policy = demo.write("p.yaml", POLICY.replace("MIN", "0") + "    remove_from: true\n")
    run = cli("apply", "-p", str(policy))
    assert run.code == 0, run.output
    aliases = demo.registry().aliases("bert-classifier")
    assert aliases["production"] == 4 and "staging" not in aliases
    kinds = [(r["kind"], r["alias"]) for r in demo.registry().audit_log("bert-classifier").records[-2:]]
    assert kinds == [("promote", "production"), ("remove", "staging")]


# -- rollback ------------------------------------------------------------------------------------------


def test_rollback_twice_steps_back_twice(demo, cli) -> None:  # type: ignore[no-untyped-def]
    reg = demo.registry()
    prov = collect(Principal("t", False, "test"))
    applier.set_alias(reg, "bert-classifier", "production", 3, prov, now=utcnow())  # 2 -> 3
    applier.set_alias(reg, "bert-classifier", "production", 4, prov, now=utcnow())  # 3 -> 4
    assert cli("rollback", "bert-classifier", "production").code == 0
    assert reg.aliases("bert-classifier")["production"] == 3
    assert cli("rollback", "bert-classifier", "production").code == 0
    assert reg.aliases("bert-classifier")["production"] == 2
    last = reg.audit_log("bert-classifier").records[-1]
    assert last["kind"] == "rollback" and (last["from"], last["to"]) == (3, 2) and last["rolls_back"]
    third = cli("rollback", "bert-classifier", "production")
    assert third.code == 2 and "never left on nothing" in third.stderr


def test_rollback_to_a_named_version_and_dry_run(demo, cli) -> None:  # type: ignore[no-untyped-def]
    dry = cli("rollback", "bert-classifier", "production", "--to", "v1", "--dry-run")
    assert dry.code == 0 and "would move" in dry.stdout
    assert demo.registry().aliases("bert-classifier")["production"] == 2
    run = cli("rollback", "bert-classifier", "production", "--to", "v1", "--reason", "incident 42")
    assert run.code == 0
    rec = demo.registry().audit_log("bert-classifier").records[-1]
    assert rec["to"] == 1 and rec["reason"] == "incident 42"


def test_rollback_refuses_when_the_alias_moved_outside_aliasgate(demo, cli) -> None:  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(demo.db)
    with conn:
        conn.execute(
            "UPDATE aliases SET number = 3 WHERE alias = 'production' AND model_id = "
            "(SELECT id FROM models WHERE name = 'bert-classifier')"
        )
    conn.close()
    run = cli("rollback", "bert-classifier", "production")
    assert run.code == 4 and "expected it on v2, found it on v3" in run.stderr


# -- audit chain ----------------------------------------------------------------------------------------


def _promote(demo, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("apply", "-p", str(demo.policy())).code == 0
    assert cli("rollback", "bert-classifier", "production").code == 0


def test_history_verify_text_names_the_edited_record(demo, cli) -> None:  # type: ignore[no-untyped-def]
    """(Detection itself: tests/contract.) The text report names the record and what is wrong."""
    _promote(demo, cli)
    conn = sqlite3.connect(demo.db)
    with conn:
        row = conn.execute("SELECT model_id, record FROM audit WHERE seq = 3").fetchone()
        rec = json.loads(row[1])
        rec["principal"]["name"] = "someone-else"
        conn.execute("UPDATE audit SET record = ? WHERE model_id = ? AND seq = 3", (json.dumps(rec), row[0]))
    conn.close()
    run = cli("history", "bert-classifier", "--verify")
    assert run.code == 1 and "#3" in run.stderr and "edited" in run.stderr


@pytest.mark.parametrize("seq", [2, 4])
def test_verify_detects_a_deleted_record(demo, cli, seq: int) -> None:  # type: ignore[no-untyped-def]
    _promote(demo, cli)
    conn = sqlite3.connect(demo.db)
    with conn:
        conn.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    conn.close()
    run = cli("history", "bert-classifier", "--verify", "--json")
    assert run.code == 1
    verification = json.loads(run.stdout)["verification"]
    assert (
        verification["ok"] is False
        and verification["first_bad"] == seq
        and "missing" in verification["problem"]
    )


def test_history_filters_by_alias_and_prints_json(demo, cli) -> None:  # type: ignore[no-untyped-def]
    _promote(demo, cli)
    run = cli("history", "bert-classifier", "--alias", "production", "--json")
    records = json.loads(run.stdout)["records"]
    assert [r["kind"] for r in records] == ["rollback", "promote", "manual"]  # newest first
    assert {r["alias"] for r in records} == {"production"}


# -- saved plans re-check what depends on when and by whom they are applied ------------------------------


def _saved(demo, gates_yaml: str) -> planner.Plan:  # type: ignore[no-untyped-def]
    text = POLICY.replace("MIN", "0") + "".join(f"      - {g}\n" for g in gates_yaml.splitlines())
    pol = load_text(text, "p.yaml")
    p = planner.plan(pol, demo.registry(), now=utcnow(), principal=Principal("ci-prod", True, "test"))
    assert p.rules[0].status == "move", p.rules[0].reason
    return planner.Plan.from_dict(json.loads(json.dumps(p.as_dict())))  # as if saved and read back


def test_saved_plan_applied_inside_a_freeze_window_is_refused(demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    from aliasgate.errors import Blocked

    p = _saved(demo, "{freeze: {windows: ['2030-01-01..2030-01-02']}}")
    frozen = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    prov = collect(Principal("ci-prod", True, "test"))
    with pytest.raises(Blocked) as info:
        applier.apply(demo.registry(), p, prov, now=lambda: frozen, exact=True)
    assert "freeze" in str(info.value) and info.value.exit_code == 3
    assert demo.registry().aliases("bert-classifier")["production"] == 2
    result = applier.apply(demo.registry(), p, prov, now=utcnow, exact=True)
    assert result.exit_code == 0 and demo.registry().aliases("bert-classifier")["production"] == 4


def test_saved_plan_applied_by_another_account_is_refused(demo) -> None:  # type: ignore[no-untyped-def]
    from aliasgate.errors import Blocked

    p = _saved(demo, "{principals: [ci-prod, ci-backup]}")
    with pytest.raises(Blocked):
        applier.apply(demo.registry(), p, collect(Principal("mallory", True, "test")), now=utcnow, exact=True)
    ok = applier.apply(
        demo.registry(), p, collect(Principal("ci-backup", True, "test")), now=utcnow, exact=True
    )
    assert ok.exit_code == 0


def test_a_stop_signal_mid_bundle_undoes_the_made_moves(demo) -> None:  # type: ignore[no-untyped-def]
    """A cancelled CI job on a registry without transactions: the half-made bundle is undone."""
    _bundle_demo(demo)
    reg = NonAtomic(demo.registry())
    pol = load_text(BUNDLE + POLICY.split("promotions:\n", 1)[1].replace("MIN", "0"), "b.yaml")
    prov = collect(Principal("t", False, "test"))
    p = planner.plan(pol, reg, now=utcnow(), principal=prov.principal)  # type: ignore[arg-type]
    asked = iter([False, True, True])  # the signal lands after the bundle's first move
    result = applier.apply(reg, p, prov, now=utcnow, stop=lambda: next(asked))  # type: ignore[arg-type]
    by_rule = {o.rule: o for o in result.outcomes}
    assert by_rule["ship-together"].status == "interrupted"
    assert by_rule["ship-together"].undone == ["bert-classifier:production v5 -> v2"]
    assert by_rule["ship"].status == "interrupted"  # the next rule never started
    assert demo.registry().aliases("bert-classifier")["production"] == 2
    assert demo.registry().aliases("bert-tokenizer")["production"] == 2
    assert int(result.exit_code) == 130


def test_sigterm_during_apply_is_deferred(demo) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal

    from aliasgate import interrupt

    with interrupt.deferred() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
