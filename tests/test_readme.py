"""The README's two quick-start commands: the test command is what CI runs, and the promotion
command's steps work against the demo (run here with the installed `promote`)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from tests.conftest import EXAMPLES, PROMOTE, ROOT, clean_env


def _bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick, re.S)


def test_quick_start_has_two_commands() -> None:
    blocks = _bash_blocks()
    assert len(blocks) == 2 and all("\n" not in b for b in blocks)


def test_ci_runs_the_readme_test_command() -> None:
    assert _bash_blocks()[1] in (ROOT / ".ci" / "run").read_text()
    assert _bash_blocks()[1] in (ROOT / "CONTRIBUTING.md").read_text()


def test_quick_start_promotion_runs(tmp_path: Path) -> None:
    first = _bash_blocks()[0]
    steps = [s.strip() for s in first.split("&&")]
    assert steps[0].startswith("python3 -m venv") and "pip install" in steps[1] and steps[2] == "cd examples"
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    outputs = []
    for step in steps[3:]:
        argv = shlex.split(step)
        assert argv[0] == "../.venv/bin/promote"
        proc = subprocess.run(
            [PROMOTE, *argv[1:]],
            cwd=work,
            env=clean_env(HOME=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, (step, proc.stdout, proc.stderr)
        outputs.append(proc.stdout)
    assert "move bert-classifier:production v2 -> v4" in outputs[1]
    assert "applied ship-classifier" in outputs[2]
    assert "intact" in outputs[3]
