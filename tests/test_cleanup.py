"""`promote cleanup` on the embedded registry: the plan, the deletions, their audit records,
the deletion cap, the alias re-check, retries, bounded parallelism and interruption.

The scenario (tests/cleanup_scenario.py) has 285 versions in four models with aliases,
lineage within and across models, a model without any rule, and ages spread across the TTLs;
its oracle says what must go. The same scenario runs on MLflow and the W&B double in
test_cleanup_mlflow.py and test_cleanup_wandb.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aliasgate import api, audit, retention
from aliasgate import cleanup as engine
from aliasgate.errors import AuthError, Conflict, NotFound, RegistryError
from aliasgate.model import AliasOp, Move, VersionId, utcnow
from aliasgate.registry.local import LocalRegistry
from aliasgate.seed import ModelSeed
from tests import cleanup_scenario as sc
from tests.conftest import PROMOTE, clean_env


@dataclass
class Scenario:
    path: Path
    db: Path
    policy: Path
    models: list[ModelSeed]
    expected: set[VersionId]

    @property
    def uri(self) -> str:
        return f"local:{self.db}"

    def registry(self) -> LocalRegistry:
        return LocalRegistry(self.db)


def _seeded(tmp_path: Path, cli: Any, models: list[ModelSeed], policy: str) -> Scenario:
    seed = sc.write_seed(models, tmp_path / "seed.yaml")
    db = tmp_path / "registry.db"
    run = cli("registry", "import", str(seed), "--registry", f"local:{db}")
    assert run.code == 0, run.output
    pol = tmp_path / "retention.yaml"
    pol.write_text(policy, encoding="utf-8")
    return Scenario(tmp_path, db, pol, models, set())


@pytest.fixture
def scenario(tmp_path: Path, cli: Any) -> Scenario:
    now = utcnow()
    models = sc.build(now)
    s = _seeded(tmp_path, cli, models, sc.POLICY)
    s.expected = sc.expected_deletions(models, now)
    return s


def live(reg: Any) -> set[VersionId]:
    return {v.id for m in reg.models() for v in reg.versions(m)}


def deletion_records(reg: Any) -> dict[VersionId, list[Mapping[str, Any]]]:
    out: dict[VersionId, list[Mapping[str, Any]]] = {}
    for m in reg.models():
        log = reg.audit_log(m)
        assert audit.verify(log).ok, audit.verify(log)
        for r in log.records:
            if r.get("kind") == "delete":
                out.setdefault(VersionId(m, int(r["version"])), []).append(r)
    return out


def planned(data: Mapping[str, Any]) -> set[VersionId]:
    return {VersionId(v["model"], v["version"]) for v in data["plan"]["versions"] if v["verdict"] == "delete"}


# -- the scenario through the CLI ---------------------------------------------------------------


def test_dry_run_lists_exactly_the_expected_set_and_changes_nothing(scenario: Scenario, cli: Any) -> None:
    before = live(scenario.registry())
    run = cli(
        "cleanup",
        "-p",
        str(scenario.policy),
        "-r",
        scenario.uri,
        "--dry-run",
        "--json",
        "--max-deletions",
        "500",
    )
    assert run.code == 0, run.output
    data = json.loads(run.stdout)
    assert len(scenario.expected) == 118  # the scenario is what it claims to be
    assert planned(data) == scenario.expected
    assert data["plan"]["summary"] == {"models": 3, "versions": 255, "delete": 118, "keep": 137}
    assert data["result"]["dry_run"] is True and data["result"]["outcomes"] == []
    assert live(scenario.registry()) == before
    assert deletion_records(scenario.registry()) == {}


def test_apply_deletes_exactly_the_expected_set_each_audited(scenario: Scenario, cli: Any) -> None:
    before = live(scenario.registry())
    run = cli("cleanup", "-p", str(scenario.policy), "-r", scenario.uri, "--max-deletions", "118")
    assert run.code == 0, run.output
    after = live(scenario.registry())
    assert before - after == scenario.expected
    # Nothing with an alias, nothing a surviving version was derived from.
    assert not (before - after) & sc.aliased_versions(scenario.models)
    inputs = sc.inputs_of(scenario.models)
    assert all(i in after for v in after for i in inputs[v])
    # One audit record per deletion, with who, when, git, rule and reason; chains intact.
    records = deletion_records(scenario.registry())
    assert set(records) == scenario.expected
    assert all(len(r) == 1 for r in records.values())
    rec = records[min(scenario.expected)][0]
    assert rec["alias"] is None and rec["from"] == rec["version"] and rec["to"] is None
    assert rec["principal"]["name"] and rec["host"] and rec["at"].endswith("Z") and "git" in rec
    assert rec["rule"] and rec["reason"] and rec["policy"]["sha256"]
    assert "Cleanup: 118 deleted of 118 planned; exit 0." in run.stdout
    # Progress when piped: one plain line per deletion on stderr.
    assert run.stderr.count("deleted ") == 118
    # A second run finds nothing more to delete.
    again = cli("cleanup", "-p", str(scenario.policy), "-r", scenario.uri, "--json")
    assert again.code == 0 and planned(json.loads(again.stdout)) == set()


def test_the_plan_lists_every_version_with_its_reasons(scenario: Scenario, cli: Any) -> None:
    run = cli(
        "cleanup", "-p", str(scenario.policy), "-r", scenario.uri, "--dry-run", "--max-deletions", "500"
    )
    assert run.code == 0, run.output
    lines = run.stdout.splitlines()
    row = next(line for line in lines if line.startswith("v40 ") and "production" in line)
    assert "keep" in row and "holds production (protect: *)" in row
    row = next(line for line in lines if line.startswith("v20 ") and "top 3 by val_f1" in line)
    assert "#1 (val_f1 = 0.97)" in row
    assert "Cleanup: 118 to delete, 137 to keep, in 3 model(s)." in run.stdout
    assert "Dry run: would delete 118 version(s); nothing sent." in run.stdout


def test_the_default_deletion_cap_aborts_before_the_first_deletion(scenario: Scenario, cli: Any) -> None:
    before = live(scenario.registry())
    run = cli("cleanup", "-p", str(scenario.policy), "-r", scenario.uri)
    assert run.code == 3, run.output
    assert "118 deletions planned, more than --max-deletions 100: nothing deleted" in run.stdout
    assert "--max-deletions 118" in run.stdout
    assert live(scenario.registry()) == before
    assert deletion_records(scenario.registry()) == {}
    # The dry run says the same, so CI can catch a policy mistake before it runs for real.
    assert cli("cleanup", "-p", str(scenario.policy), "-r", scenario.uri, "--dry-run").code == 3
    low = cli("cleanup", "-p", str(scenario.policy), "-r", scenario.uri, "--max-deletions", "117", "--json")
    assert low.code == 3 and json.loads(low.stdout)["result"]["outcomes"] == []


def test_model_glob_limits_the_run(scenario: Scenario, cli: Any) -> None:
    run = cli("cleanup", "-p", str(scenario.policy), "-r", scenario.uri, "--model", "feat", "--json")
    assert run.code == 0, run.output
    gone = {VersionId(o["model"], o["version"]) for o in json.loads(run.stdout)["result"]["outcomes"]}
    assert gone == {v for v in scenario.expected if v.model == "feat"}


def test_history_shows_the_deletions(scenario: Scenario, cli: Any) -> None:
    assert cli("cleanup", "-p", str(scenario.policy), "-r", scenario.uri, "--model", "feat").code == 0
    run = cli("history", "feat", "-r", scenario.uri, "--verify")
    assert run.code == 0, run.output
    assert run.stdout.count(" delete ") == 15 and "features" in run.stdout


def test_bad_input_exits_2(scenario: Scenario, cli: Any, tmp_path: Path) -> None:
    no_rules = tmp_path / "aliasgate.yaml"
    no_rules.write_text("version: 1\npromotions: []\n", encoding="utf-8")
    run = cli("cleanup", "-p", str(no_rules), "-r", scenario.uri)
    assert run.code == 2 and "has no `retention:` rules" in run.stderr
    run = cli("cleanup", "-p", str(scenario.policy), "-r", scenario.uri, "--parallel", "0")
    assert run.code == 2 and "--parallel" in run.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nretention:\n  - {model: m, ttl: soon}\n", encoding="utf-8")
    run = cli("cleanup", "-p", str(bad), "-r", scenario.uri)
    assert run.code == 2 and "bad.yaml:3:" in run.stderr and "$.retention[0].ttl" in run.stderr
    assert deletion_records(scenario.registry()) == {}


# -- execution through the api, with registries that misbehave on cue --------------------------------


class Wrapped:
    """A real LocalRegistry whose delete_version runs ``hook`` first (to fail, block or count).

    It has no batch method, so cleanup deletes through it one version at a time: the path of
    backends without ``delete_versions`` (W&B)."""

    delete_versions = None  # hides LocalRegistry's batch method

    def __init__(self, inner: LocalRegistry, hook: Callable[[str, int], None]) -> None:
        self._inner = inner
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        self._hook(model, number)
        return self._inner.delete_version(model, number, record)


def _session(reg: Any) -> api.Session:
    return api.Session(reg, reg.whoami())


def _small(tmp_path: Path, cli: Any, models: int = 3, per_model: int = 6) -> Scenario:
    """``models`` models m0.. with ``per_model`` old versions each; all but the newest go."""
    now = utcnow()
    from datetime import timedelta

    from aliasgate.seed import VersionSeed

    seeds = [
        ModelSeed(
            f"m{i}",
            versions=tuple(
                VersionSeed(number=n, created_at=now - timedelta(days=100 - n))
                for n in range(1, per_model + 1)
            ),
        )
        for i in range(models)
    ]
    s = _seeded(tmp_path, cli, seeds, "version: 1\nretention:\n  - {model: 'm*', ttl: 30d}\n")
    s.expected = {VersionId(f"m{i}", n) for i in range(models) for n in range(1, per_model)}
    return s


def _plan(s: Scenario, reg: Any) -> retention.CleanupPlan:
    plan = api.cleanup_plan(api.load(s.policy), _session(reg))
    assert isinstance(plan, retention.CleanupPlan)
    return plan


def test_a_version_deleted_by_someone_else_is_reported_gone_without_a_record(
    tmp_path: Path, cli: Any
) -> None:
    s = _small(tmp_path, cli, models=1)
    reg = s.registry()
    plan = _plan(s, reg)
    reg.delete_version("m0", 3, {"kind": "delete", "model": "m0", "alias": None, "version": 3, "by": "other"})
    result = api.cleanup(_session(reg), plan)
    gone = [o for o in result.outcomes if o.status == engine.GONE]
    assert [(o.model, o.number) for o in gone] == [("m0", 3)]
    assert [r["by"] for r in deletion_records(reg)[VersionId("m0", 3)]] == ["other"]
    assert result.exit_code == 0


def test_transient_errors_are_retried_and_persistent_ones_fail_the_run(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=2)
    failures = {("m0", 2): 1, ("m1", 4): 99}

    def flaky(model: str, number: int) -> None:
        if failures.get((model, number), 0) > 0:
            failures[(model, number)] -= 1
            raise RegistryError("HTTP 503 Service Unavailable", model=model, version=number)

    reg = Wrapped(s.registry(), flaky)
    plan = _plan(s, reg)
    result = engine.execute(
        reg, plan, api.provenance(_session(reg), None, None), now=utcnow,  # type: ignore[arg-type]
        options=engine.Options(retries=2, backoff=0.001),
    )  # fmt: skip
    outcome = {(o.model, o.number): o for o in result.outcomes}
    assert outcome[("m0", 2)].status == engine.DELETED and outcome[("m0", 2)].attempts == 2
    assert outcome[("m1", 4)].status == engine.FAILED and outcome[("m1", 4)].attempts == 3
    assert "m1:v4: HTTP 503" in outcome[("m1", 4)].message
    assert result.count(engine.DELETED) == len(s.expected) - 1  # the rest went on
    assert result.exit_code == 1
    assert set(deletion_records(s.registry())) == s.expected - {VersionId("m1", 4)}


def test_a_permission_error_stops_the_run(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=1)

    def refuse(model: str, number: int) -> None:
        raise AuthError(f"svc lacks MANAGE permission on registered model {model!r}")

    reg = Wrapped(s.registry(), refuse)
    result = api.cleanup(_session(reg), _plan(s, reg), parallel=1)
    assert [o.status for o in result.outcomes] == [engine.FAILED] + [engine.NOT_STARTED] * 4
    assert result.stopped is not None and "lacks MANAGE" in result.stopped
    assert result.exit_code == 1
    assert deletion_records(s.registry()) == {}


def test_parallelism_is_bounded_and_one_deletion_per_model_at_a_time(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=4, per_model=5)
    lock = threading.Lock()
    in_flight: dict[str, int] = {}
    peak = {"total": 0, "model": 0}
    both = threading.Barrier(2, timeout=30)  # the first two deletions must overlap, or this breaks
    first_two = [0]

    def count(model: str, number: int) -> None:
        with lock:
            in_flight[model] = in_flight.get(model, 0) + 1
            peak["total"] = max(peak["total"], sum(in_flight.values()))
            peak["model"] = max(peak["model"], in_flight[model])
            first_two[0] += 1
            mine = first_two[0]
        if mine <= 2:
            both.wait()
        with lock:
            in_flight[model] -= 1

    reg = Wrapped(s.registry(), count)
    result = api.cleanup(_session(reg), _plan(s, reg), parallel=2)
    assert result.count(engine.DELETED) == 16
    assert peak == {"total": 2, "model": 1}


def test_a_stop_lets_in_flight_deletions_finish_with_their_records_and_starts_no_more(
    tmp_path: Path, cli: Any
) -> None:
    s = _small(tmp_path, cli, models=3, per_model=6)
    release = threading.Event()
    started: list[tuple[str, int]] = []
    three = threading.Barrier(4, timeout=30)

    def hold(model: str, number: int) -> None:
        started.append((model, number))
        if len(started) <= 3:
            three.wait()  # the test thread joins as the fourth party once all three are in flight
            release.wait(30)

    reg = Wrapped(s.registry(), hold)
    stop = threading.Event()

    def interrupt() -> None:
        three.wait()
        stop.set()  # what the SIGTERM handler does
        release.set()

    t = threading.Thread(target=interrupt)
    t.start()
    result = api.cleanup(_session(reg), _plan(s, reg), parallel=3, stop=stop)
    t.join()
    deleted = {(o.model, o.number) for o in result.outcomes if o.status == engine.DELETED}
    assert deleted == set(started) and len(deleted) == 3
    assert result.count(engine.NOT_STARTED) == 15 - 3
    assert {(v.model, v.number) for v in deletion_records(s.registry())} == deleted
    assert live(s.registry()) == {VersionId(f"m{i}", n) for i in range(3) for n in range(1, 7)} - {
        VersionId(m, n) for m, n in deleted
    }
    assert result.stopped == "stopped by request" and result.exit_code == 1


def test_unprotected_aliases_are_removed_audited_before_the_version_goes(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=1)
    reg = s.registry()
    for alias, n in (("production", 2), ("old-ab", 3)):
        reg.apply([Move(AliasOp("m0", alias, None, n), {"kind": "manual", "model": "m0", "alias": alias})])
    s.policy.write_text(
        "version: 1\nretention:\n  - {model: 'm*', ttl: 30d, protect: [prod*]}\n", encoding="utf-8"
    )
    run = cli("cleanup", "-p", str(s.policy), "-r", s.uri, "--json")
    assert run.code == 0, run.output
    assert VersionId("m0", 2) in live(reg) and VersionId("m0", 3) not in live(reg)
    log = reg.audit_log("m0").records
    removal = next(r for r in log if r.get("kind") == "remove")
    assert (removal["alias"], removal["from"], removal["to"]) == ("old-ab", 3, None)
    deletion = next(r for r in log if r.get("kind") == "delete" and r["version"] == 3)
    assert deletion["aliases_removed"] == ["old-ab"] and deletion["seq"] > removal["seq"]  # removed first
    assert reg.aliases("m0") == {"production": 2}


# -- batches: the embedded registry's transaction, and what cleanup does with a batch cut short ----------


def test_the_embedded_registry_deletes_a_batch_in_one_transaction(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=1)
    reg = s.registry()
    reg.apply([Move(AliasOp("m0", "hotfix", None, 3), {"kind": "manual", "model": "m0", "alias": "hotfix"})])
    bodies = [{"kind": "delete", "model": "m0", "alias": None, "version": n} for n in (1, 3, 4, 9)]
    results = reg.delete_versions("m0", [1, 3, 4, 9], bodies)
    assert [r["seq"] for r in (results[0], results[2])] == [2, 3]  # #1 is the hotfix alias
    assert isinstance(results[1], Conflict) and "holds hotfix now" in str(results[1])
    assert isinstance(results[3], NotFound)
    assert set(deletion_records(reg)) == {VersionId("m0", 1), VersionId("m0", 4)}
    # All or nothing: a failure inside the transaction deletes nothing and records nothing.
    import sqlite3

    with sqlite3.connect(s.db) as conn:
        conn.execute(
            "CREATE TRIGGER boom BEFORE DELETE ON versions WHEN old.number = 5 "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    with pytest.raises(Exception, match="boom"):
        reg.delete_versions("m0", [2, 5], [{"kind": "delete", "model": "m0", "version": n} for n in (2, 5)])
    assert {VersionId("m0", 2), VersionId("m0", 5)} <= live(reg)
    assert set(deletion_records(reg)) == {VersionId("m0", 1), VersionId("m0", 4)}


class Batching:
    """A real LocalRegistry behind a batch method that does what a remote backend's may: stop
    part-way (what follows comes back as None, to be sent again), or end at an error.

    ``hook(model, number)`` runs before each deletion: it returns "cut" to stop there, raises
    to end the batch with that error for this version, or returns None to go on. ``cut_after``
    stops every call after that many deletions."""

    def __init__(
        self,
        inner: LocalRegistry,
        size: int,
        hook: Callable[[str, int], str | None] = lambda model, number: None,
        *,
        cut_after: int | None = None,
    ) -> None:
        self._inner = inner
        self.delete_batch = size
        self._hook = hook
        self._cut_after = cut_after
        self.calls: list[tuple[str, list[int]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def delete_versions(self, model: str, numbers: list[int], records: list[Mapping[str, Any]]) -> list[Any]:
        self.calls.append((model, list(numbers)))
        results: list[Any] = [None] * len(numbers)
        for i, (number, record) in enumerate(zip(numbers, records, strict=True)):
            try:
                if self._hook(model, number) == "cut" or i == self._cut_after:
                    break
                results[i] = self._inner.delete_version(model, number, record)
            except Exception as exc:
                results[i] = exc
                break
        return results


def _run(
    reg: Any, s: Scenario, plan: retention.CleanupPlan | None = None, **options: Any
) -> engine.CleanupResult:
    stop = options.pop("stop", None)
    return engine.execute(
        reg, plan or _plan(s, reg), api.provenance(_session(reg), None, None), now=utcnow,
        options=engine.Options(backoff=0.001, **options), stop=stop,
    )  # fmt: skip


def test_what_a_batch_did_not_reach_is_sent_again_until_done(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=2, per_model=8)
    reg = Batching(s.registry(), 4, cut_after=2)
    result = _run(reg, s, parallel=2)
    assert result.exit_code == 0 and result.count(engine.DELETED) == len(s.expected) == 14
    assert all(o.attempts == 1 for o in result.outcomes)  # being sent again is not a retry
    assert all(len(numbers) <= 4 for _, numbers in reg.calls) and len(reg.calls) == 8  # 4 per model
    records = deletion_records(s.registry())
    assert set(records) == s.expected and all(len(r) == 1 for r in records.values())
    for model in ("m0", "m1"):  # each model's versions went oldest first
        assert [r["version"] for r in s.registry().audit_log(model).records] == list(range(1, 8))


def test_errors_inside_a_batch_are_retried_or_reported_per_version(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=1, per_model=8)
    failures = {2: 1, 5: 99}
    inner = s.registry()
    plan = _plan(s, inner)
    inner.apply(
        [Move(AliasOp("m0", "hotfix", None, 4), {"kind": "manual", "model": "m0", "alias": "hotfix"})]
    )

    def flaky(model: str, number: int) -> None:
        if failures.get(number, 0) > 0:
            failures[number] -= 1
            raise RegistryError("HTTP 503 Service Unavailable", model=model, version=number)

    reg = Batching(inner, 50, flaky)
    result = _run(reg, s, plan, retries=2)
    outcome = {o.number: o for o in result.outcomes}
    assert (outcome[2].status, outcome[2].attempts) == (engine.DELETED, 2)
    assert (outcome[5].status, outcome[5].attempts) == (engine.FAILED, 3) and "HTTP 503" in outcome[5].message
    assert outcome[4].status == engine.SKIPPED and "holds hotfix now" in outcome[4].message  # since planning
    assert {n for n, o in outcome.items() if o.status == engine.DELETED} == {1, 2, 3, 6, 7}
    assert result.exit_code == 1
    assert {v.number for v in deletion_records(s.registry())} == {1, 2, 3, 6, 7}


def test_a_permission_error_inside_a_batch_stops_the_run(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=2)

    def refuse(model: str, number: int) -> None:
        if (model, number) == ("m0", 3):
            raise AuthError(f"svc lacks MANAGE permission on registered model {model!r}")

    reg = Batching(s.registry(), 50, refuse)
    result = _run(reg, s, parallel=1)
    status = {(o.model, o.number): o.status for o in result.outcomes}
    assert [status[("m0", n)] for n in range(1, 6)] == [
        "deleted",
        "deleted",
        "failed",
        "not-started",
        "not-started",
    ]
    assert {status[("m1", n)] for n in range(1, 6)} == {"not-started"}
    assert result.stopped is not None and "lacks MANAGE" in result.stopped and result.exit_code == 1
    assert set(deletion_records(s.registry())) == {VersionId("m0", 1), VersionId("m0", 2)}


def test_a_stop_lets_the_batches_in_flight_finish_and_sends_nothing_more(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=2, per_model=7)
    stop = threading.Event()

    def cut_then_stop(model: str, number: int) -> str | None:
        if number == 2:
            stop.set()  # what the SIGTERM handler does, while this batch is at work
        return "cut" if number == 3 else None  # the rest of this batch would be sent again...

    reg = Batching(s.registry(), 4, cut_then_stop)
    result = _run(reg, s, parallel=1, stop=stop)
    deleted = {(o.model, o.number) for o in result.outcomes if o.status == engine.DELETED}
    assert deleted == {("m0", 1), ("m0", 2)} and reg.calls == [("m0", [1, 2, 3, 4])]  # ... but is not
    assert result.count(engine.NOT_STARTED) == 12 - 2
    assert {(v.model, v.number) for v in deletion_records(s.registry())} == deleted
    assert result.stopped == "stopped by request" and result.exit_code == 1


# -- a real process, really interrupted ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_leaves_a_record_for_every_deletion_and_none_for_the_rest(
    tmp_path: Path, sig: signal.Signals
) -> None:
    from datetime import timedelta

    reg = LocalRegistry(tmp_path / "big.db", create=True)
    old = (utcnow() - timedelta(days=100)).isoformat()
    for i in range(4):
        for _ in range(500):
            reg.log_version(f"big{i}", created_at=old, created_by="trainer")
    before = live(reg)
    policy = tmp_path / "retention.yaml"
    policy.write_text("version: 1\nretention:\n  - {model: 'big*', ttl: 30d}\n", encoding="utf-8")
    stdout = (tmp_path / "stdout.txt").open("w+", encoding="utf-8")  # a file: the plan is long
    proc = subprocess.Popen(
        [PROMOTE, "cleanup", "-p", str(policy), "-r", f"local:{reg.path}", "--max-deletions", "5000",
         "--parallel", "2"],
        env=clean_env(), stdout=stdout, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # piped: one line per finished deletion
        if line.startswith("deleted "):
            proc.send_signal(sig)
            break
    _, rest = proc.communicate(timeout=120)
    stdout.seek(0)
    out = stdout.read()
    stdout.close()
    assert proc.returncode == 128 + sig, out + rest
    assert f"stopped: stopped by {sig.name}" in out
    gone = before - live(reg)
    records = deletion_records(reg)
    assert set(records) == gone  # a record for every deletion that happened, none for any other
    assert all(len(r) == 1 for r in records.values())
    assert 0 < len(gone) < 1996  # it really stopped mid-run
    assert f"{len(gone)} deleted" in out and "not-started" in out


def test_signals_are_restored_after_the_run(tmp_path: Path, cli: Any) -> None:
    s = _small(tmp_path, cli, models=1)
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    reg = s.registry()
    api.cleanup(_session(reg), _plan(s, reg))
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


_SIGNAL_WHILE_WAITING = """
import os, signal, sys
from aliasgate import interrupt
with interrupt.deferred() as flag:
    with flag._cond:  # where the main thread is inside the flag's own wait() when the signal lands
        os.kill(os.getpid(), signal.SIGTERM)
    assert flag.wait(5) and flag.signal == signal.SIGTERM
