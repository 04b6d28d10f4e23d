"""Cleanup in the demo: examples/cleanup.yaml really deletes some of the demo registry, and its dry
run says what goes and why each survivor stays (the quick start's walkthrough runs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from aliasgate import audit
from aliasgate.model import VersionId
from tests.conftest import EXAMPLES, PROMOTE, clean_env

#: the quick start with the cleanup dry run, exactly as the README gives it (run from examples/)
QUICK_START = [
    "registry import --replace demo-registry.yaml",
    "cleanup --dry-run -p cleanup.yaml",
    "--dry-run",
    "apply",
    "history bert-classifier --verify",
]
GOES = {VersionId("bert-classifier", 1), VersionId("bert-classifier", 3)}
DEMO = {VersionId("bert-classifier", n) for n in (1, 2, 3, 4)} | {
    VersionId("bert-tokenizer", n) for n in (1, 2)
}


def test_quick_start_is_the_readmes() -> None:
    from tests.test_readme import _bash_blocks

    steps = [s.strip() for s in _bash_blocks()[0].split("&&")][3:]
    assert [s.removeprefix("../.venv/bin/promote ") for s in steps] == QUICK_START


def _row(out: str, model: str, version: str) -> str:
    """The table row of ``version`` in ``model``'s section of the dry run."""
    section = out.split(f"\n{model}: ", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith(f"{version} ")]
    assert len(rows) == 1, section
    return rows[0]


def _live(reg: Any) -> set[VersionId]:
    return {v.id for m in reg.models() for v in reg.versions(m)}


def test_the_dry_run_names_what_goes_and_why_each_survivor_stays(demo: Any, cli: Any) -> None:
    run = cli("cleanup", "--dry-run", "-p", str(demo.policy("cleanup.yaml")))
    assert run.code == 0, run.output
    out = run.stdout
    c, t = "bert-classifier", "bert-tokenizer"
    assert "delete   age 9d > ttl 7d, #2 newest, beyond keep_last 1" in _row(out, c, "v3")
    assert "delete   age 50d > ttl 7d, #4 newest, beyond keep_last 1" in _row(out, c, "v1")
    survivors = {
        (c, "v4"): [
            "newest version (holds `latest`)",
            "holds staging",
            "#1 newest (keep_last: 1)",
            "within ttl 7d",
        ],
        (c, "v2"): ["holds production (protect: *)"],
        (t, "v2"): ["newest version", "holds production, staging"],
        (t, "v1"): ["kept version(s) derived from it: bert-classifier:v2"],  # lineage, and nothing else
    }
    for (model, version), reasons in survivors.items():
        row = _row(out, model, version)
        assert " keep " in row and all(r in row for r in reasons), row
    assert "Dry run: would delete 2 version(s); nothing sent." in out
    assert _live(demo.registry()) == DEMO  # a dry run deletes nothing


def test_the_cleanup_deletes_exactly_those_versions_with_audit_records(demo: Any, cli: Any) -> None:
    run = cli("cleanup", "-p", str(demo.policy("cleanup.yaml")), "--json")
    assert run.code == 0, run.output
    reg = demo.registry()
    assert _live(reg) == DEMO - GOES
    deleted = {
        VersionId(m, int(r["version"]))
        for m in reg.models()
        for r in reg.audit_log(m).records
        if r.get("kind") == "delete"
    }
    assert deleted == GOES
    assert all(audit.verify(reg.audit_log(m)).ok for m in reg.models())
    # the promotion still works afterwards: production v2 -> v4 (v2 held production: it stayed)
    assert cli("apply", "-p", str(demo.policy("aliasgate.yaml"))).code == 0
    assert reg.aliases("bert-classifier")["production"] == 4


def test_the_quick_start_with_the_cleanup_dry_run_runs_from_a_fresh_copy(tmp_path: Path) -> None:
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    outputs = []
    for step in QUICK_START:
        proc = subprocess.run(
            [PROMOTE, *step.split()], cwd=work, env=clean_env(HOME=str(tmp_path)),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, (step, proc.stdout, proc.stderr)
        outputs.append(proc.stdout)
    assert "Dry run: would delete 2 version(s); nothing sent." in outputs[1]
    assert "move bert-classifier:production v2 -> v4" in outputs[2]
    assert "intact" in outputs[4]
