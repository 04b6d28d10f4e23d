"""The MLflow backend under faults, against the real server through the fault-injecting proxy.

Who makes it lie here: a network that loses a reply after the write landed, a server that
answers 5xx, MLflow's basic-auth app taking a lock's grants away, a CI runner cancelling a job.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from aliasgate import audit
from aliasgate.errors import Conflict
from aliasgate.model import AliasOp
from aliasgate.registry import Registry, open_registry
from aliasgate.registry.mlflow import GEN_TAG, MlflowRegistry, Settings, lock_name
from tests.conftest import PROMOTE, clean_env, run_promote
from tests.mlflow_fixtures import SeededDemo
from tests.servers.mlflow_proxy import RecordingProxy
from tests.servers.mlflow_server import Account
from tests.test_mlflow_registry import body

pytestmark = pytest.mark.mlflow

ERROR_500 = '{"error_code": "INTERNAL_ERROR", "message": "injected"}'


def take(tmp_path: Path, model: str, number: int, alias: str = "production") -> Path:
    policy = tmp_path / f"take-v{number}.yaml"
    policy.write_text(
        f"version: 1\npromotions:\n  - name: take-v{number}\n    model: {model}\n"
        f"    from: v{number}\n    to: {alias}\n",
        encoding="utf-8",
    )
    return policy


def new_versions(demo: SeededDemo, count: int) -> list[int]:
    made = []
    for _ in range(count):
        created = demo.server.api(
            "POST", "model-versions/create", {"name": demo.classifier, "source": "s3://aliasgate-test/m"}
        )
        made.append(int(created["model_version"]["version"]))
    return made


# -- lost replies on every DELETE, 12 jobs racing -----------------------------------------------------


@pytest.mark.slow
def test_lost_delete_replies_never_free_another_jobs_lock(mlflow_demo: SeededDemo, tmp_path: Path) -> None:
    """Every DELETE lands and its reply is lost. A resent release would delete the next holder's
    lock; here each job deletes only the lock it holds, and every move has exactly one record."""
    clf = mlflow_demo.classifier
    targets = new_versions(mlflow_demo, 12)
    order, counter = threading.Lock(), itertools.count()
    proxies = [RecordingProxy(mlflow_demo.server.url, order=order, counter=counter).start() for _ in targets]
    try:
        for proxy in proxies:
            proxy.lose("DELETE", "", times=10**6)
        procs = [
            subprocess.Popen(
                [PROMOTE, "apply", "-p", str(take(tmp_path, clf, n)), "--registry", proxy.registry_uri],
                cwd=tmp_path,
                env=clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n, proxy in zip(targets, proxies, strict=True)
        ]
        finished = [(proc, *proc.communicate(timeout=240)) for proc in procs]
    finally:
        for proxy in proxies:
            proxy.stop()
    codes = [proc.returncode for proc, _, _ in finished]
    for proc, out, err in finished:
        assert proc.returncode in (0, 4), out + err
        assert "Traceback" not in err

    # Who held which lock, in the order MLflow saw the lock requests of all twelve jobs.
    events = sorted(
        (r.index, job, r) for job, proxy in enumerate(proxies) for r in proxy.requests if r.index >= 0
    )
    owner: dict[str, int | None] = {}
    deletes = 0
    for _, job, r in events:
        name = str(json.loads(r.body or b"{}").get("name", ""))
        if not name.startswith("aliasgate-lock.") or r.status != 200:
            continue
        if r.method == "POST" and r.path.endswith("registered-models/create"):
            assert owner.get(name) is None, f"{name} created twice"
            owner[name] = job
        elif r.method == "DELETE" and r.path.endswith("registered-models/delete"):
            assert owner.get(name) == job, f"job {job} deleted {name}, held by job {owner.get(name)}"
            owner[name] = None
            deletes += 1
    assert deletes >= len(targets)  # every job released (reading back after each lost reply)
    assert mlflow_demo.locks() == []

    moves = [
        r
        for proxy in proxies
        for r in proxy.requests
        if r.method == "POST" and r.path.endswith("registered-models/alias") and r.status == 200
    ]
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert audit.verify(log).ok
    assert len(log.records) == len(moves) == codes.count(0) >= 1  # one record per move, no more
    assert sorted(int(json.loads(m.body)["version"]) for m in moves) == sorted(r["to"] for r in log.records)
    history = run_promote(
        "history", clf, "--registry", mlflow_demo.uri, "--verify", cwd=tmp_path, env=clean_env()
    )
    assert history.code == 0, history.output


# -- a lost answer and a refused retry: re-read, then record or drop --------------------------------------


@pytest.mark.parametrize("kind", ["move", "removal", "deletion"])
def test_a_lost_answer_and_refused_retry_is_audited(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, kind: str
) -> None:
    clf = mlflow_demo.classifier
    reg = open_registry(recording_proxy.registry_uri)
    method, path = {
        "move": ("POST", "registered-models/alias"),
        "removal": ("DELETE", "registered-models/alias"),
        "deletion": ("DELETE", "model-versions/delete"),
    }[kind]
    recording_proxy.lose(method, path)  # the first attempt lands; its answer is lost
    recording_proxy.answer(method, path, 500, ERROR_500)  # the retry is refused
    if kind == "deletion":
        sealed = reg.delete_version(
            clf, 1, {"kind": "delete", "model": clf, "alias": None, "from": None, "to": None}
        )
        reg.close()  # a deletion keeps its lock for the next one until the registry is closed
        assert 1 not in [v.number for v in open_registry(mlflow_demo.uri).versions(clf)]
    else:
        op = AliasOp(clf, "staging", 4, 3 if kind == "move" else None)
        sealed = reg.apply([op], [body(op, "promote" if kind == "move" else "remove")])[0]
        assert mlflow_demo.aliases(clf).get("staging") == op.target
    assert any(r.lost for r in recording_proxy.requests)
    assert any(r.status == 500 for r in recording_proxy.requests)
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert audit.verify(log).ok
    assert [r["hash"] for r in log.records] == [sealed["hash"]]
    assert json.loads(mlflow_demo.tags(clf)["aliasgate.audit.head"])["hash"] == sealed["hash"]
    assert mlflow_demo.locks() == []


def test_a_refused_move_that_did_not_happen_leaves_no_record(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy
) -> None:
    clf = mlflow_demo.classifier
    recording_proxy.answer("POST", "registered-models/alias", 500, ERROR_500)  # never reaches MLflow
    op = AliasOp(clf, "staging", 4, 3)
    with pytest.raises(Exception, match="INTERNAL_ERROR"):
        open_registry(recording_proxy.registry_uri).apply([op], [body(op)])
    assert mlflow_demo.aliases(clf)["staging"] == 4
    assert open_registry(mlflow_demo.uri).audit_log(clf).records == []
    assert mlflow_demo.locks() == []


def test_an_unreadable_outcome_is_settled_by_its_own_holder(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy
) -> None:
    """Lost answer, refused retry, and the read-back fails too: the record stays written ahead; the
    holder settles it as soon as the server answers again instead of leaving it for the lease."""
    clf = mlflow_demo.classifier
    recording_proxy.lose("POST", "registered-models/alias")
    recording_proxy.answer("POST", "registered-models/alias", 500, ERROR_500)
    # The read-back (and its retries) fail; the settling that follows succeeds.
    recording_proxy.answer("GET", "registered-models/get", 500, ERROR_500, times=4, after=1)
    op = AliasOp(clf, "staging", 4, 3)
    with pytest.raises(Exception, match="did not confirm"):
        open_registry(recording_proxy.registry_uri).apply([op], [body(op)])
    assert mlflow_demo.aliases(clf)["staging"] == 3
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert audit.verify(log).ok
    assert [(r["from"], r["to"]) for r in log.records] == [(4, 3)]
    assert json.loads(mlflow_demo.tags(clf)["aliasgate.audit.head"])["seq"] == 1
    assert mlflow_demo.locks() == []  # settled at once, then released


# -- one 5xx on a lock poll, on the release, on a read ---------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    ["poll 500", "poll 500 after landing", "release 500", "release 500 after landing", "read 500"],
)
def test_one_5xx_costs_neither_the_job_nor_the_lease(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, tmp_path: Path, fault: str
) -> None:
    clf = mlflow_demo.classifier
    if fault == "poll 500":
        recording_proxy.answer("POST", "registered-models/create", 500, ERROR_500)
    elif fault == "poll 500 after landing":
        recording_proxy.lose("POST", "registered-models/create", status=500)
    elif fault == "release 500":
        recording_proxy.answer("DELETE", "registered-models/delete", 500, ERROR_500)
    elif fault == "release 500 after landing":
        recording_proxy.lose("DELETE", "registered-models/delete", status=500)
    else:
        recording_proxy.answer("GET", "registered-models/get", 500, ERROR_500, after=1)
    result = run_promote(
        "apply", "-p", str(take(tmp_path, clf, 3)), "--registry", recording_proxy.registry_uri,
        cwd=tmp_path, env=clean_env(),
    )  # fmt: skip
    assert result.code == 0, result.output
    assert any(r.status == 500 or r.lost for r in recording_proxy.requests), "the fault was not injected"
    assert mlflow_demo.aliases(clf)["production"] == 3
    assert mlflow_demo.locks() == []  # the job's lock did not outlive it
    log = open_registry(mlflow_demo.uri).audit_log(clf)
    assert audit.verify(log).ok and [(r["from"], r["to"]) for r in log.records] == [(2, 3)]


# -- an audit segment created with no answer -------------------------------------------------------------


@pytest.mark.parametrize("landed", [True, False])
def test_a_segment_created_without_answer_is_read_back(
    mlflow_demo: SeededDemo, recording_proxy: RecordingProxy, landed: bool
) -> None:
    clf = mlflow_demo.classifier
    if landed:
        recording_proxy.lose("POST", "registered-models/create", after=1)  # the lock first, then the segment
    else:
        recording_proxy.answer("POST", "registered-models/create", 502, "bad gateway", after=1)
    op = AliasOp(clf, "staging", 4, 3)
    sealed = open_registry(recording_proxy.registry_uri).apply([op], [body(op)])[0]
    assert open_registry(mlflow_demo.uri).audit_log(clf).records == [sealed]
    creates = [r for r in recording_proxy.requests if r.path.endswith("registered-models/create")]
    assert len(creates) == (2 if landed else 3)  # lock, segment (lost or refused), segment again if not made
    # Read back, never written into blindly (MLflow's auth app answers 403 for a missing model).
    assert "GET registered-models/get" in recording_proxy.calls()
    into_segment = [
        r
        for r in recording_proxy.requests
        if r.path.endswith("set-tag") and b'"name": "aliasgate-audit' in r.body
    ]
    assert into_segment == []
    assert mlflow_demo.locks() == []


# -- MLflow's grant sweep: a lock its creator may no longer delete ---------------------------------------


def test_a_lock_that_lost_its_grants_does_not_stall_waiters(
    mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """MLflow's basic-auth app deletes a deleted model's grants after the delete commits; a lock
    re-created in that moment loses its creator's MANAGE. Here the sweep is done by the admin
    while job A holds the lock: A cannot delete it, records the next generation, and job B, waiting,
    moves on long before the lock's lease ends."""
    server, clf = mlflow_auth_demo.server, mlflow_auth_demo.classifier
    account: Account = mlflow_auth_demo.accounts["EDIT"]
    for key, value in account.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PROMOTE_MLFLOW_LOCK_TTL", "30")
    with RecordingProxy(server.url) as proxy:
        held = proxy.hold("POST", "registered-models/alias")
        a, b = open_registry(proxy.registry_uri), open_registry(server.registry_uri)
        first, second = AliasOp(clf, "staging", 4, 3), AliasOp(clf, "staging", 3, 1)
        done: dict[str, float] = {}
        errors: list[BaseException] = []

        def run(reg: Registry, op: AliasOp, name: str) -> None:
            try:
                reg.apply([op], [body(op)])
            except BaseException as exc:
                errors.append(exc)
            done[name] = time.monotonic()

        ta = threading.Thread(target=run, args=(a, first, "a"))
        ta.start()
        assert held.reached.wait(60)
        server.revoke(account.username, lock_name(clf, 0))  # what the sweep leaves: no grant on the lock
        tb = threading.Thread(target=run, args=(b, second, "b"))
        tb.start()
        time.sleep(1.0)  # B is waiting on A's lock now
        held.release()
        ta.join(60)
        tb.join(60)
    assert errors == []
    assert done["b"] - done["a"] < 10, "the waiter sat out the lease"
    assert mlflow_auth_demo.aliases(clf)["staging"] == 1
    assert mlflow_auth_demo.tags(clf)[GEN_TAG] == "1"
    assert "Only an MLflow admin can delete" in capsys.readouterr().err
    log = open_registry(server.registry_uri).audit_log(clf)
    assert audit.verify(log).ok and [(r["from"], r["to"]) for r in log.records] == [(4, 3), (3, 1)]
    server.api("DELETE", "registered-models/delete", {"name": lock_name(clf, 0)})  # the admin tidies up


