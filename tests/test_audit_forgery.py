"""The audit trail only the alias's writers can extend, from the attacker's side.

A record counts only when the chain head, kept where only the alias's writers can write, vouches
for it. Here the attacker plants a well-linked record (``production`` "moved" from a version that
never passed a gate to the current holder), so that a naive reader would call the chain intact and
the next rollback would move ``production`` to the attacker's version. Every reader must ignore it
and ``history --verify`` must name it (exit 1). The MLflow attack, against a real basic-auth
server, is in ``tests/test_mlflow_forgery.py``.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
import requests

from aliasgate import audit
from aliasgate.model import AliasOp, Move
from aliasgate.registry import open_registry
from tests.servers.wandb_double import CI_KEY
from tests.wandb_fixtures import WandbWorld

MALLORY_KEY = "ma" + "3" * 38  # test-only: writes the source project, only views the registry
REGISTRY = "wandb://acme-org/wandb-registry-model"
MODEL = "bert-classifier"


def forged(after: audit.Head | None, chain_model: str, alias: str, was: int, now: int) -> dict[str, Any]:
    """A record an attacker can compute from what any reader sees: it links to the head."""
    body = {
        "kind": "promote",
        "model": chain_model,
        "alias": alias,
        "from": was,
        "to": now,
        "at": "2026-11-23T00:00:00.000000Z",
        "principal": {"name": "ci-bot"},
    }
    return audit.seal(body, after)


# -- the chain walk itself -------------------------------------------------------------------------------


def _chain(n: int, model: str = "m") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        head = audit.head_of(out[-1]) if out else None
        out.append(
            audit.seal({"kind": "promote", "model": model, "alias": "a", "from": i, "to": i + 1}, head)
        )
    return out


def test_walk_returns_the_vouched_chain_and_every_other_stored_record() -> None:
    chain = _chain(3)
    fork = audit.seal(
        {"kind": "promote", "model": "m", "alias": "a", "from": 9, "to": 3}, audit.head_of(chain[1])
    )
    past = forged(audit.head_of(chain[2]), "m", "a", 9, 3)
    other = _chain(1, model="n")[0]
    stored = [audit.Stored(r, "mine") for r in chain] + [
        audit.Stored(chain[0], "a copy"),  # the same record twice is one record
        audit.Stored(fork, "theirs", "eve"),
        audit.Stored(past, "theirs", "eve"),
        audit.Stored(other, "elsewhere"),
    ]
    found = audit.walk(stored, audit.head_of(chain[2]), "m")
    assert found.records == chain and found.problem is None
    assert [(u.seq, u.where, u.creator) for u in found.extras] == [
        (1, "elsewhere", None),
        (3, "theirs", "eve"),
        (4, "theirs", "eve"),
    ]
    assert "past the chain head (#3)" in found.extras[2].why


def test_a_pending_marker_vouches_only_for_records_continuing_the_head() -> None:
    chain = _chain(2)
    ahead = forged(audit.head_of(chain[1]), "m", "a", 2, 3)
    stored = [audit.Stored(r) for r in (*chain, ahead)]
    named = audit.walk(stored, audit.head_of(chain[1]), "m", pending=audit.head_of(ahead))
    assert named.pending == [ahead] and not named.extras
    unnamed = audit.walk(stored, audit.head_of(chain[1]), "m")
    assert unnamed.pending == [] and [u.seq for u in unnamed.extras] == [3]
    # A marker vouches for nothing it does not name, nor for a record that does not continue the head.
    elsewhere = audit.walk(stored, audit.head_of(chain[1]), "m", pending=audit.Head(3, "sha256:other"))
    assert elsewhere.pending == [] and [u.seq for u in elsewhere.extras] == [3]
    fork = forged(audit.head_of(chain[0]), "m", "a", 1, 3)
    stale = audit.walk(
        [*stored, audit.Stored(fork)], audit.head_of(chain[1]), "m", pending=audit.head_of(fork)
    )
    assert stale.pending == [] and [u.seq for u in stale.extras] == [2, 3]


def test_unknown_kinds_are_ordinary_chain_records() -> None:
    first = audit.seal({"kind": "approve", "model": "m", "approver": "x"}, None)
    second = audit.seal({"kind": "published-to", "model": "m", "where": "y"}, audit.head_of(first))
    log = audit.AuditLog.vouched("m", [audit.Stored(first), audit.Stored(second)], audit.head_of(second))
    assert log.records == [first, second] and audit.verify(log).ok


def test_an_unreadable_head_vouches_for_nothing_and_nothing_is_chained_after_it() -> None:
    chain = _chain(2)
    head = audit.decode_head("{not json")
    assert head == audit.Head(0, audit.UNREADABLE)
    log = audit.AuditLog.vouched("m", [audit.Stored(r) for r in chain], head)
    result = audit.verify(log)
    assert log.records == [] and not result.ok and "cannot be read" in str(result.problem)
    assert len(result.unvouched) == 2
    with pytest.raises(Exception, match="cannot be read"):
        audit.seal({"kind": "promote", "model": "m"}, head)


# -- embedded registry: whoever writes the file, short of rewriting the head ------------------------------


def test_embedded_a_row_the_head_does_not_vouch_for_is_ignored_and_named(demo, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("apply", "-p", str(demo.policy())).code == 0  # production v2 -> v4
    reg = demo.registry()
    log = reg.audit_log(MODEL)
    planted = forged(log.head, MODEL, "production", 1, 4)  # "production came from v1"
    conn = sqlite3.connect(demo.db)
    with conn:
        (mid,) = conn.execute("SELECT id FROM models WHERE name = ?", (MODEL,)).fetchone()
        conn.execute(
            "INSERT INTO audit(model_id, seq, record) VALUES (?, ?, ?)",
            (mid, planted["seq"], json.dumps(planted)),
        )
    conn.close()
    assert reg.audit_log(MODEL).records == log.records  # every reader sees the vouched chain only
    run = cli("history", MODEL, "--verify")
    assert run.code == 1, run.output
    assert f"#{planted['seq']}" in run.output and "audit table" in run.output
    assert "not vouched for" in run.output and "whoever can write that file" in run.output
    plan = cli("rollback", MODEL, "production", "--dry-run")
    assert plan.code == 0 and "v4 -> v2" in plan.stdout, plan.output  # never to the planted v1
    # The planted row takes the place of the next record: writes refuse, changing nothing.
    rb = cli("rollback", MODEL, "production")
    assert rb.code == 1 and "does not vouch for" in rb.stderr, rb.output
    assert demo.registry().aliases(MODEL)["production"] == 4


def test_embedded_an_intact_chain_still_verifies_and_says_what_it_cannot_guarantee(demo, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("apply", "-p", str(demo.policy())).code == 0
    run = cli("history", MODEL, "--verify", "--json")
    assert run.code == 0
    verification = json.loads(run.stdout)["verification"]
    assert verification["ok"] and verification["unvouched"] == []
    assert "SQLite file" in verification["limits"]


# -- W&B: a source-project member who only views the registry ----------------------------------------------


def _graphql(world: WandbWorld, key: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(
        f"{world.url}/graphql", json={"query": query, "variables": variables}, auth=("api", key), timeout=30
    )
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


MEMBERSHIP = """
query($name: String!) { project(name: "wandb-registry-model", entityName: "acme-org") {
  artifactCollectionMembership(name: $name) {
    artifact { id metadata }
    artifactCollection { __typename id name description }
} } }
"""
UPDATE = """mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { artifact { id } } }"""
DESCRIBE = """mutation($input: UpdateArtifactPortfolioInput!) {
  updateArtifactPortfolio(input: $input) { artifactCollection { id } } }"""


@pytest.fixture
def mallory(wandb_world: WandbWorld) -> str:
    """A member of the team that logs the models (so she writes version metadata) and only a
    Viewer of the registry (so she may not move its aliases or edit its collections)."""
    state = wandb_world.state
    state.add_account("mallory", MALLORY_KEY, teams={"ml": "member"}, org="acme", org_role="member")
    wandb_world.demo.registry.registry_roles["mallory"] = "viewer"
    return MALLORY_KEY


def _plant(world: WandbWorld, key: str, version: int, record: dict[str, Any], chain: str) -> str:
    found = _graphql(world, key, MEMBERSHIP, {"name": f"{MODEL}:v{version}"})
    membership = found["data"]["project"]["artifactCollectionMembership"]
    metadata = json.loads(membership["artifact"]["metadata"] or "{}")
    trail = metadata.setdefault("aliasgate", {}).setdefault("audit", {}).setdefault(chain, [])
    trail.append(record)
    wrote = _graphql(
        world,
        key,
        UPDATE,
        {"input": {"artifactID": membership["artifact"]["id"], "metadata": json.dumps(metadata)}},
    )
    assert not wrote.get("errors"), wrote  # she may write the metadata...
    head_line = f"aliasgate-audit-head: {audit.encode_head(audit.head_of(record))}"
    described = _graphql(
        world,
        key,
        DESCRIBE,
        {"input": {"artifactPortfolioID": membership["artifactCollection"]["id"], "description": head_line}},
    )
    assert described.get("errors"), described  # ...but not the collection description (the head)
    return str(membership["artifact"]["id"])


def test_wandb_a_record_planted_in_version_metadata_is_ignored_and_named(
    wandb_world: WandbWorld, mallory: str, monkeypatch: pytest.MonkeyPatch, cli
) -> None:  # type: ignore[no-untyped-def]
    wandb_world.use(monkeypatch, CI_KEY)
    env = {**wandb_world.env(CI_KEY), "PROMOTE_REGISTRY": REGISTRY}
    registry = open_registry(REGISTRY)
    move = AliasOp(MODEL, "production", 2, 4)
    registry.apply(
        [Move(move, {"kind": "promote", "model": MODEL, "alias": "production", "from": 2, "to": 4})]
    )
    log = registry.audit_log(MODEL)
    assert audit.verify(log).ok
    planted = forged(log.head, log.model, "production", 1, 4)  # "production came from v1"
    _plant(wandb_world, mallory, 4, planted, f"{registry.entity}/wandb-registry-model/{MODEL}")
    assert open_registry(REGISTRY).audit_log(MODEL).records == log.records  # readers: the vouched chain
    run = cli("history", MODEL, "--verify", env=env)
    assert run.code == 1, run.output
    assert f"#{planted['seq']}" in run.output and f"the metadata of {MODEL}:v4" in run.output
    assert "not vouched for" in run.output and "Member" in run.output  # what W&B cannot guarantee
    rb = cli("rollback", MODEL, "production", env=env)
    assert rb.code == 0 and "v4 -> v2" in rb.stdout, rb.output  # never to the planted v1
    assert open_registry(REGISTRY).aliases(MODEL)["production"] == 2
    assert cli("history", MODEL, "--verify", env=env).code == 1  # still named after the rollback


def test_wandb_a_legitimate_chain_still_verifies_and_rolls_back(
    wandb_world: WandbWorld, monkeypatch: pytest.MonkeyPatch, cli
) -> None:  # type: ignore[no-untyped-def]
    wandb_world.use(monkeypatch, CI_KEY)
    env = {**wandb_world.env(CI_KEY), "PROMOTE_REGISTRY": REGISTRY}
    registry = open_registry(REGISTRY)
    move = AliasOp(MODEL, "production", 2, 4)
    registry.apply(
        [Move(move, {"kind": "promote", "model": MODEL, "alias": "production", "from": 2, "to": 4})]
    )
    run = cli("history", MODEL, "--verify", env=env)
    assert run.code == 0 and "intact" in run.stdout, run.output
    assert cli("rollback", MODEL, "production", env=env).code == 0
    assert open_registry(REGISTRY).aliases(MODEL)["production"] == 2
