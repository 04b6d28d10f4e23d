"""The MLflow backend through the Registry protocol, against a real ``mlflow server`` on loopback."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from aliasgate import audit, secrets
from aliasgate.errors import AuthError, Conflict, InvalidInput, NotFound, RegistryError
from aliasgate.model import AliasOp, VersionId
from aliasgate.registry import Registry, open_registry
from aliasgate.registry.mlflow import (
    AUDIT_PREFIX,
    GEN_TAG,
    HEAD_TAG,
    TAG_LIMIT,
    MlflowRegistry,
)
from aliasgate.registry.mlflow import (
    base_url as _base_url,
)
from aliasgate.registry.mlflow import (
    lock_name as _lock_name,
)
from tests.mlflow_fixtures import SeededDemo
from tests.servers.mlflow_proxy import RecordingProxy
from tests.servers.mlflow_server import Account, MlflowServer

pytestmark = pytest.mark.mlflow


def body(op: AliasOp, kind: str = "promote", **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "model": op.model,
        "alias": op.alias,
        "from": op.expected,
        "to": op.target,
        "at": "2026-11-23T12:00:00.000000Z",
        "principal": {"name": "tester", "authenticated": False, "source": "test"},
        **extra,
    }


def move(
    reg: Registry, model: str, alias: str, expected: int | None, target: int | None, **extra: Any
) -> dict[str, Any]:
    op = AliasOp(model, alias, expected, target)
    return reg.apply([op], [body(op, **extra)])[0]


def login(monkeypatch: pytest.MonkeyPatch, account: Account) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", account.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", account.password)


# -- URIs, credentials, connection settings (no server needed) ----------------------------------------


def test_registry_uris(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _base_url("mlflow+http://127.0.0.1:5000") == ("http://127.0.0.1:5000", None)
    assert _base_url("mlflow+https://mlflow.example.com/prefix/")[0] == "https://mlflow.example.com/prefix"
    with pytest.raises(InvalidInput, match="MLFLOW_TRACKING_URI"):
        _base_url("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.0.0.5:5000")
    assert _base_url("mlflow")[0] == "http://10.0.0.5:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlruns.db")
    with pytest.raises(InvalidInput, match="not an http"):
        _base_url("mlflow")


def test_password_in_the_url_is_a_secret_and_left_out_of_the_uri() -> None:
    reg = open_registry("mlflow+http://svc:Sup3r-secret-pw@127.0.0.1:9")
    assert isinstance(reg, MlflowRegistry)
    assert "Sup3r" not in reg.uri
    assert secrets.redact("pw Sup3r-secret-pw") == "pw ***"
    assert reg.credentials.username == "svc"


def test_secrets_from_the_environment_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "svc")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "env-password-123")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "env-token-456")
    reg = open_registry("mlflow+http://127.0.0.1:9")
    assert isinstance(reg, MlflowRegistry)
    assert {"env-password-123", "env-token-456"} <= secrets.registered()
    assert reg.credentials.token is None  # the token is used only without username/password


def test_basic_auth_needs_both_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "svc")
    with pytest.raises(InvalidInput, match="MLFLOW_TRACKING_PASSWORD"):
        open_registry("mlflow+http://127.0.0.1:9")


def test_connections_close_on_http_and_stay_open_on_https(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = open_registry("mlflow+http://127.0.0.1:9")
    tls = open_registry("mlflow+https://127.0.0.1:9")
    assert isinstance(plain, MlflowRegistry) and isinstance(tls, MlflowRegistry)
    assert plain.transport.session.headers.get("Connection") == "close"
    assert tls.transport.session.headers.get("Connection") == "keep-alive"
    monkeypatch.setenv("PROMOTE_HTTP_KEEPALIVE", "1")
    forced = open_registry("mlflow+http://127.0.0.1:9")
    assert isinstance(forced, MlflowRegistry)
    assert forced.transport.session.headers.get("Connection") == "keep-alive"


def test_tls_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    cert = tmp_path / "ca.pem"
    cert.write_text("not really a cert")
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))
    reg = open_registry("mlflow+https://127.0.0.1:9")
    assert isinstance(reg, MlflowRegistry)
    assert reg.transport.session.verify == str(cert)
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    with pytest.raises(InvalidInput, match="choose one"):
        open_registry("mlflow+https://127.0.0.1:9")
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    reg = open_registry("mlflow+https://127.0.0.1:9")
    assert isinstance(reg, MlflowRegistry)
    assert reg.transport.session.verify is False


def test_unreachable_server_is_a_registry_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMOTE_HTTP_RETRIES", "0")
    reg = open_registry("mlflow+http://127.0.0.1:9")
    with pytest.raises(RegistryError, match="cannot reach"):
        reg.aliases("m")


# -- reads -------------------------------------------------------------------------------------------


def test_reads_versions_metrics_metadata_lineage(mlflow_demo: SeededDemo) -> None:
    reg = open_registry(mlflow_demo.uri)
    clf, tok = mlflow_demo.classifier, mlflow_demo.tokenizer
    assert isinstance(reg, Registry)
    assert reg.aliases(clf) == {"production": 2, "staging": 4}
    assert reg.latest(clf) == 4
    v4 = reg.version(clf, 4)
    assert v4.metric("val_f1") == pytest.approx(0.912)  # from the source run
    assert v4.metric("missing") is None
    assert v4.metadata["framework"] == "pytorch"
    assert v4.lineage == (VersionId(tok, 2),)
    assert v4.lineage_recorded
    assert v4.aliases == ("staging",)
    assert v4.source is not None and v4.source.startswith("run ")
    tv1 = reg.version(tok, 1)
    assert tv1.metadata["vocab_size"] == 30522  # JSON numbers come back as numbers
    assert tv1.lineage == () and tv1.lineage_recorded
    assert clf in reg.models() and tok in reg.models()
    direct = open_registry(mlflow_demo.uri).version(clf, 4)  # model-versions/get, not the cached newest
    assert (direct.created_at, direct.aliases, dict(direct.metrics), dict(direct.metadata)) == (
        v4.created_at,
        v4.aliases,
        dict(v4.metrics),
        dict(v4.metadata),
    )
    assert (direct.lineage, direct.source, direct.created_by) == (v4.lineage, v4.source, v4.created_by)


def test_version_tags_win_over_run_metrics_and_need_no_run_request(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy
) -> None:
    clf = mlflow_demo.classifier
    mlflow_demo.server.api(
        "POST", "model-versions/set-tag", {"name": clf, "version": "4", "key": "val_f1", "value": "0.95"}
    )
    reg = open_registry(recording_proxy.registry_uri)
    v4 = reg.version(clf, 4)
    assert v4.metric("val_f1") == pytest.approx(0.95)
    assert not any("runs/get" in c for c in recording_proxy.calls())
    assert v4.metric("val_loss") == pytest.approx(0.31)  # only in the run: fetched now
    assert sum("runs/get" in c for c in recording_proxy.calls()) == 1
    assert dict(v4.metrics) == {"val_f1": pytest.approx(0.95), "val_loss": pytest.approx(0.31)}


def test_a_version_without_the_inputs_tag_has_no_recorded_lineage(mlflow_demo: SeededDemo) -> None:
    clf = mlflow_demo.classifier
    mlflow_demo.server.api(
        "DELETE", "model-versions/delete-tag", {"name": clf, "version": "3", "key": "aliasgate.inputs"}
    )
    v3 = open_registry(mlflow_demo.uri).version(clf, 3)
    assert not v3.lineage_recorded and v3.lineage == ()


def test_versions_reads_every_page_and_carries_aliases(mlflow_demo: SeededDemo) -> None:
    reg = open_registry(mlflow_demo.uri)
    assert isinstance(reg, MlflowRegistry)
    reg.page_size = 1  # four pages for four versions
    got = reg.versions(mlflow_demo.classifier)
    assert [v.number for v in got] == [4, 3, 2, 1]
    assert {v.number: v.aliases for v in got} == {4: ("staging",), 3: (), 2: ("production",), 1: ()}


def test_missing_model_and_version_are_not_found(mlflow_demo: SeededDemo) -> None:
    reg = open_registry(mlflow_demo.uri)
    with pytest.raises(NotFound) as exc:
        reg.aliases(mlflow_demo.prefix + "nope")
    assert exc.value.model == mlflow_demo.prefix + "nope"
    with pytest.raises(NotFound) as exc:
        reg.version(mlflow_demo.classifier, 99)
    assert (exc.value.model, exc.value.version) == (mlflow_demo.classifier, 99)
    assert "v99" in str(exc.value)


# -- moves and audit ---------------------------------------------------------------------------------------


def test_move_is_audited_in_mlflow_with_six_requests(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy
) -> None:
    clf = mlflow_demo.classifier
    reg = open_registry(recording_proxy.registry_uri)
    sealed = move(reg, clf, "production", 2, 4)
    assert recording_proxy.calls() == [
        "POST registered-models/create",  # the lock
        "GET registered-models/get",  # re-read under the lock
        "POST registered-models/create",  # the record (write-ahead), in a new audit segment
        "POST registered-models/alias",  # the move
        "POST registered-models/set-tag",  # the head (commit)
        "DELETE registered-models/delete",  # unlock
    ]
    assert mlflow_demo.aliases(clf) == {"production": 4, "staging": 4}
    segment = f"aliasgate-audit.{clf}.shared.0"
    assert json.loads(mlflow_demo.segments(clf)[segment][f"{AUDIT_PREFIX}1"]) == sealed
    assert json.loads(mlflow_demo.tags(clf)[HEAD_TAG]) == {
        "seq": 1,
        "hash": sealed["hash"],
        "segment": segment,
    }
    assert not any(k.startswith(AUDIT_PREFIX) and k != HEAD_TAG for k in mlflow_demo.tags(clf))
    assert mlflow_demo.locks() == []
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert [r["seq"] for r in log.records] == [1] and audit.verify(log).ok
    recording_proxy.clear()  # the next record goes into the same segment: still six requests
    move(reg, clf, "production", 4, 3)
    assert (
        recording_proxy.calls()[2] == "POST registered-models/set-tag" and len(recording_proxy.calls()) == 6
    )
    assert clf not in [m for m in reg.models() if m != clf]  # segments and locks are not models to aliasgate
    assert not any(m.startswith(("aliasgate-audit.", "aliasgate-lock.")) for m in reg.models())


def test_audit_segments_stay_small(mlflow_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow reads every tag of a model it touches, so records go into bounded segments."""
    from aliasgate.registry.mlflow import records

    monkeypatch.setattr(records, "SEGMENT_SIZE", 2)
    clf = mlflow_demo.classifier
    reg = open_registry(mlflow_demo.uri)
    holder = 2
    for target in (3, 4, 1, 2, 3):
        move(reg, clf, "production", holder, target)
        holder = target
    segments = mlflow_demo.segments(clf)
    assert sorted(segments) == [f"aliasgate-audit.{clf}.shared.{p}" for p in (0, 1, 2)]
    assert [
        len([k for k in t if k.startswith(AUDIT_PREFIX) and k != "aliasgate.audit.of"])
        for _, t in sorted(segments.items())
    ] == [2, 2, 1]
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert [r["seq"] for r in log.records] == [1, 2, 3, 4, 5] and audit.verify(log).ok