# -- stopping while only waiting --------------------------------------------------------------------------


def test_sigterm_while_waiting_for_the_lock_stops_at_once(mlflow_demo: SeededDemo, tmp_path: Path) -> None:
    clf, server = mlflow_demo.classifier, mlflow_demo.server
    name = lock_name(clf, 0)
    tags = {"aliasgate.lock.model": clf, "aliasgate.lock.token": "someone-else", "aliasgate.lock.ttl": "60"}
    server.api(
        "POST",
        "registered-models/create",
        {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]},
    )
    try:
        with RecordingProxy(server.url) as proxy:
            proc = subprocess.Popen(
                [PROMOTE, "apply", "-p", str(take(tmp_path, clf, 3)), "--registry", proxy.registry_uri],
                cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                r.path.endswith("registered-models/create") and r.status == 400 for r in proxy.requests
            ):
                time.sleep(0.1)  # until it found the lock taken and waits
            time.sleep(1.0)
            sent = time.monotonic()
            os.kill(proc.pid, signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            stopped = time.monotonic() - sent
    finally:
        server.api("DELETE", "registered-models/delete", {"name": name})
    assert stopped < 3, f"took {stopped:.1f} s to stop"
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert mlflow_demo.aliases(clf)["production"] == 2
    assert open_registry(mlflow_demo.uri).audit_log(clf).records == []


def test_conflict_is_still_reported_while_waiting(mlflow_demo: SeededDemo) -> None:
    """The waiter gives up after its wait with a Conflict naming the holder (unchanged)."""
    clf, server = mlflow_demo.classifier, mlflow_demo.server
    name = lock_name(clf, 0)
    tags = {"aliasgate.lock.owner": "ci@elsewhere", "aliasgate.lock.token": "x", "aliasgate.lock.ttl": "60"}
    server.api(
        "POST",
        "registered-models/create",
        {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]},
    )
    try:
        reg = MlflowRegistry(server.url, settings=Settings(lock_ttl=60.0, lock_wait=1.5))
        op = AliasOp(clf, "staging", 4, 3)
        with pytest.raises(Conflict, match="ci@elsewhere"):
            reg.apply([op], [body(op)])
    finally:
        server.api("DELETE", "registered-models/delete", {"name": name})


