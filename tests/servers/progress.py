"""First-use installs into the test cache, with progress a person running pytest can see.

Installing ``mlflow[auth]`` (or the wandb SDK) into its cached virtualenv takes a minute or two on a
fresh machine. pytest captures a fixture's output, so a plain print is only shown if something
fails: the run just looks hung. :func:`say` writes past the capture (to the terminal reporter, or to
the real stderr of an xdist worker, which its controller passes through), and :func:`pip_install`
relays pip's progress through it: what is being collected, a heartbeat while pip is quiet, the
time and disk it took.

Registered as a pytest plugin by ``tests/conftest.py`` to learn the run's config; outside pytest
(benchmarks, ``python -m tests.servers.mlflow_server``) it prints to stderr.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HEARTBEAT_SECONDS = 10.0
_config: Any = None


def pytest_configure(config: Any) -> None:
    global _config
    _config = config


def pytest_unconfigure(config: Any) -> None:
    global _config
    _config = None


def say(line: str) -> None:
    """One line on the terminal, even from inside a captured fixture or test."""
    config = _config
    if config is None:
        print(line, file=sys.stderr, flush=True)
        return
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    suspended = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with suspended:
        if reporter is not None and not hasattr(config, "workerinput"):
            reporter.ensure_newline()
            reporter.write_line(line)
            reporter.flush()
        else:  # an xdist worker: its stderr is the controller's, i.e. the terminal
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


def disk_usage(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # a file removed while walking
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def pip_install(python: Path, requirements: list[str], *, label: str, venv: Path) -> None:
    """``pip install`` into ``venv`` (``python`` is its interpreter), telling the terminal as it goes.

    Raises RuntimeError with pip's last output if the install fails.
    """
    wanted = " ".join(requirements)
    say(f"[{label}] first use: installing {wanted} into {venv} (once per cache; a minute or two)")
    started = time.monotonic()
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"}
    proc = subprocess.Popen(
        [str(python), "-m", "pip", "install", "--no-input", *requirements],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    tail: list[str] = []
    collected = 0
    phase = "collecting"
    last = started
    while True:
        try:
            line = lines.get(timeout=HEARTBEAT_SECONDS)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line:
            tail = [*tail[-200:], line]
            if line.startswith("Collecting "):
                collected += 1
            elif line.startswith("Installing collected packages"):
                phase = "installing"
                say(f"[{label}] {collected} packages downloaded; installing them ({_since(started)})")
                last = time.monotonic()
        if time.monotonic() - last >= HEARTBEAT_SECONDS:
            doing = f"{collected} packages collected" if phase == "collecting" else "installing"
            say(f"[{label}] still installing: {doing} ({_since(started)})")
            last = time.monotonic()
    if proc.wait() != 0:
        say(f"[{label}] pip install {wanted} failed after {_since(started)}")
        raise RuntimeError(f"pip install {wanted} failed:\n" + "\n".join(tail[-60:]))
    size = disk_usage(venv) / 1e6
    say(f"[{label}] installed {wanted} in {_since(started)}; {size:,.0f} MB in {venv}")


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.0f} s"