print("ok")
"""


def test_a_signal_landing_inside_the_stop_flags_own_wait_does_not_deadlock() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_WAITING], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


def test_a_stop_the_run_asked_for_itself_is_not_a_signal_and_a_later_first_signal_is_not_fatal() -> None:
    from aliasgate import interrupt

    with interrupt.deferred() as flag:
        flag.set()  # what the engine does on a permission error
        assert flag.requested and flag.signal is None
        os.kill(os.getpid(), signal.SIGTERM)  # only recorded: the first signal never raises
        assert flag.signal == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # a second signal stops at once
    with pytest.raises(RuntimeError):
        interrupt.NEVER.set()  # the shared never-set flag cannot be set by accident
    assert not interrupt.NEVER()


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_when_piped(tmp_path: Path, cli: Any) -> None:
    import pty

    from aliasgate import render

    assert render.cleanup_progress_bar(12, 40, {"deleted": 11, "skipped": 1, "failed": 0}, width=10) == (
        "[###.......] 12/40  deleted 11, skipped 1"
    )
    s = _small(tmp_path, cli, models=2, per_model=4)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [PROMOTE, "cleanup", "-p", str(s.policy), "-r", s.uri],
        env=clean_env(TERM="xterm"), stdout=subprocess.PIPE, stderr=slave, text=True,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data.decode())
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    terminal = "".join(chunks)
    assert proc.returncode == 0, out + terminal
    assert "\r[" in terminal and "] 6/6  deleted 6" in terminal  # redrawn in place, on stderr
    assert "deleted m0:v1" not in terminal  # no per-deletion lines on a terminal
    assert "Cleanup: 6 deleted of 6 planned; exit 0." in out