@pytest.mark.slow
def test_racing_threads_of_one_account_never_sit_out_a_lease(
    mlflow_auth_demo: SeededDemo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The race itself: one account, six registries in threads, creating and deleting one lock
    name against the basic-auth app. Whenever MLflow's sweep strips a re-created lock, its holder
    says so and the others move on: no move waits anywhere near the 40 s lease (a stalled waiter
    waits for all of it; six threads queueing on a loaded machine wait a few seconds each)."""
    server, clf = mlflow_auth_demo.server, mlflow_auth_demo.classifier
    for key, value in mlflow_auth_demo.accounts["EDIT"].env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PROMOTE_MLFLOW_LOCK_TTL", "40")
    waits: list[float] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def worker(targets: list[int]) -> None:
        reg = open_registry(server.registry_uri)
        for target in targets:
            while True:
                current = mlflow_auth_demo.aliases(clf)["staging"]
                op = AliasOp(clf, "staging", current, target)
                started = time.monotonic()
                try:
                    reg.apply([op], [body(op)])
                except Conflict:
                    continue  # another thread moved it meanwhile: read again
                except BaseException as exc:
                    with guard:
                        errors.append(exc)
                    return
                finally:
                    with guard:
                        waits.append(time.monotonic() - started)
                break

    threads = [threading.Thread(target=worker, args=([1, 2, 3] if i % 2 else [3, 2, 1],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    swept = capsys.readouterr().err.count("Only an MLflow admin can delete")
    with capsys.disabled():
        print(f"\ngrant sweeps seen: {swept}; moves {len(waits)}; longest {max(waits):.2f} s")
    assert errors == []
    assert max(waits) < 30, f"a move waited {max(waits):.1f} s"
    log = open_registry(server.registry_uri).audit_log(clf)
    assert audit.verify(log).ok and len(log.records) >= 18
    for name in mlflow_auth_demo.locks():  # locks the sweep left behind: the admin deletes them
        server.api("DELETE", "registered-models/delete", {"name": name})
