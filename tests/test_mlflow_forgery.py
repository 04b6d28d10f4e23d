"""Audit forgery on MLflow by a READ-only user, against a real basic-auth ``mlflow server``.

Any MLflow user may create registered models. The attacker holds READ on the model (moving its
aliases is refused with 403), reads the chain head from its tags, and creates a model named like
one of its audit segments, holding a well-linked record ``production v1 -> v4`` (v4 being the
holder): a reader that trusts every segment calls the chain intact, and the next rollback moves
``production`` to v1, a version that never passed a gate. Only the head tag on the model itself
(EDIT) vouches for records, and only the pending marker there (EDIT) vouches for a record
written ahead of a move, so crash recovery settles nothing the attacker wrote.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from aliasgate import audit
from aliasgate.registry.mlflow import GEN_TAG, lock_name
from tests.conftest import Run, clean_env, run_promote
from tests.mlflow_fixtures import SeededDemo
from tests.servers.mlflow_server import Account, ApiError

HEAD_TAG = "aliasgate.audit.head"
PENDING_TAG = "aliasgate.audit.pending"


def promote(demo: SeededDemo, account: Account, *args: str) -> Run:
    return run_promote(*args, "--registry", demo.uri, env=clean_env(**account.env()))


def _head(demo: SeededDemo, model: str) -> audit.Head | None:
    return audit.decode_head(demo.tags(model).get(HEAD_TAG))


def _record(
    model: str, head: audit.Head | None, was: int | None, now: int, kind: str = "promote"
) -> dict[str, Any]:
    body = {
        "kind": kind,
        "model": model,
        "alias": "production",
        "from": was,
        "to": now,
        "at": "2026-11-23T00:00:00.000000Z",
        "principal": {"name": "svc"},
    }
    return audit.seal(body, head)


def _plant(demo: SeededDemo, account: Account, model: str, record: dict[str, Any], owner: str) -> str:
    """Create a model named like an audit segment of ``model``, holding ``record``, as ``account``."""
    name = f"aliasgate-audit.{model}.{owner}.{(int(record['seq']) - 1) // 100}"
    demo.server.api(
        "POST",
        "registered-models/create",
        {
            "name": name,
            "tags": [
                {"key": "aliasgate.audit.of", "value": model},
                {"key": f"aliasgate.audit.{record['seq']}", "value": audit.canonical(record)},
            ],
        },
        account=account,
    )
    return name


def _move_as(demo: SeededDemo, account: Account, model: str, version: int) -> None:
    demo.server.api(
        "POST", "registered-models/alias", {"name": model, "alias": "production", "version": str(version)},
        account=account,
    )  # fmt: skip


def test_a_read_only_users_forged_segment_is_named_and_never_rolled_back_to(
    mlflow_auth_demo: SeededDemo,
) -> None:
    demo, clf = mlflow_auth_demo, mlflow_auth_demo.classifier
    service, reader = demo.accounts["MANAGE"], demo.accounts["READ"]
    moved = promote(demo, service, "rollback", clf, "production", "--to", "v4")  # production v2 -> v4
    assert moved.code == 0, moved.output
    assert demo.aliases(clf)["production"] == 4
    # The attacker: READ only, so moving the alias is refused ...
    denied = promote(demo, reader, "rollback", clf, "production", "--to", "v1")
    assert denied.code == 1 and demo.aliases(clf)["production"] == 4
    # ... but any user may create models: one named like a segment, with a well-linked record.
    forged = _record(clf, _head(demo, clf), 1, 4)
    segment = _plant(demo, reader, clf, forged, reader.username)

    verified = promote(demo, service, "history", clf, "--verify")
    assert verified.code == 1, verified.output
    assert segment in verified.output and f"#{forged['seq']}" in verified.output
    assert "intact" not in verified.output
    as_json = promote(demo, service, "history", clf, "--verify", "--json")
    unvouched = json.loads(as_json.stdout)["verification"]["unvouched"]
    assert [u["seq"] for u in unvouched] == [forged["seq"]] and segment in unvouched[0]["where"]
    # Every reader ignores it: history shows the vouched chain, rollback goes back to v2.
    history = promote(demo, service, "history", clf, "--json")
    assert forged["hash"] not in history.stdout
    back = promote(demo, service, "rollback", clf, "production")
    assert back.code == 0, back.output
    assert demo.aliases(clf)["production"] == 2  # never the forged v1
    assert promote(demo, service, "history", clf, "--verify").code == 1  # still named


def test_a_legitimate_chain_still_verifies_and_rolls_back(mlflow_auth_demo: SeededDemo) -> None:
    demo, clf = mlflow_auth_demo, mlflow_auth_demo.classifier
    service = demo.accounts["EDIT"]
    assert promote(demo, service, "rollback", clf, "production", "--to", "v4").code == 0
    verified = promote(demo, service, "history", clf, "--verify")
    assert verified.code == 0 and "intact" in verified.stdout, verified.output
    back = promote(demo, service, "rollback", clf, "production")
    assert back.code == 0, back.output
    assert demo.aliases(clf)["production"] == 2
    assert promote(demo, service, "history", clf, "--verify").code == 0


def _stale_lock(demo: SeededDemo, model: str, holder: str, as_account: Account) -> None:
    """The lock a killed job leaves (or one an attacker makes: any user may create models)."""
    gen = int(demo.tags(model).get(GEN_TAG, "0"))
    tags = {
        "aliasgate.lock.ttl": "1",
        "aliasgate.lock.owner": "killed@ci pid 1",
        "aliasgate.lock.account": holder,
    }
    demo.server.api(
        "POST", "registered-models/create",
        {"name": lock_name(model, gen), "tags": [{"key": k, "value": v} for k, v in tags.items()]},
        account=as_account,
    )  # fmt: skip


def _records(demo: SeededDemo, account: Account, model: str) -> list[dict[str, Any]]:
    run = promote(demo, account, "history", model, "--json")
    assert run.code == 0, run.output
    return list(reversed(json.loads(run.stdout)["records"]))


def test_crash_recovery_never_settles_a_forged_write_ahead_record(mlflow_auth_demo: SeededDemo) -> None:
    """The forgery as crash recovery saw it: a record past the head, in the page segment of a
    "crashed" account whose stale lock the attacker also made, whose target the alias already holds."""
    demo, clf = mlflow_auth_demo, mlflow_auth_demo.classifier
    service, reader = demo.accounts["MANAGE"], demo.accounts["READ"]
    assert promote(demo, service, "rollback", clf, "production", "--to", "v4").code == 0
    forged = _record(clf, _head(demo, clf), 1, 4)  # production already holds v4
    segment = _plant(demo, reader, clf, forged, "mallory")
    _stale_lock(demo, clf, "mallory", reader)
    with pytest.raises(ApiError) as denied:  # and the marker is out of the attacker's reach
        demo.server.api(
            "POST", "registered-models/set-tag",
            {"name": clf, "key": PENDING_TAG, "value": audit.encode_head(audit.head_of(forged), segment=segment)},
            account=reader,
        )  # fmt: skip
    assert denied.value.status == 403
    time.sleep(1.2)  # the lock is stale: the next holder takes it over and settles
    moved = run_promote(
        "rollback", clf, "production", "--to", "v3", "--registry", demo.uri,
        env=clean_env(**service.env(), PROMOTE_MLFLOW_LOCK_WAIT="30"),
    )  # fmt: skip
    assert moved.code == 0, moved.output
    records = _records(demo, service, clf)
    assert [(r["seq"], r["to"]) for r in records] == [(1, 4), (2, 3)]
    assert forged["hash"] not in {r["hash"] for r in records}
    verified = promote(demo, service, "history", clf, "--verify")
    assert verified.code == 1 and segment in verified.output, verified.output
    back = promote(demo, service, "rollback", clf, "production")
    assert back.code == 0 and demo.aliases(clf)["production"] == 4, back.output


def test_a_killed_jobs_record_that_the_marker_names_is_settled(mlflow_auth_demo: SeededDemo) -> None:
    """What a job killed after its move and before its head leaves (record, marker, moved alias,
    lock), written with the service account's own rights: the next holder settles it."""
    demo, clf = mlflow_auth_demo, mlflow_auth_demo.classifier
    service = demo.accounts["MANAGE"]
    assert promote(demo, service, "rollback", clf, "production", "--to", "v4").code == 0
    head = _head(demo, clf)
    killed = _record(clf, head, 4, 1, kind="rollback")
    segment = f"aliasgate-audit.{clf}.{service.username}.0"  # its own page segment, made by the rollback
    value = audit.encode_head(audit.head_of(killed), segment=segment)
    for name, key, text in (
        (clf, PENDING_TAG, value),  # 1. the marker, on the model (EDIT)
        (segment, f"aliasgate.audit.{killed['seq']}", audit.canonical(killed)),  # 2. the record
    ):
        demo.server.api(
            "POST", "registered-models/set-tag", {"name": name, "key": key, "value": text}, account=service
        )
    _move_as(demo, service, clf, 1)  # 3. the move; killed before 4. the head
    _stale_lock(demo, clf, service.username, service)
    pending = promote(demo, service, "history", clf, "--verify")  # readers already count it
    assert pending.code == 0 and "2 record(s), intact" in pending.stdout, pending.output
    time.sleep(1.2)
    moved = run_promote(
        "rollback", clf, "production", "--to", "v3", "--registry", demo.uri,
        env=clean_env(**service.env(), PROMOTE_MLFLOW_LOCK_WAIT="30"),
    )  # fmt: skip
    assert moved.code == 0, moved.output
    assert audit.decode_head(demo.tags(clf)[HEAD_TAG]) == audit.Head(
        3, _records(demo, service, clf)[-1]["hash"]
    )
    assert [(r["seq"], r["to"]) for r in _records(demo, service, clf)] == [(1, 4), (2, 1), (3, 3)]
    assert promote(demo, service, "history", clf, "--verify").code == 0