def test_conflict_changes_nothing(mlflow_demo: SeededDemo) -> None:
    clf = mlflow_demo.classifier
    reg = open_registry(mlflow_demo.uri)
    before = (mlflow_demo.aliases(clf), mlflow_demo.tags(clf), mlflow_demo.segments(clf))
    with pytest.raises(Conflict) as exc:
        move(reg, clf, "production", 1, 4)
    assert (exc.value.expected, exc.value.actual) == (1, 2)
    assert (mlflow_demo.aliases(clf), mlflow_demo.tags(clf), mlflow_demo.segments(clf)) == before
    assert mlflow_demo.locks() == []


def test_create_and_remove_an_alias_and_chain(mlflow_demo: SeededDemo) -> None:
    clf = mlflow_demo.classifier
    reg = open_registry(mlflow_demo.uri)
    move(reg, clf, "canary", None, 3)
    with pytest.raises(Conflict):
        move(reg, clf, "canary", None, 4)  # "must not exist yet"
    move(reg, clf, "canary", 3, None, kind="remove")
    move(reg, clf, "production", 2, 3)
    assert "canary" not in reg.aliases(clf)
    log = reg.audit_log(clf)
    assert [(r["alias"], r["from"], r["to"]) for r in log.records] == [
        ("canary", None, 3),
        ("canary", 3, None),
        ("production", 2, 3),
    ]
    assert audit.verify(log).ok


