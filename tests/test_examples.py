"""examples/ doubles as test cases: valid policies pass `promote check`; each file in
examples/invalid/ fails with the message and line its `# expect: LINE: MESSAGE` header documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

VALID = sorted(p for p in EXAMPLES.glob("*.yaml") if not p.name.endswith("-registry.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(VALID) >= 3 and len(INVALID) >= 5


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_example_passes_check(cli, path: Path) -> None:  # type: ignore[no-untyped-def]
    run = cli("check", str(path))
    assert run.code == 0, run.output
    assert run.stdout.startswith(f"ok: {path}")


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_example_fails_with_documented_message(cli, path: Path) -> None:  # type: ignore[no-untyped-def]
    header = re.match(r"# expect: (\d+): (.+)", path.read_text().splitlines()[0])
    assert header, f"{path} needs a '# expect: LINE: MESSAGE' first line"
    line, message = int(header.group(1)), header.group(2)
    run = cli("check", str(path))
    assert run.code == 2
    assert f"{path}:{line}:" in run.stderr and message in run.stderr, run.stderr


def test_demo_registry_and_example_policies_plan(demo, cli) -> None:  # type: ignore[no-untyped-def]
    """The example policies run against the demo registry (the guarded one is blocked: wrong principal)."""
    assert cli("plan", "-p", str(demo.policy("aliasgate.yaml"))).code == 0
    guarded = cli("plan", "-p", str(demo.policy("guarded.yaml")))
    assert guarded.code == 3 and "may not apply this rule" in guarded.stdout
