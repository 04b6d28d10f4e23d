"""Fixtures for the W&B backend: the double on 127.0.0.1, its demo world, the SDK virtualenv.

Registered from ``tests/conftest.py`` (``pytest_plugins``). The wandb SDK is only
ever installed into its own cached virtualenv (``ALIASGATE_TEST_CACHE``, default
``~/.cache/aliasgate-tests``); aliasgate itself never imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.progress import pip_install
from tests.servers.wandb_double import ALICE_KEY, CI_KEY, VIEWER_KEY, Demo, WandbDouble, demo

ROOT = Path(__file__).resolve().parents[1]
DEMO_SEED = ROOT / "examples" / "demo-registry.yaml"
WANDB_SDK_VERSION = os.environ.get("ALIASGATE_WANDB_SDK_VERSION", "0.31.0")
# Resolved at import, before the autouse fixture points HOME at a temporary directory.
CACHE = Path(
    os.environ.get("ALIASGATE_TEST_CACHE") or Path.home() / ".cache" / "aliasgate-tests"
).expanduser()


@dataclass
class WandbWorld:
    """A running double with the demo world, and the environment a client needs."""

    double: WandbDouble
    demo: Demo

    @property
    def url(self) -> str:
        return self.double.url

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.double.state

    @property
    def journal(self):  # type: ignore[no-untyped-def]
        return self.double.journal

    def env(self, key: str = CI_KEY, **extra: str) -> dict[str, str]:
        """WANDB_* variables for a client acting with ``key`` (default: the ci-bot service account)."""
        return {"WANDB_BASE_URL": self.url, "WANDB_API_KEY": key, **extra}

    def use(self, monkeypatch: pytest.MonkeyPatch, key: str = CI_KEY, **extra: str) -> None:
        for k, v in self.env(key, **extra).items():
            monkeypatch.setenv(k, v)


@pytest.fixture
def wandb_world() -> Iterator[WandbWorld]:
    """The double seeded with examples/demo-registry.yaml in ``ml/demo`` and the registry."""
    world = demo(seed=DEMO_SEED)
    double = WandbDouble(world.state).start()
    try:
        yield WandbWorld(double, world)
    finally:
        double.stop()
    assert not double.internal_errors, "the W&B double failed internally:\n" + "\n".join(
        double.internal_errors
    )


@pytest.fixture
def wandb_keys() -> dict[str, str]:
    return {"ci-bot": CI_KEY, "alice": ALICE_KEY, "vera": VIEWER_KEY}


def wandb_sdk_python() -> Path:
    """The Python of a virtualenv with the pinned wandb SDK, created once per cache directory."""
    venv = CACHE / f"wandb-sdk-{WANDB_SDK_VERSION}-py{sys.version_info.major}{sys.version_info.minor}"
    python = venv / "bin" / "python"
    done = venv / ".installed"
    if done.exists() and python.exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(CACHE / f".wandb-sdk-{WANDB_SDK_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists() and python.exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip_install(python, [f"wandb=={WANDB_SDK_VERSION}"], label="wandb_sdk", venv=venv)
        done.write_text(WANDB_SDK_VERSION + "\n")
    return python


@pytest.fixture(scope="session")
def wandb_sdk() -> Path:
    return wandb_sdk_python()


def sdk_env(tmp: Path, base_url: str) -> dict[str, str]:
    """Everything the SDK and its wandb-core sidecar write goes under ``tmp``; nothing leaves loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "PROMOTE_"))}
    for name in (
        "HOME",
        "WANDB_DIR",
        "WANDB_CACHE_DIR",
        "WANDB_CONFIG_DIR",
        "WANDB_DATA_DIR",
        "WANDB_ARTIFACT_DIR",
    ):
        env[name] = str(tmp)
    env.update(
        {
            "WANDB_SILENT": "true",
            "WANDB_BASE_URL": base_url,
            "WANDB_DISABLE_GIT": "true",
            "WANDB_X_DISABLE_STATS": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env