def test_moving_to_a_missing_version_leaves_no_record(mlflow_demo: SeededDemo) -> None:
    clf = mlflow_demo.classifier
    reg = open_registry(mlflow_demo.uri)
    with pytest.raises(NotFound):
        move(reg, clf, "production", 2, 42)
    assert mlflow_demo.aliases(clf)["production"] == 2
    assert mlflow_demo.record_tags(clf) == {} and HEAD_TAG not in mlflow_demo.tags(clf)
    assert mlflow_demo.locks() == []


@pytest.mark.parametrize("size", [3_000, 20_000, 200_000])
def test_records_of_any_size_fit_mlflow_tags(mlflow_demo: SeededDemo, size: int) -> None:
    import random

    clf = mlflow_demo.classifier
    reg = open_registry(mlflow_demo.uri)
    rnd = random.Random(size)
    noise = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))
    sealed = move(reg, clf, "production", 2, 4, reason=noise)
    assert all(len(v) <= TAG_LIMIT for tags in mlflow_demo.segments(clf).values() for v in tags.values())
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert log.records == [sealed] and audit.verify(log).ok


def test_history_verify_catches_tampering(mlflow_demo: SeededDemo) -> None:
    clf = mlflow_demo.classifier
    server = mlflow_demo.server
    segment = f"aliasgate-audit.{clf}.shared.0"
    reg = open_registry(mlflow_demo.uri)
    for expected, target in ((2, 3), (3, 4), (4, 2)):
        move(reg, clf, "production", expected, target)
    assert audit.verify(reg.audit_log(clf)).ok
    tags = mlflow_demo.segments(clf)[segment]
    edited = json.loads(tags[f"{AUDIT_PREFIX}2"])
    edited["to"] = 1
    server.api(
        "POST",
        "registered-models/set-tag",
        {"name": segment, "key": f"{AUDIT_PREFIX}2", "value": json.dumps(edited)},
    )
    result = audit.verify(reg.audit_log(clf))
    assert not result.ok and result.first_bad == 2
    server.api(
        "POST",
        "registered-models/set-tag",
        {"name": segment, "key": f"{AUDIT_PREFIX}2", "value": tags[f"{AUDIT_PREFIX}2"]},
    )
    assert audit.verify(reg.audit_log(clf)).ok
    server.api("DELETE", "registered-models/delete-tag", {"name": segment, "key": f"{AUDIT_PREFIX}3"})
    result = audit.verify(reg.audit_log(clf))
    assert not result.ok and result.first_bad == 3  # the newest record, caught by the head


def _crash_after_record(demo: SeededDemo, op: AliasOp, head: audit.Head | None) -> dict[str, Any]:
    """What a job killed between its write-ahead record and its head leaves: the record, its lock."""
    pending = audit.seal(body(op), head)
    demo.server.api(
        "POST",
        "registered-models/create",
        {
            "name": f"aliasgate-audit.{op.model}.shared.0",
            "tags": [{"key": f"{AUDIT_PREFIX}{pending['seq']}", "value": audit.canonical(pending)}],
        },
    )
    _hold_lock(demo.server, op.model, 0, ttl=1, account="shared")
    return pending


def test_a_crashed_moves_record_is_kept_when_the_alias_moved(mlflow_demo: SeededDemo) -> None:
    """A holder died after its write-ahead record and its move, before the head: the move counts."""
    clf = mlflow_demo.classifier
    op = AliasOp(clf, "production", 2, 4)
    pending = _crash_after_record(mlflow_demo, op, None)
    mlflow_demo.server.api(
        "POST", "registered-models/alias", {"name": clf, "alias": "production", "version": "4"}
    )
    log = open_registry(mlflow_demo.uri).audit_log(clf)  # the read-only view already shows it
    assert log.records == [pending] and audit.verify(log).ok
    second = move(open_registry(mlflow_demo.uri), clf, "production", 4, 1)  # the next holder commits it
    assert second["seq"] == 2 and second["prev"] == pending["hash"]
    assert json.loads(mlflow_demo.tags(clf)[HEAD_TAG])["seq"] == 2
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert [r["to"] for r in log.records] == [4, 1] and audit.verify(log).ok


