"""Approvals and soak on the embedded registry: the shared scenario, the CLI, the policy keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aliasgate import api
from tests import approvals_scenario as scenario
from tests.approvals_scenario import Backend


def _local(demo: Any) -> Backend:
    @contextmanager
    def connect(role: str) -> Iterator[api.Session]:
        with scenario.env({"PROMOTE_PRINCIPAL": role}):
            session = api.connect(demo.uri)
            try:
                yield session
            finally:
                session.close()

    names = {r: r for r in scenario.ROLES}
    return Backend(demo.uri, "bert-classifier", names, connect, demo.path, refuses_mallory=False)


def test_four_eyes_on_the_embedded_registry(demo: Any) -> None:
    scenario.four_eyes(_local(demo))


def test_soak_on_the_embedded_registry(demo: Any) -> None:
    scenario.soak(_local(demo))


POLICY = """version: 1
groups:
  ml-leads: [alice, bob, carol]
promotions:
  - name: prod
    model: bert-classifier
    from: staging
    to: production
    approvals: {required: 2, from: [ml-leads], not_by: [author, applier], within: 24h}
"""


def _as(who: str) -> dict[str, str]:
    return {"PROMOTE_PRINCIPAL": who}


def test_the_cli_saves_a_plan_awaiting_approval_then_approves_and_applies_it(demo: Any, cli: Any) -> None:
    pol = str(demo.write("pol.yaml", POLICY))
    planned = cli("plan", "-p", pol, "-o", "p.json", env=_as("alice"))
    assert planned.code == 3, planned.output
    assert "awaiting approval: bert-classifier:production v2 -> v4" in planned.stdout
    assert "0 of 2 from ml-leads; may still approve: bob, carol" in planned.stdout  # alice: the author
    assert json.loads(Path("p.json").read_text())["rules"][0]["moves"][0]["target"] == 4

    own = cli("approve", "p.json", "-p", pol, env=_as("alice"))
    assert own.code == 3 and "alice made this plan" in own.stderr
    stranger = cli("approve", "p.json", "-p", pol, env=_as("mallory"))
    assert stranger.code == 3 and "mallory may not approve rule 'prod'" in stranger.stderr

    ok = cli("approve", "p.json", "-p", pol, "--comment", "looks good", env=_as("bob"))
    assert ok.code == 0 and "approved bert-classifier:production v2 -> v4 (rule prod" in ok.stdout
    blocked = cli("apply", "p.json", "-p", pol, env=_as("erin"))
    assert blocked.code == 3 and "1 of 2 from ml-leads: bob (" in blocked.stderr
    assert "may still approve: carol" in blocked.stderr
    assert demo.registry().aliases("bert-classifier")["production"] == 2

    listed = cli("approvals", "bert-classifier", "--json")
    rows = json.loads(listed.stdout)["approvals"]
    assert [(r["principal"], r["to"], r["state"], r["comment"]) for r in rows] == [
        ("bob", 4, "standing", "looks good")
    ]
    assert cli("approve", "p.json", "-p", pol, env=_as("carol")).code == 0
    applied = cli("apply", "p.json", "-p", pol, env=_as("erin"))
    assert applied.code == 0, applied.output
    assert demo.registry().aliases("bert-classifier")["production"] == 4
    text = cli("approvals", "bert-classifier").stdout
    assert "void (the alias moved since)" in text and "looks good" in text
    history = cli("history", "bert-classifier", "--verify")
    assert history.code == 0 and "approve" in history.stdout and "intact" in history.stdout


def test_revoking_needs_a_standing_approval_and_blocks_again(demo: Any, cli: Any) -> None:
    pol = str(demo.write("pol.yaml", POLICY))
    assert cli("plan", "-p", pol, "-o", "p.json", env=_as("dave")).code == 3
    nothing = cli("approve", "p.json", "-p", pol, "--revoke", env=_as("bob"))
    assert nothing.code == 2 and "no standing approval" in nothing.stderr
    for who in ("bob", "carol"):
        assert cli("approve", "p.json", "-p", pol, env=_as(who)).code == 0
    assert cli("approve", "p.json", "-p", pol, "--revoke", "--json", env=_as("bob")).code == 0
    blocked = cli("apply", "p.json", "-p", pol, env=_as("erin"))
    assert blocked.code == 3 and "1 of 2" in blocked.stderr
    states = [
        r["state"] for r in json.loads(cli("approvals", "bert-classifier", "--json").stdout)["approvals"]
    ]
    assert states == ["revoked", "standing", "revocation"]


def test_an_edited_author_breaks_the_plan_id(demo: Any, cli: Any) -> None:
    pol = str(demo.write("pol.yaml", POLICY))
    assert cli("plan", "-p", pol, "-o", "p.json", env=_as("alice")).code == 3
    doc = json.loads(Path("p.json").read_text())
    doc["principal"]["name"] = "zoe"  # so that alice's own approval would count
    Path("p.json").write_text(json.dumps(doc))
    run = cli("approve", "p.json", "-p", pol, env=_as("alice"))
    assert run.code == 2 and "edited after it was saved" in run.stderr


def test_a_plan_for_a_rule_without_approvals_has_nothing_to_approve(demo: Any, cli: Any) -> None:
    assert cli("plan", "-p", str(demo.policy()), "-o", "p.json").code in (0, 3)
    run = cli("approve", "p.json", "-p", str(demo.policy()), env=_as("bob"))
    assert run.code == 2 and "nothing in this plan awaits approval" in run.stderr


@pytest.mark.parametrize(
    ("snippet", "line", "path", "fragment"),
    [
        ("approvals: {required: 0, from: [a]}", 6, "$.promotions[0].approvals.required", ">= 1"),
        ("approvals: {required: 1}", 6, "$.promotions[0].approvals", "'from'"),
        (
            "approvals: {required: 1, from: [a], not_by: [boss]}",
            6,
            "$.promotions[0].approvals.not_by[0]",
            "author",
        ),
        (
            "approvals: {required: 1, from: [a], within: 1y}",
            6,
            "$.promotions[0].approvals.within",
            "duration",
        ),
        ("approvals: {required: 3, from: [a, b]}", 6, "$.promotions[0].approvals.required", "only 2"),
        ("approvals: {required: 1, from: [a], by: x}", 6, "$.promotions[0].approvals.by", ""),
        ("gates: [{soak: {alias: staging}}]", 6, "$.promotions[0].gates[0].soak", "'for'"),
        ("gates: [{soak: {alias: latest, for: 1d}}]", 6, "$.promotions[0].gates[0].soak.alias", "reserved"),
        ("gates: [{soak: {alias: staging, for: 3mo}}]", 6, "$.promotions[0].gates[0].soak.for", "duration"),
    ],
)
def test_new_policy_keys_are_validated_with_line_and_path(
    snippet: str, line: int, path: str, fragment: str
) -> None:
    from aliasgate.errors import PolicyError
    from aliasgate.policy import load_text

    text = (
        "version: 1\npromotions:\n  - name: r\n    model: m\n    from: staging\n    "
        + snippet
        + "\n    to: production\n"
    )
    with pytest.raises(PolicyError) as err:
        load_text(text, "p.yaml")
    found = [(i.line, i.path, i.message) for i in err.value.issues]
    assert any(ln == line and p == path and fragment in m for ln, p, m in found), found


def test_groups_are_validated() -> None:
    from aliasgate.errors import PolicyError
    from aliasgate.policy import load_text

    with pytest.raises(PolicyError) as err:
        load_text("version: 1\ngroups:\n  leads: []\n", "p.yaml")
    assert [(i.line, i.path) for i in err.value.issues] == [(3, "$.groups.leads")]
    policy = load_text("version: 1\ngroups:\n  leads: [a, b]\n", "p.yaml")
    assert policy.groups == {"leads": ("a", "b")}


def test_a_holder_change_voids_earlier_approvals_even_when_the_holder_comes_back(demo: Any, cli: Any) -> None:
    pol = str(demo.write("pol.yaml", POLICY))
    assert cli("plan", "-p", pol, "-o", "p.json", env=_as("dave")).code == 3
    for who in ("bob", "carol"):
        assert cli("approve", "p.json", "-p", pol, env=_as(who)).code == 0
    # production leaves v2 and comes back: the same from/to again, but the approvals predate it
    assert cli("registry", "set-alias", "bert-classifier", "production", "1").code == 0
    assert cli("registry", "set-alias", "bert-classifier", "production", "2").code == 0
    assert cli("plan", "-p", pol, "-o", "again.json", env=_as("dave")).code == 3
    blocked = cli("apply", "again.json", "-p", pol, env=_as("erin"))
    assert blocked.code == 3 and "0 of 2" in blocked.stderr
    states = [
        r["state"] for r in json.loads(cli("approvals", "bert-classifier", "--json").stdout)["approvals"]
    ]
    assert states == ["void (the alias moved since)"] * 2


def test_a_new_plan_of_the_same_move_keeps_its_approvals(demo: Any, cli: Any) -> None:
    pol = str(demo.write("pol.yaml", POLICY))
    assert cli("plan", "-p", pol, "-o", "p.json", env=_as("dave")).code == 3
    for who in ("bob", "carol"):
        assert cli("approve", "p.json", "-p", pol, env=_as(who)).code == 0
    fresh = cli("apply", "-p", pol, env=_as("erin"))  # no saved plan: erin is author and applier
    assert fresh.code == 0, fresh.output
    assert demo.registry().aliases("bert-classifier")["production"] == 4


def test_soak_fails_closed_without_an_audited_move() -> None:
    from datetime import datetime, timezone

    from aliasgate import soak
    from aliasgate.audit import AuditLog
    from aliasgate.model import Version
    from aliasgate.policy.model import SoakGate

    gate = SoakGate(alias="staging", seconds=3600, text="1h")
    cand = Version("m", 4, datetime(2026, 1, 1, tzinfo=timezone.utc))
    now = datetime(2026, 1, 3, tzinfo=timezone.utc)
    passed, _, detail = soak.evaluate(gate, cand, 4, lambda m: AuditLog(m), now)
    assert not passed and "no audited move put m:v4 on staging" in detail
    passed, _, detail = soak.evaluate(gate, cand, 3, lambda m: AuditLog(m), now)
    assert not passed and "does not hold staging (staging is on v3)" in detail


def test_rollback_and_history_treat_approvals_as_records_that_move_nothing(demo: Any, cli: Any) -> None:
    pol = str(demo.write("pol.yaml", POLICY))
    assert cli("plan", "-p", pol, "-o", "p.json", env=_as("dave")).code == 3
    for who in ("bob", "carol"):
        assert cli("approve", "p.json", "-p", pol, env=_as(who)).code == 0
    assert cli("approve", "p.json", "-p", pol, "--revoke", env=_as("carol")).code == 0
    # production is still on v2, put there by the import: the approvals of v2 -> v4 moved nothing
    dry = cli("rollback", "bert-classifier", "production", "--dry-run")
    assert dry.code == 2 and "shows no holder before v2 to go back to" in dry.stderr, dry.output
    assert cli("registry", "set-alias", "bert-classifier", "production", "3").code == 0
    dry = cli("rollback", "bert-classifier", "production", "--dry-run")
    assert dry.code == 0 and "would move bert-classifier:production v3 -> v2" in dry.stdout, dry.output
    history = cli("history", "bert-classifier", "--alias", "production", "--json")
    kinds = [r["kind"] for r in json.loads(history.stdout)["records"]]
    assert kinds == ["manual", "revoke", "approve", "approve", "manual"]
