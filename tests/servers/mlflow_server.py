"""Real MLflow servers for the tests and benchmarks, on 127.0.0.1, started and stopped here.

MLflow lives in its own virtualenv (``mlflow[auth]`` pinned below) under the test cache
(``$ALIASGATE_TEST_CACHE``, default ``~/.cache/aliasgate-tests``), so the client under test
never imports it. The venv is built once, under a file lock, and reused by later runs; a fresh
CI machine builds it from scratch (about a minute).

Two kinds of server:

* plain: ``mlflow server --workers 1`` with job execution and telemetry off;
* basic-auth: the same plus ``--app-name basic-auth``, an admin whose password is >= 12
  characters, ``MLFLOW_FLASK_SERVER_SECRET_KEY`` and ``auth_cache_ttl_seconds`` =
  :data:`AUTH_CACHE_TTL_SECONDS`. Without that cache every request pays a ~350 ms scrypt hash
  (measured; see docs/backends/mlflow.md); with one worker, password changes made through the
  API still invalidate the cache at once, so 600 s costs the tests nothing in correctness.

Either kind can run on other SQLAlchemy stores (``backend_store_uri`` / ``auth_database_uri``,
e.g. PostgreSQL, for which :func:`ensure_postgres_driver` adds psycopg to the venv) with several
workers (``workers``; see ``tests/postgres_fixtures.py``). The credential cache is per worker
process: with several workers, a password changed or a user deleted through one worker stays
accepted by the others until their cached entry expires (up to ``auth_cache_ttl_seconds``).

Every server runs in its own process group. :meth:`MlflowServer.stop` ends the group; a small
reaper process (``mlflow_reaper.py``) ends it too if the test process dies without cleaning up
(SIGKILL, a CI timeout), so no server outlives its test run.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from tests.servers.progress import pip_install
except ModuleNotFoundError:  # run as a script: python tests/servers/mlflow_server.py
    from progress import pip_install  # type: ignore[no-redef]

MLFLOW_VERSION = "3.17.2"
REQUIREMENT = f"mlflow[auth]=={MLFLOW_VERSION}"
AUTH_CACHE_TTL_SECONDS = 600
ADMIN_USER = "admin"
ADMIN_PASSWORD = "aliasgate-admin-Pw-2026"  # >= 12 characters, as MLflow 3.17 demands
START_TIMEOUT = 180.0  # seconds; a cold start on a busy 2-core machine took up to 43 s
_HERE = Path(__file__).resolve().parent
_MARKER = ".aliasgate-installed"

# Variables a developer's shell may carry that would change what the server or its CLI does.
_SCRUB = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_AUTH_CONFIG_PATH",
    "MLFLOW_AUTH_ADMIN_USERNAME",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
)


# Resolved at import, before the autouse fixture points HOME at a temporary directory: a server
# fixture first set up from inside a test (getfixturevalue) would otherwise build a new venv there.
_HOME = Path.home()


def cache_root() -> Path:
    return Path(os.environ.get("ALIASGATE_TEST_CACHE") or _HOME / ".cache" / "aliasgate-tests")


def venv_dir() -> Path:
    return cache_root() / f"mlflow-{MLFLOW_VERSION}-py{sys.version_info.major}.{sys.version_info.minor}"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_mlflow() -> Path:
    """The python of a venv holding ``mlflow[auth]`` at the pinned version, built if missing.

    A marker file written last tells a complete install from an interrupted one; an incomplete
    venv is removed and rebuilt. A file lock serialises concurrent test runs. The install's
    progress reaches the terminal even under pytest's capture (``progress.py``).
    """
    venv = venv_dir()
    python = venv_python(venv)
    marker = venv / _MARKER
    if marker.is_file() and marker.read_text().strip() == REQUIREMENT and python.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text().strip() == REQUIREMENT and python.exists():
            return python
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip_install(python, [REQUIREMENT], label="mlflow_server", venv=venv)
        marker.write_text(REQUIREMENT + "\n")
    return python


POSTGRES_DRIVER = "psycopg[binary]==3.3.9"  # SQLAlchemy 2.1 maps postgresql:// to psycopg 3 (not psycopg2)
_DRIVER_MARKER = ".aliasgate-postgres-driver"


def ensure_postgres_driver(python: Path, *, log: Any = None) -> Path:
    """Add the PostgreSQL driver to the cached mlflow venv of ``python``, once, under its file lock.

    A separate marker (not the venv's) so adding the driver never rebuilds a venv that other
    test runs are using."""
    venv = python.parent.parent
    marker = venv / _DRIVER_MARKER
    if marker.is_file() and marker.read_text().strip() == POSTGRES_DRIVER:
        return python
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text().strip() == POSTGRES_DRIVER:
            return python
        out = log if log is not None else sys.stderr
        print(
            f"[mlflow_server] installing {POSTGRES_DRIVER} into {venv} (once per cache)", file=out, flush=True
        )
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", POSTGRES_DRIVER],
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"pip install {POSTGRES_DRIVER} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        marker.write_text(POSTGRES_DRIVER + "\n")
    return python


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Account:
    username: str
    password: str

    def env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_USERNAME": self.username, "MLFLOW_TRACKING_PASSWORD": self.password}


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class MlflowServer:
    """One ``mlflow server`` process group on a free loopback port, with a tiny admin client."""

    ssl_context: ssl.SSLContext | None = None  # set by the TLS servers (tests/servers/mlflow_tls.py)

    def __init__(
        self,
        workdir: Path,
        *,
        auth: bool = False,
        python: Path | None = None,
        workers: int = 1,
        backend_store_uri: str | None = None,
        auth_database_uri: str | None = None,
    ) -> None:
        """``backend_store_uri`` / ``auth_database_uri``: SQLAlchemy URIs (e.g. ``postgresql://``;
        the venv then needs :func:`ensure_postgres_driver`); default: SQLite files in ``workdir``."""
        self.workdir = Path(workdir)
        self.auth = auth
        self.workers = workers
        self.backend_store_uri = backend_store_uri or f"sqlite:///{self.workdir / 'mlflow.sqlite'}"
        self.auth_database_uri = auth_database_uri or f"sqlite:///{self.workdir / 'auth.sqlite'}"
        self.python = python or ensure_mlflow()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = Account(ADMIN_USER, ADMIN_PASSWORD) if auth else None
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [
            str(self.python), "-m", "mlflow", "server",
            "--backend-store-uri", self.backend_store_uri,
            "--default-artifact-root", str(self.workdir / "artifacts"),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", str(self.workers),
        ]  # fmt: skip
        if self.auth:
            cmd += ["--app-name", "basic-auth"]
        return cmd

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update(
            MLFLOW_DISABLE_TELEMETRY="true",
            DO_NOT_TRACK="true",
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
            PYTHONUNBUFFERED="1",
        )
        if self.auth:
            ini = self.workdir / "basic_auth.ini"
            ini.write_text(
                "[mlflow]\n"
                "default_permission = READ\n"
                f"database_uri = {self.auth_database_uri}\n"
                f"admin_username = {ADMIN_USER}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                f"auth_cache_ttl_seconds = {AUTH_CACHE_TTL_SECONDS}\n"
            )
            env.update(
                MLFLOW_AUTH_CONFIG_PATH=str(ini),
                MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
                MLFLOW_FLASK_SERVER_SECRET_KEY=base64.b64encode(os.urandom(24)).decode(),
            )
        return env

    def start(self, timeout: float = START_TIMEOUT) -> MlflowServer:
        return self.launch().wait_ready(timeout)

    def launch(self) -> MlflowServer:
        """Start the process and return at once (start several, then wait for each)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        try:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: stop() ends uvicorn too
            )
        finally:
            log.close()
        self._reaper = subprocess.Popen(
            [sys.executable, str(_HERE / "mlflow_reaper.py"), str(os.getpid()), str(self.proc.pid)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> MlflowServer:
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2, context=self.ssl_context) as r:
                    if r.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mlflow server not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        if proc is not None:
            # uvicorn may linger a moment after its parent; end the whole group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        reaper, self._reaper = self._reaper, None
        if reaper is not None and reaper.poll() is None:
            reaper.terminate()
            reaper.wait(timeout=5)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def registry_uri(self) -> str:
        return f"mlflow+{self.url}"

    # -- a minimal REST client (admin by default), stdlib only ----------------------------------

    def api(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        account: Account | None = None,
        api: str = "2.0",
    ) -> dict[str, Any]:
        from urllib.parse import urlencode

        url = f"{self.url}/api/{api}/mlflow/{path.lstrip('/')}"
        if params:
            url += "?" + urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        who = account or self.admin
        if who is not None:
            token = base64.b64encode(f"{who.username}:{who.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl_context) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace"), f"{method} {path}") from None
        return json.loads(text) if text.strip() else {}

    # -- users and grants (basic-auth server only) ---------------------------------------------

    def create_user(self, username: str, password: str | None = None) -> Account:
        if not self.auth:
            raise RuntimeError("users exist only on the basic-auth server")
        account = Account(username, password or f"{username}-Pw-{os.urandom(6).hex()}")
        self.api("POST", "users/create", {"username": account.username, "password": account.password})
        return account

    def grant(self, username: str, model: str, permission: str) -> None:
        """Grant READ / USE / EDIT / MANAGE / DENY on one registered model (3.x permissions API)."""
        self.api(
            "POST",
            "users/permissions/grant",
            {
                "username": username,
                "resource_type": "registered_model",
                "resource_id": model,
                "permission": permission,
            },
            api="3.0",
        )

    def revoke(self, username: str, model: str) -> None:
        self.api(
            "POST",
            "users/permissions/revoke",
            {"username": username, "resource_type": "registered_model", "resource_id": model},
            api="3.0",
        )

    def permission(self, username: str, model: str) -> dict[str, Any]:
        return self.api(
            "GET",
            "users/permissions/get",
            params={"username": username, "resource_type": "registered_model", "resource_id": model},
            api="3.0",
        )


@contextlib.contextmanager
def running(workdir: Path, *, auth: bool = False) -> Iterator[MlflowServer]:
    server = MlflowServer(workdir, auth=auth)
    server.start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":  # manual use: python tests/servers/mlflow_server.py [--auth]
    import tempfile

    with running(Path(tempfile.mkdtemp(prefix="mlflow-")), auth="--auth" in sys.argv) as srv:
        print(f"{srv.registry_uri} (log: {srv.log_path}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
