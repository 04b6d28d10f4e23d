"""MLflow on PostgreSQL with 4 server workers: racing ``promote apply`` judged on MLflow's own database.

SQLite serialises every write inside one server process and hides races; here four uvicorn
workers write to PostgreSQL concurrently. 32 jobs of one service account each promote their own
version onto ``production`` from what they saw at plan time. Whatever the interleaving:

* the audited moves form one linear chain (each starts where the previous left the alias) and
  ``promote history --verify`` passes;
* no lost update and no unaudited move: every job that exited 0 having applied has exactly one
  record, the records stored in PostgreSQL are exactly those of the chain, the alias in
  PostgreSQL is where the last record put it, and every holder a concurrent reader of
  PostgreSQL saw is one the chain names, in the chain's order, never none or two;
* losers exit 4 (conflict) or 0 with nothing to do, never anything else; no lock is left behind.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aliasgate.registry.mlflow.lock import GEN_TAG
from aliasgate.registry.mlflow.records import AUDIT_PREFIX, HEAD_TAG, SEGMENT_PREFIX
from aliasgate.registry.mlflow.records import records_in as _records_in
from aliasgate.seed import ModelSeed, VersionSeed
from tests.conftest import PROMOTE, clean_env, run_promote
from tests.mlflow_fixtures import unique_prefix
from tests.postgres_fixtures import XDIST_GROUP, unavailable
from tests.servers import mlflow_seed, postgres_server
from tests.servers.mlflow_server import MlflowServer
from tests.servers.postgres_server import PostgresCluster

JOBS = 32

POLICY = """\
version: 1
promotions:
  - name: race-{i}
    model: {model}
    from: v{v}
    to: production
    gates:
      - {{metric: score, min: 0}}
"""

# A reader of MLflow's database beside the jobs (psycopg from the server's own venv): prints the
# versions `production` is on, one line per change, until its stdin closes.
WATCHER = """\
import sys, threading, time, psycopg
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
last = None
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    while not done.is_set():
        rows = conn.execute(
            "SELECT version FROM registered_model_aliases WHERE name = %s AND alias = 'production'",
            (sys.argv[2],),
        ).fetchall()
        seen = sorted(r[0] for r in rows)
        if seen != last:
            print(seen, flush=True)
            last = seen
        time.sleep(0.01)
"""


def seed_model(server: MlflowServer, name: str) -> None:
    now = datetime.now(timezone.utc)
    versions = tuple(VersionSeed(n, now, metrics={"score": n}) for n in range(1, JOBS + 2))
    mlflow_seed.load(
        server, [ModelSeed(name, versions=versions, aliases={"production": 1})], metrics_in="tags"
    )


def db_records(pg: PostgresCluster, model: str) -> tuple[int, dict[int, dict[str, object]]]:
    """The chain head and every audit record of ``model`` as MLflow's database holds them."""
    rows = pg.query(
        "SELECT name, key, value FROM registered_model_tags WHERE name = '{m}' OR name LIKE '{p}%'".format(
            m=model, p=f"{SEGMENT_PREFIX}{model}."
        ),
        database="mlflow",
    )
    head = next(json.loads(v) for n, k, v in rows if n == model and k == HEAD_TAG)
    segments: dict[str, dict[str, str]] = {}
    for name, key, value in rows:
        if name != model and key.startswith(AUDIT_PREFIX):
            segments.setdefault(name, {})[key] = value
    records: dict[int, dict[str, object]] = {}
    for tags in segments.values():
        for seq, record in _records_in(tags):
            assert seq not in records, f"seq {seq} stored twice"
            records[seq] = record
    return int(head["seq"]), records


def test_without_postgres_and_root_the_tests_skip_with_the_reason_but_ci_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres_server, "find_bindir", lambda: None)
    monkeypatch.setattr(postgres_server.os, "geteuid", lambda: 1000)
    with pytest.raises(postgres_server.PostgresUnavailable, match="needs root") as exc:
        postgres_server.ensure_postgres()
    with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL unavailable: .*needs root"):
        unavailable(str(exc.value), in_ci=False)
    with pytest.raises(pytest.fail.Exception, match=r"CI=true and PostgreSQL is unavailable: .*needs root"):
        unavailable(str(exc.value), in_ci=True)
    monkeypatch.setattr(postgres_server.os, "geteuid", lambda: 0)
    monkeypatch.setattr(postgres_server.shutil, "which", lambda name: None)
    with pytest.raises(postgres_server.PostgresUnavailable, match="no apt-get"):
        postgres_server.ensure_postgres()


