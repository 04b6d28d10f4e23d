"""Shared fixtures: an isolated environment, an embedded registry seeded with the demo, a CLI runner.

Every test runs with a clean environment (no PROMOTE_*, GITHUB_*, MLFLOW_*,
WANDB_* from the developer's shell), a temporary HOME and a pinned git
identity, so nothing reads or writes the user's real configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aliasgate import secrets
from aliasgate.registry.local import LocalRegistry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PROMOTE = str(Path(sys.executable).with_name("promote"))

# tests.servers.progress: first-use installs into the test cache report their progress past the capture
pytest_plugins: list[str] = [
    "tests.servers.progress",
    "tests.wandb_fixtures",
    "tests.mlflow_fixtures",
    "tests.postgres_fixtures",
]

_SCRUB_PREFIXES = ("PROMOTE_", "GITHUB_", "MLFLOW_", "WANDB_", "RUNNER_")
_SCRUB_NAMES = ("CI", "GIT_DIR", "GIT_WORK_TREE", "NO_COLOR")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a subprocess test should see: scrubbed, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith(_SCRUB_PREFIXES) or key in _SCRUB_NAMES:
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    secrets.reset_for_tests()
    yield
    secrets.reset_for_tests()


@dataclass
class Demo:
    """A working directory holding examples/ and an embedded registry seeded with the demo."""

    path: Path
    db: Path

    @property
    def uri(self) -> str:
        return f"local:{self.db}"

    def registry(self) -> LocalRegistry:
        return LocalRegistry(self.db)

    def policy(self, name: str = "promote.yaml") -> Path:
        return self.path / "examples" / name

    def write(self, name: str, text: str) -> Path:
        p = self.path / name
        p.write_text(text, encoding="utf-8")
        return p


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Demo:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    db = tmp_path / ".aliasgate" / "registry.db"
    result = CliRunner().invoke(app(), ["registry", "import", "examples/demo-registry.yaml"])
    assert result.exit_code == 0, result.output
    return Demo(tmp_path, db)


def app():  # type: ignore[no-untyped-def]
    from aliasgate.cli import app as typer_app

    return typer_app


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli() -> object:
    """Invoke the CLI in-process with separate stdout and stderr."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> Run:
        runner = CliRunner()
        result = runner.invoke(app(), list(args), env=env, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    return invoke


def run_promote(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> Run:
    """Run the installed `promote` executable in a real process."""
    proc = subprocess.run(
        [PROMOTE, *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