def test_a_crashed_moves_record_is_dropped_when_the_alias_did_not_move(mlflow_demo: SeededDemo) -> None:
    clf = mlflow_demo.classifier
    _crash_after_record(mlflow_demo, AliasOp(clf, "production", 2, 4), None)
    reg = open_registry(mlflow_demo.uri)
    assert reg.audit_log(clf).records == []
    sealed = move(reg, clf, "production", 2, 3)
    assert sealed["seq"] == 1 and sealed["to"] == 3
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert [r["to"] for r in log.records] == [3] and audit.verify(log).ok


def test_an_orphaned_record_of_another_account_stays_off_the_chain(mlflow_demo: SeededDemo) -> None:
    """Two records with one seq (one orphaned in another account's segment): the head picks."""
    clf = mlflow_demo.classifier
    orphan = audit.seal(body(AliasOp(clf, "production", 2, 1)), None)
    mlflow_demo.server.api(
        "POST",
        "registered-models/create",
        {
            "name": f"aliasgate-audit.{clf}.someone.0",
            "tags": [{"key": f"{AUDIT_PREFIX}1", "value": audit.canonical(orphan)}],
        },
    )
    reg = open_registry(mlflow_demo.uri)
    first = move(reg, clf, "production", 2, 3)
    move(reg, clf, "production", 3, 4)
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert log.records[0] == first and len(log.records) == 2 and audit.verify(log).ok


def test_unique_constraint_on_first_alias_creation_is_retried(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy
) -> None:
    """The 400 MLflow's SQL store answers when two clients create the same alias at once."""
    clf = mlflow_demo.classifier
    race = json.dumps(
        {
            "error_code": "BAD_REQUEST",
            "message": "(sqlite3.IntegrityError) UNIQUE constraint failed: registered_model_aliases.workspace, "
            "registered_model_aliases.name, registered_model_aliases.alias",
        }
    )
    recording_proxy.answer("POST", "registered-models/alias", 400, race, times=2)
    move(open_registry(recording_proxy.registry_uri), clf, "canary", None, 3)
    assert mlflow_demo.aliases(clf)["canary"] == 3
    assert sum(c == "POST registered-models/alias" for c in recording_proxy.calls()) == 3


def test_other_bad_requests_are_not_retried(mlflow_demo: SeededDemo, recording_proxy: RecordingProxy) -> None:
    clf = mlflow_demo.classifier
    recording_proxy.answer(
        "POST", "registered-models/alias", 400, '{"error_code": "INVALID_PARAMETER_VALUE", "message": "nope"}'
    )
    with pytest.raises(RegistryError, match="INVALID_PARAMETER_VALUE"):
        move(open_registry(recording_proxy.registry_uri), clf, "production", 2, 3)
    assert mlflow_demo.aliases(clf)["production"] == 2
    assert mlflow_demo.record_tags(clf) == {}


@pytest.mark.parametrize(("after", "what"), [(0, "the lock"), (1, "the audit segment")])
def test_a_gateway_refusing_to_create_the_lock_or_a_segment_changes_nothing(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, after: int, what: str
) -> None:
    """MLflow lets every account create registered models; a gateway in front of it may not.
    The first create of a fresh model's first move is its lock, the second its audit segment."""
    clf = mlflow_demo.classifier
    recording_proxy.answer(
        "POST", "registered-models/create", 403,
        '{"error_code": "PERMISSION_DENIED", "message": "no"}', after=after,
    )  # fmt: skip
    with pytest.raises(
        AuthError, match=f"may not create registered models, which aliasgate needs for {what} "
    ) as exc:
        move(open_registry(recording_proxy.registry_uri), clf, "production", 2, 3)
    assert "nothing was changed" in str(exc.value) and "allow this account" in (exc.value.hint or "")
    assert mlflow_demo.aliases(clf)["production"] == 2
    assert mlflow_demo.record_tags(clf) == {} and mlflow_demo.segments(clf) == {}
    assert not [c for c in recording_proxy.calls() if c == "POST registered-models/alias"]


# -- the lock ---------------------------------------------------------------------------------------------


def _hold_lock(server: MlflowServer, model: str, gen: int, ttl: float, account: str | None = None) -> None:
    tags = [
        {"key": "aliasgate.lock.ttl", "value": str(ttl)},
        {"key": "aliasgate.lock.owner", "value": "someone@elsewhere pid 1"},
    ]
    if account:
        tags.append({"key": "aliasgate.lock.account", "value": account})
    server.api("POST", "registered-models/create", {"name": _lock_name(model, gen), "tags": tags})