@pytest.mark.mlflow
@pytest.mark.slow
@XDIST_GROUP
def test_32_racing_applies_on_postgres_with_4_workers_form_a_linear_chain(
    mlflow_pg_server: MlflowServer, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    server, pg = mlflow_pg_server, postgres_cluster
    model = unique_prefix() + "race"
    seed_model(server, model)
    account = server.create_user(unique_prefix() + "svc-release")
    server.grant(account.username, model, "EDIT")  # moving an alias needs EDIT, no more
    policies = []
    for i in range(JOBS):
        p = tmp_path / f"p{i}.yaml"
        p.write_text(POLICY.format(i=i, model=model, v=i + 2))
        policies.append(p)

    watcher = subprocess.Popen(
        [str(server.python), "-c", WATCHER, pg.uri("mlflow"), model],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    env = clean_env(PROMOTE_REGISTRY=server.registry_uri, **account.env())
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [PROMOTE, "apply", "-p", str(p)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in policies
    ]
    results = [(proc.wait(timeout=300), *proc.communicate()) for proc in procs]
    elapsed = time.monotonic() - started
    observed, _ = watcher.communicate("", timeout=30)

    codes = [code for code, _, _ in results]
    assert set(codes) <= {0, 4}, [(c, e[-600:]) for c, _, e in results if c not in (0, 4)]
    winners = sorted(
        f"race-{i}" for i, (code, out, _) in enumerate(results) if code == 0 and "applied race-" in out
    )
    for code, out, _ in results:
        if code == 4:
            # lost the race, or waited out the lock wait (a holder stalled by a lease) - both conflicts
            assert "conflict race-" in out and ("moved: expected it on" in out or "gave up after" in out), out

    history = run_promote(
        "history", model, "-r", server.registry_uri, "--verify", "--json", cwd=tmp_path, env=env
    )
    assert history.code == 0, history.output
    assert json.loads(history.stdout)["verification"]["ok"] is True
    chain = list(reversed(json.loads(history.stdout)["records"]))  # oldest first
    moves = [r for r in chain if r["kind"] == "promote"]
    print(f"{len(winners)} of {JOBS} won in {elapsed:.1f} s; chain {[r['to'] for r in moves]}")

    # one record per reported success, and vice versa; each move starts where the previous one left it
    assert sorted(r["rule"] for r in moves) == winners and len(winners) >= 1
    holder = 1
    for r in moves:
        assert r["from"] == holder, (r["from"], holder)
        holder = r["to"]

    # judged on PostgreSQL itself: the alias, the stored records, no lock left
    alias = pg.query(
        f"SELECT version FROM registered_model_aliases WHERE name = '{model}' AND alias = 'production'",
        database="mlflow",
    )
    assert alias == [[str(holder)]]
    head, stored = db_records(pg, model)
    assert head == len(chain) and sorted(stored) == list(range(1, head + 1))  # nothing written past the head
    assert [(stored[s]["rule"], stored[s]["from"], stored[s]["to"]) for s in sorted(stored)] == [
        (r["rule"], r["from"], r["to"]) for r in chain
    ]
    locks = [name for (name,) in pg.query(
        f"SELECT name FROM registered_models WHERE name LIKE 'aliasgate-lock.{model}.%'", database="mlflow"
    )]  # fmt: skip
    gen = pg.query(
        f"SELECT value FROM registered_model_tags WHERE name = '{model}' AND key = '{GEN_TAG}'",
        database="mlflow",
    )
    current = int(gen[0][0]) if gen else 0
    # the only lock that may stay is one MLflow's auth app swept the grants of: a past generation, that
    # its holder reported and stepped over (docs/security.md, Locks); never the current generation's
    assert all(int(name.rsplit(".", 1)[1]) < current for name in locks), (locks, current)
    if locks:
        assert any("removed this account's permissions on its own lock" in err for _, _, err in results)

    # a reader of the database never saw the alias on none or two versions, nor on one no record names
    seen = [json.loads(line) for line in observed.splitlines()]
    assert seen and all(len(s) == 1 for s in seen), seen
    order = [1, *(r["to"] for r in moves)]
    assert all(s[0] in order for s in seen), (seen, order)
    positions = [order.index(s[0]) for s in seen]
    assert positions == sorted(positions) and seen[-1] == [holder]
