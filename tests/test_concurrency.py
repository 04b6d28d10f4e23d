"""16 `promote apply` processes race on one alias of one embedded registry.

Each process promotes a different version onto `production`. Whatever the
interleaving: the audited moves form one linear chain (each starts where the
previous left the alias), every process that reported success has its record,
no update is lost, the alias is never on two versions or none, and losers
exit 4 (conflict) or 0 with nothing to do — never 1.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from aliasgate.model import AliasOp, Move
from aliasgate.registry.local import LocalRegistry
from tests.conftest import PROMOTE, clean_env

N = 16

POLICY = """\
version: 1
promotions:
  - name: race-{i}
    model: m
    from: v{v}
    to: production
    gates:
      - {{metric: score, min: 0}}
"""


@pytest.mark.slow
def test_sixteen_processes_form_a_linear_chain(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    reg = LocalRegistry(db, create=True)
    for i in range(N + 1):
        reg.log_version("m", metrics={"score": i})
    reg.apply(
        [
            Move(
                AliasOp("m", "production", None, 1),
                {"kind": "manual", "model": "m", "alias": "production", "from": None, "to": 1},
            )
        ]
    )
    policies = []
    for i in range(N):
        p = tmp_path / f"p{i}.yaml"
        p.write_text(POLICY.format(i=i, v=i + 2))
        policies.append(p)

    observed: list[object] = []
    stop = threading.Event()

    def watch() -> None:
        conn = sqlite3.connect(db)
        while not stop.is_set():
            rows = conn.execute("SELECT number FROM aliases WHERE alias = 'production'").fetchall()
            observed.append(len(rows))
            time.sleep(0.002)
        conn.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    env = clean_env(PROMOTE_REGISTRY=f"local:{db}", PROMOTE_PRINCIPAL="racer")
    procs = [
        subprocess.Popen(
            [PROMOTE, "apply", "-p", str(p)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in policies
    ]
    results = [(proc.wait(timeout=180), *proc.communicate()) for proc in procs]
    stop.set()
    watcher.join()

    codes = [code for code, _, _ in results]
    assert set(codes) <= {0, 4}, [(c, e) for c, _, e in results if c not in (0, 4)]
    winners = [i for i, (code, out, _) in enumerate(results) if code == 0 and "applied race-" in out]
    records = [r for r in reg.audit_log("m").records if r["kind"] == "promote"]

    # one record per reported success, and vice versa
    assert sorted(r["rule"] for r in records) == sorted(f"race-{i}" for i in winners)
    assert len(records) >= 1
    print(f"{len(winners)} of {N} won; chain {[r['to'] for r in records]}")
    # a linear chain: each move starts from the holder the previous one left
    holder = 1
    for r in records:
        assert r["from"] == holder, (r["from"], holder)
        holder = r["to"]
    # no lost update: the alias is where the last audited move put it
    assert reg.aliases("m")["production"] == holder
    # never on two versions or none, as seen by a concurrent reader
    assert observed and set(observed) == {1}
    # losers lost to a conflict, reported as such
    for code, out, _ in results:
        if code == 4:
            assert "conflict race-" in out and "moved: expected it on" in out