def test_a_live_lock_makes_a_move_wait_then_give_up_as_a_conflict(
    mlflow_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf = mlflow_demo.classifier
    _hold_lock(mlflow_demo.server, clf, 0, ttl=600)
    monkeypatch.setenv("PROMOTE_MLFLOW_LOCK_WAIT", "1.5")
    with pytest.raises(Conflict, match="someone@elsewhere"):
        move(open_registry(mlflow_demo.uri), clf, "production", 2, 4)
    assert mlflow_demo.aliases(clf)["production"] == 2
    assert mlflow_demo.locks() == [_lock_name(clf, 0)]  # another's lock is never deleted by us


def test_a_stale_lock_is_taken_over_by_generation(
    mlflow_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch, recording_proxy: RecordingProxy
) -> None:
    clf = mlflow_demo.classifier
    _hold_lock(mlflow_demo.server, clf, 0, ttl=1)
    monkeypatch.setenv("PROMOTE_MLFLOW_LOCK_WAIT", "30")
    move(open_registry(mlflow_demo.uri), clf, "production", 2, 4)
    assert mlflow_demo.aliases(clf)["production"] == 4
    assert mlflow_demo.tags(clf)[GEN_TAG] == "1"
    assert mlflow_demo.locks() == []  # same (anonymous) account: the stale lock could be removed
    # The next job reads the generation while planning and goes straight to it.
    reg = open_registry(recording_proxy.registry_uri)
    reg.aliases(clf)
    recording_proxy.clear()
    move(reg, clf, "production", 4, 3)
    assert len(recording_proxy.calls()) == 6


def test_lock_creation_racing_a_release_counts_as_busy(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy
) -> None:
    """MLflow answers a create that collides with a lock being deleted with a 404 of its re-read."""
    clf = mlflow_demo.classifier
    gone = '{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model with name=x not found"}'
    recording_proxy.answer("POST", "registered-models/create", 404, gone)
    move(open_registry(recording_proxy.registry_uri), clf, "production", 2, 4)
    assert mlflow_demo.aliases(clf)["production"] == 4
    assert recording_proxy.calls()[:3] == [
        "POST registered-models/create",  # "404": busy a moment ago
        "GET registered-models/get",  # the lock is gone: try again at once
        "POST registered-models/create",
    ]


def test_threads_racing_on_one_alias_form_a_linear_chain(mlflow_race_demo: SeededDemo) -> None:
    """Eight clients at once, each moving production to its own version from what it saw
    (on SQLite with one server worker, and on PostgreSQL with four)."""
    mlflow_demo = mlflow_race_demo
    clf = mlflow_demo.classifier
    for _ in range(4):  # versions 5..8
        mlflow_demo.server.api(
            "POST", "model-versions/create", {"name": clf, "source": "s3://aliasgate-test/model"}
        )
    results: list[str] = []
    start = threading.Barrier(8)

    def racer(target: int) -> None:
        reg = open_registry(mlflow_demo.uri)
        seen = reg.aliases(clf)["production"]
        start.wait()
        try:
            move(reg, clf, "production", seen, target)
            results.append("moved")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert audit.verify(log).ok
    assert results.count("moved") == len(log.records) >= 1
    holder = 2
    for record in log.records:
        assert record["from"] == holder  # each move starts where the previous one left it
        holder = record["to"]
    assert mlflow_demo.aliases(clf)["production"] == holder
    assert mlflow_demo.locks() == []


# -- deleting versions --------------------------------------------------------------------------------------


def test_delete_version_refuses_an_alias_holder_and_audits_the_rest(mlflow_demo: SeededDemo) -> None:
    clf = mlflow_demo.classifier
    reg = open_registry(mlflow_demo.uri)
    record = {"kind": "delete", "model": clf, "alias": None, "from": 2, "to": None}
    with pytest.raises(Conflict, match="holds production"):
        reg.delete_version(clf, 2, record)
    sealed = reg.delete_version(clf, 1, {**record, "from": 1})
    reg.close()
    assert sealed["kind"] == "delete" and sealed["version"] == 1
    assert [v.number for v in reg.versions(clf)] == [4, 3, 2]
    assert audit.verify(reg.audit_log(clf)).ok


def test_parallel_deletions_from_one_process_are_each_audited(mlflow_race_demo: SeededDemo) -> None:
    """Cleanup deletes with several threads on one registry: each deletion locks, re-reads, audits."""
    mlflow_demo = mlflow_race_demo
    from concurrent.futures import ThreadPoolExecutor

    clf = mlflow_demo.classifier
    for _ in range(4):  # versions 5..8, no aliases
        mlflow_demo.server.api(
            "POST", "model-versions/create", {"name": clf, "source": "s3://aliasgate-test/m"}
        )
    reg = open_registry(mlflow_demo.uri)
    record = {"kind": "delete", "model": clf, "alias": None, "from": None, "to": None}
    with ThreadPoolExecutor(4) as pool:
        sealed = list(
            pool.map(lambda n: reg.delete_version(clf, n, {**record, "version": n}), [1, 3, 5, 6, 7, 8])
        )
    assert sorted(r["version"] for r in sealed) == [1, 3, 5, 6, 7, 8]
    assert [v.number for v in reg.versions(clf)] == [4, 2]
    log = reg.audit_log(clf)
    assert len(log.records) == 6 and audit.verify(log).ok
    assert mlflow_demo.locks() == [_lock_name(clf, 0)]  # kept for the next deletion ...
    reg.close()
    assert mlflow_demo.locks() == []  # ... until the command ends


# -- deleting in batches -------------------------------------------------------------------------------------


def _versions(demo: SeededDemo, count: int) -> None:
    for _ in range(count):
        demo.server.api(
            "POST", "model-versions/create", {"name": demo.classifier, "source": "s3://aliasgate-test/m"}
        )


def _deletion(model: str, number: int) -> dict[str, Any]:
    return {"kind": "delete", "model": model, "alias": None, "from": number, "to": None, "version": number}


def _batch(reg: Any, model: str, numbers: list[int]) -> list[Any]:
    return list(reg.delete_versions(model, numbers, [_deletion(model, n) for n in numbers]))


def _deleted_by_records(reg: Any, model: str) -> list[int]:
    log = reg.audit_log(model)
    assert audit.verify(log).ok, audit.verify(log)
    return [int(r["version"]) for r in log.records if r.get("kind") == "delete"]


def _live(demo: SeededDemo) -> list[int]:
    found = demo.server.api(
        "GET", "model-versions/search", params={"filter": f"name='{demo.classifier}'", "max_results": "1000"}
    )
    return sorted(int(v["version"]) for v in found.get("model_versions", []))


@pytest.fixture(params=["paired", "each"])
def recheck(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a batch re-reads aliases: one registered-models/get per two deletions (models of
    up to PAIRED_RECHECK_UP_TO versions), or one model-versions/get per deletion (larger ones)."""
    from aliasgate.registry.mlflow import deletes

    if request.param == "each":
        monkeypatch.setattr(deletes, "PAIRED_RECHECK_UP_TO", 0)
    return str(request.param)


def test_a_batch_writes_its_records_in_one_segment_and_deletes_each_version_after_rereading_it(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, recheck: str
) -> None:
    clf = mlflow_demo.classifier
    _versions(mlflow_demo, 4)  # 5..8; production holds 2, staging 4
    reg = open_registry(recording_proxy.registry_uri)
    results = _batch(reg, clf, [1, 2, 3, 5, 6])
    assert isinstance(results[1], Conflict) and "holds production now; not deleted" in str(results[1])
    sealed = [results[i] for i in (0, 2, 3, 4)]
    assert [(r["version"], r["seq"]) for r in sealed] == [(1, 1), (3, 2), (5, 3), (6, 4)]
    rereads = (
        ["GET registered-models/get", "DELETE model-versions/delete", "DELETE model-versions/delete"] * 2
        if recheck == "paired"  # at most one deletion between a version's re-read and its own
        else ["GET model-versions/get", "DELETE model-versions/delete"] * 4  # each re-read right before
    )
    assert recording_proxy.calls() == [
        "POST registered-models/create",  # the lock
        "GET registered-models/get",  # re-read under the lock: v2 holds an alias, so it gets no record
        "POST registered-models/create",  # every record of the batch, written ahead, in one new segment
        *rereads,
        "POST registered-models/set-tag",  # the head, once (the commit)
    ]
    segments = mlflow_demo.segments(clf)
    assert len(segments) == 1
    ((name, tags),) = segments.items()
    assert name.startswith(f"aliasgate-audit.{clf}.shared.b1-")
    assert {k for k in tags if k != "aliasgate.audit.of"} == {f"{AUDIT_PREFIX}{n}" for n in (1, 2, 3, 4)}
    assert json.loads(mlflow_demo.tags(clf)[HEAD_TAG]) == {
        "seq": 4,
        "hash": sealed[-1]["hash"],
        "segment": name,
    }
    assert _live(mlflow_demo) == [2, 4, 7, 8]
    assert _deleted_by_records(reg, clf) == [1, 3, 5, 6]
    recording_proxy.clear()
    again = _batch(reg, clf, [7, 3])  # v3 is gone already: no second record for it
    assert again[0]["seq"] == 5 and isinstance(again[1], NotFound)
    assert recording_proxy.calls()[0] == "GET registered-models/get"  # the lock is kept between batches
    reg.close()
    assert mlflow_demo.locks() == []
    assert _deleted_by_records(open_registry(mlflow_demo.uri), clf) == [1, 3, 5, 6, 7]


def _holds(proxy: RecordingProxy, k: int) -> list[Any]:
    """Pause each of the next ``k`` deletions (version deletes) before they reach MLflow."""
    return [proxy.hold("DELETE", "model-versions/delete") for _ in range(k)]


def _run_batch_in_thread(reg: Any, model: str, numbers: list[int]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.extend(_batch(reg, model, numbers)))
    t.start()
    return t, out


def _through(holds: list[Any]) -> Any:
    """Release every hold but the last once reached; answer the last (paused) one."""
    for h in holds[:-1]:
        assert h.reached.wait(30)
        h.release()
    assert holds[-1].reached.wait(30)
    return holds[-1]


def test_a_version_that_gains_an_alias_mid_batch_is_kept_and_the_rest_comes_back(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, recheck: str
) -> None:
    clf = mlflow_demo.classifier
    _versions(mlflow_demo, 4)  # 5..8
    reg = open_registry(recording_proxy.registry_uri)
    holds = _holds(recording_proxy, 2)
    t, results = _run_batch_in_thread(reg, clf, [1, 3, 5, 6, 7])
    paused = _through(holds)  # v3's deletion is on its way
    # Another client, bypassing aliasgate, points an alias at v5 while the batch is at it.
    mlflow_demo.server.api(
        "POST", "registered-models/alias", {"name": clf, "alias": "hotfix", "version": "5"}
    )
    paused.release()
    t.join(60)
    assert [r["version"] for r in results[:2]] == [1, 3]
    assert isinstance(results[2], Conflict) and "holds hotfix now" in str(results[2])
    assert results[3:] == [None, None]  # not reached: the caller sends them again
    assert _live(mlflow_demo) == [2, 4, 5, 6, 7, 8]
    assert mlflow_demo.aliases(clf)["hotfix"] == 5
    assert _deleted_by_records(reg, clf) == [1, 3]
    assert len(mlflow_demo.record_tags(clf)) == 2  # the unused records written ahead were removed
    again = _batch(reg, clf, [6, 7])
    assert [(r["version"], r["seq"]) for r in again] == [(6, 3), (7, 4)]
    reg.close()
    assert _deleted_by_records(open_registry(mlflow_demo.uri), clf) == [1, 3, 6, 7]
    assert mlflow_demo.locks() == []


def test_a_version_deleted_by_someone_else_mid_batch_gets_no_record(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, recheck: str
) -> None:
    clf = mlflow_demo.classifier
    _versions(mlflow_demo, 2)  # 5, 6
    reg = open_registry(recording_proxy.registry_uri)
    holds = _holds(recording_proxy, 2)
    t, results = _run_batch_in_thread(reg, clf, [1, 3, 5])
    paused = _through(holds)  # v3's deletion is on its way
    mlflow_demo.server.api("DELETE", "model-versions/delete", {"name": clf, "version": "5"})
    paused.release()
    t.join(60)
    assert [r["version"] for r in results[:2]] == [1, 3] and isinstance(results[2], NotFound)
    assert _deleted_by_records(reg, clf) == [1, 3]  # v5 is gone, but not by us: no record
    assert len(mlflow_demo.record_tags(clf)) == 2
    reg.close()


def test_a_refused_deletion_mid_batch_leaves_no_record_for_it(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, recheck: str
) -> None:
    clf = mlflow_demo.classifier
    _versions(mlflow_demo, 2)  # 5, 6
    reg = open_registry(recording_proxy.registry_uri)
    holds = _holds(recording_proxy, 1)
    t, results = _run_batch_in_thread(reg, clf, [1, 3, 5])
    paused = _through(holds)  # v1's deletion is on its way
    recording_proxy.answer(  # the next deletion (v3) fails on the server's side
        "DELETE",
        "model-versions/delete",
        500,
        '{"error_code": "INTERNAL_ERROR", "message": "disk I/O error"}',
    )
    paused.release()
    t.join(60)
    assert results[0]["version"] == 1 and results[2] is None
    assert isinstance(results[1], RegistryError) and "INTERNAL_ERROR" in str(results[1])
    assert _live(mlflow_demo) == [2, 3, 4, 5, 6]
    assert _deleted_by_records(reg, clf) == [1]
    assert [r["seq"] for r in _batch(reg, clf, [3, 5])] == [2, 3]  # sent again, it goes through
    reg.close()
    assert _deleted_by_records(open_registry(mlflow_demo.uri), clf) == [1, 3, 5]


def _crashed_batch(
    demo: SeededDemo, numbers: list[int], gone: list[int], *, ttl: float = 1
) -> list[dict[str, Any]]:
    """What a job killed in the middle of a batch leaves: every record of the batch written ahead
    in a batch segment, the versions in ``gone`` deleted, no head, and its lock."""
    clf = demo.classifier
    sealed: list[dict[str, Any]] = []
    head = None
    for n in numbers:
        sealed.append(audit.seal(_deletion(clf, n), head))
        head = audit.head_of(sealed[-1])
    demo.server.api(
        "POST",
        "registered-models/create",
        {
            "name": f"aliasgate-audit.{clf}.shared.b1-0dead0",
            "tags": [{"key": "aliasgate.audit.of", "value": clf}]
            + [{"key": f"{AUDIT_PREFIX}{r['seq']}", "value": audit.canonical(r)} for r in sealed],
        },
    )
    for n in gone:
        demo.server.api("DELETE", "model-versions/delete", {"name": clf, "version": str(n)})
    _hold_lock(demo.server, clf, 0, ttl=ttl, account="shared")
    return sealed


def test_a_crashed_batch_is_settled_by_the_next_holder(mlflow_demo: SeededDemo) -> None:
    """Killed after deleting v1 and v3 of [1, 3, 5, 6]: records for those two, none for the rest."""
    clf = mlflow_demo.classifier
    _versions(mlflow_demo, 2)  # 5, 6
    sealed = _crashed_batch(mlflow_demo, [1, 3, 5, 6], gone=[1, 3])
    reader = open_registry(mlflow_demo.uri)
    log = reader.audit_log(clf)  # before anyone settles it, the read-only view already shows them
    assert log.records == sealed[:2] and audit.verify(log).ok
    reg = open_registry(mlflow_demo.uri)
    assert [r["seq"] for r in _batch(reg, clf, [5, 6])] == [3, 4]  # takes the stale lock over, settles
    reg.close()
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert log.records[:2] == sealed[:2] and audit.verify(log).ok
    assert [r["version"] for r in log.records] == [1, 3, 5, 6]
    crashed = mlflow_demo.segments(clf)[f"aliasgate-audit.{clf}.shared.b1-0dead0"]
    assert {k for k in crashed if k != "aliasgate.audit.of"} == {f"{AUDIT_PREFIX}1", f"{AUDIT_PREFIX}2"}
    assert mlflow_demo.locks() == []


def test_a_crashed_batch_that_deleted_nothing_leaves_no_record(mlflow_demo: SeededDemo) -> None:
    clf = mlflow_demo.classifier
    _crashed_batch(mlflow_demo, [1, 3], gone=[])
    assert open_registry(mlflow_demo.uri).audit_log(clf).records == []
    reg = open_registry(mlflow_demo.uri)
    move(reg, clf, "production", 2, 3)  # any writer settles it: nothing to keep
    log = reg.audit_log(clf)
    assert [r["kind"] for r in log.records] == ["promote"] and audit.verify(log).ok
    assert f"aliasgate-audit.{clf}.shared.b1-0dead0" not in mlflow_demo.segments(clf)


def test_audit_segments_of_a_model_named_like_a_prefix_stay_apart(mlflow_demo: SeededDemo) -> None:
    """Model ``X``'s segment prefix ``aliasgate-audit.X.`` is also a prefix of model ``X.b``'s."""
    clf = mlflow_demo.classifier
    other = f"{clf}.b"
    mlflow_demo.server.api("POST", "registered-models/create", {"name": other})
    for _ in range(3):
        mlflow_demo.server.api(
            "POST", "model-versions/create", {"name": other, "source": "s3://aliasgate-test/m"}
        )
    reg = open_registry(mlflow_demo.uri)
    move(reg, other, "production", None, 1)
    move(reg, other, "production", 1, 2)
    move(reg, other, "production", 2, 3)
    move(reg, clf, "production", 2, 3)
    for name, count in ((clf, 1), (other, 3)):
        log = open_registry(mlflow_demo.uri).audit_log(name)
        assert len(log.records) == count and audit.verify(log).ok, (name, audit.verify(log))


# -- auth (basic-auth app) ------------------------------------------------------------------------------------


def test_whoami_asks_the_server(mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch, mlflow_auth_demo.accounts["EDIT"])
    me = open_registry(mlflow_auth_demo.uri).whoami()
    assert me.authenticated and me.name == mlflow_auth_demo.accounts["EDIT"].username
    assert me.source == "mlflow users/current"


def test_whoami_says_when_the_server_has_no_auth(mlflow_server: MlflowServer) -> None:
    me = open_registry(mlflow_server.registry_uri).whoami()
    assert not me.authenticated
    assert "no authentication" in me.source


def test_wrong_password_is_an_auth_error_without_the_password(
    mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = mlflow_auth_demo.accounts["EDIT"]
    login(monkeypatch, Account(account.username, "Wrong-password-9876"))
    with pytest.raises(AuthError) as exc:
        open_registry(mlflow_auth_demo.uri).whoami()
    text = f"{exc.value} {exc.value.hint}"
    assert account.username in text and "401" in text
    assert "Wrong-password-9876" not in text


def test_a_bearer_token_against_basic_auth_says_why(
    mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-abcdef-123456")
    with pytest.raises(AuthError) as exc:
        open_registry(mlflow_auth_demo.uri).whoami()
    assert "username and password" in (exc.value.hint or "")
    assert "tok-abcdef" not in f"{exc.value} {exc.value.hint}"


def test_read_only_account_cannot_move_and_nothing_changes(
    mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf = mlflow_auth_demo.classifier
    reader = mlflow_auth_demo.accounts["READ"]
    before = (mlflow_auth_demo.aliases(clf), mlflow_auth_demo.tags(clf), mlflow_auth_demo.segments(clf))
    login(monkeypatch, reader)
    reg = open_registry(mlflow_auth_demo.uri)
    assert reg.aliases(clf)["production"] == 2  # reading works
    with pytest.raises(AuthError) as exc:
        move(reg, clf, "production", 2, 4)
    message = str(exc.value)
    assert reader.username in message and clf in message and "EDIT" in message
    assert reader.password not in message
    assert (
        mlflow_auth_demo.aliases(clf),
        mlflow_auth_demo.tags(clf),
        mlflow_auth_demo.segments(clf),
    ) == before
    assert mlflow_auth_demo.locks() == []


def test_edit_moves_but_removing_an_alias_needs_manage(
    mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf = mlflow_auth_demo.classifier
    login(monkeypatch, mlflow_auth_demo.accounts["EDIT"])
    reg = open_registry(mlflow_auth_demo.uri)
    move(reg, clf, "production", 2, 4)
    with pytest.raises(AuthError, match="MANAGE"):
        move(reg, clf, "staging", 4, None, kind="remove")
    assert mlflow_auth_demo.aliases(clf) == {"production": 4, "staging": 4}
    log = reg.audit_log(clf)
    assert len(log.records) == 1 and audit.verify(log).ok  # the refused removal left no record
    assert mlflow_auth_demo.locks() == []


def test_deleting_a_version_needs_manage(
    mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf = mlflow_auth_demo.classifier
    record = {"kind": "delete", "model": clf, "alias": None, "from": 1, "to": None}
    login(monkeypatch, mlflow_auth_demo.accounts["EDIT"])
    with pytest.raises(AuthError, match="MANAGE"):
        open_registry(mlflow_auth_demo.uri).delete_version(clf, 1, record)
    login(monkeypatch, mlflow_auth_demo.accounts["MANAGE"])
    reg = open_registry(mlflow_auth_demo.uri)
    assert [v.number for v in reg.versions(clf)] == [4, 3, 2, 1]
    reg.delete_version(clf, 1, record)
    reg.close()
    assert [v.number for v in reg.versions(clf)] == [4, 3, 2]
    assert mlflow_auth_demo.locks() == []
    log = reg.audit_log(clf)
    assert [r["kind"] for r in log.records] == ["delete"] and audit.verify(log).ok


def test_another_accounts_stale_lock_is_skipped_not_deleted(
    mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf = mlflow_auth_demo.classifier
    server = mlflow_auth_demo.server
    crashed = mlflow_auth_demo.accounts["MANAGE"]
    server.api(
        "POST",
        "registered-models/create",
        {"name": _lock_name(clf, 0), "tags": [{"key": "aliasgate.lock.ttl", "value": "1"}]},
        account=crashed,
    )
    login(monkeypatch, mlflow_auth_demo.accounts["EDIT"])
    move(open_registry(mlflow_auth_demo.uri), clf, "production", 2, 4)
    assert mlflow_auth_demo.aliases(clf)["production"] == 4
    assert mlflow_auth_demo.locks() == [_lock_name(clf, 0)]  # EDIT may not delete another's model
    move(open_registry(mlflow_auth_demo.uri), clf, "production", 4, 3)  # generation 1 from now on
    assert mlflow_auth_demo.tags(clf)[GEN_TAG] == "1"
    assert audit.verify(open_registry(mlflow_auth_demo.uri).audit_log(clf)).ok
