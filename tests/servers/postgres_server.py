"""A throwaway PostgreSQL cluster on 127.0.0.1 for the tests, started and stopped here.

The binaries come from the Debian package ``postgresql`` (``/usr/lib/postgresql/<ver>/bin``),
or from ``$PATH`` / ``pg_config --bindir`` elsewhere. On a machine without them,
:func:`ensure_postgres` installs the package when it can (root with ``apt-get``, as on a fresh
CI machine) under a file lock, and otherwise raises :class:`PostgresUnavailable` with the
reason; ``.ci/run`` calls ``python3 tests/servers/postgres_server.py install`` before the suite.

Each cluster lives in its own temporary directory, listens on a free loopback port only (no
Unix socket), and lets in one role with a random password (SCRAM). ``fsync`` is off: a cluster
that lives for one test session has nothing to keep across a crash. PostgreSQL refuses to run
as root, so as root the cluster runs as the ``postgres`` system user that the package creates
(``nobody`` if there is none). The postmaster runs in its own process group and the MLflow
reaper ends it if the test process dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_HERE = Path(__file__).resolve().parent
START_TIMEOUT = 60.0
ROLE = "aliasgate"
_INSTALL_LOCK = Path(tempfile.gettempdir()) / "aliasgate-postgres-install.lock"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed here and cannot be installed (the reason is the message)."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb``, ``postgres`` and ``psql``, newest version first."""
    debian = sorted(
        (p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0],
        reverse=True,
    )
    for bindir in debian:
        if (bindir / "postgres").exists() and (bindir / "pg_ctl").exists():
            return bindir
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(out.stdout.strip())
        if out.returncode == 0 and (bindir / "initdb").exists():
            return bindir
    return None


def _psql(bindir: Path) -> Path:
    own = bindir / "psql"
    if own.exists():
        return own
    found = shutil.which("psql")
    if not found:
        raise PostgresUnavailable(f"no psql beside {bindir} or on PATH")
    return Path(found)


def ensure_postgres(*, install: bool = True, log: object = None) -> Path:
    """The PostgreSQL bin directory, installing the Debian package first when allowed and possible."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if not install:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no initdb under /usr/lib/postgresql or on PATH)"
        )
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            "PostgreSQL is not installed and installing it needs root "
            "(as root: apt-get install postgresql, or python3 tests/servers/postgres_server.py install)"
        )
    apt = shutil.which("apt-get")
    if apt is None:
        raise PostgresUnavailable("PostgreSQL is not installed and there is no apt-get to install it")
    with open(_INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bindir = find_bindir()
        if bindir is not None:
            return bindir
        print(
            "[postgres_server] installing the Debian package postgresql", file=log or sys.stderr, flush=True
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            [apt, "-q", "update"],
            [apt, "-q", "install", "-y", "--no-install-recommends", "postgresql"],
        ):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                raise PostgresUnavailable(
                    f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
                )
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable("apt-get installed postgresql but no initdb was found")
    return bindir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The user the cluster runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable("running as root and there is neither a 'postgres' nor a 'nobody' user")


class PostgresCluster:
    """One throwaway cluster: ``initdb`` into a temp dir, ``postgres`` on a free loopback port."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or ensure_postgres()
        self.port = free_port()
        self.password = os.urandom(12).hex()
        self.user = _run_as()
        # under /tmp, so the postgres user can reach it (pytest's tmp dirs are private to root)
        self.root = Path(tempfile.mkdtemp(prefix="aliasgate-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def _as_user(self) -> dict[str, object]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", PGPASSWORD=self.password)
        if self.user is not None:
            env["HOME"] = str(self.root)
        return env

    def start(self, timeout: float = START_TIMEOUT) -> PostgresCluster:
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.user is not None:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        init = subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", ROLE, "--pwfile", str(pwfile),
             "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            cwd=self.root, env=self._env(), capture_output=True, text=True, **self._as_user(),  # type: ignore[arg-type]
        )  # fmt: skip
        pwfile.unlink()
        if init.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({init.returncode}):\n{init.stdout[-2000:]}\n{init.stderr[-2000:]}"
            )
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        try:
            self.proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data),
                 "-c", "listen_addresses=127.0.0.1", "-p", str(self.port),
                 "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=200"],
                cwd=self.root, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, **self._as_user(),  # type: ignore[arg-type]
            )  # fmt: skip
        finally:
            log.close()
        self._reaper = subprocess.Popen(
            [sys.executable, str(_HERE / "mlflow_reaper.py"), str(os.getpid()), str(self.proc.pid)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.log_tail()}")
            probe = subprocess.run(
                [str(_psql(self.bindir)), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", "postgres",
                 "-Atc", "SELECT 1"],
                env=self._env(), capture_output=True, text=True,
            )  # fmt: skip
            if probe.returncode == 0:
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"postgres not ready after {timeout:.0f} s:\n{probe.stderr}\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)  # "fast" shutdown: ends the sessions, no waiting on them
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        reaper, self._reaper = self._reaper, None
        if reaper is not None and reaper.poll() is None:
            reaper.terminate()
            reaper.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- databases and queries -------------------------------------------------------------------

    def uri(self, database: str) -> str:
        """A SQLAlchemy URI for ``database`` (create it first with :meth:`create_database`)."""
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.query(f"CREATE DATABASE {name}", database="postgres")
        return self.uri(name)

    def query(self, sql: str, *, database: str = "postgres") -> list[list[str]]:
        """Run ``sql`` with psql and return the rows as lists of strings (NULL as '')."""
        done = subprocess.run(
            [str(_psql(self.bindir)), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", database,
             "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env=self._env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}) on {sql!r}:\n{done.stderr[-2000:]}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]


@contextlib.contextmanager
def running() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


if __name__ == "__main__":  # python3 tests/servers/postgres_server.py install | run
    if sys.argv[1:] == ["install"]:
        print(f"PostgreSQL binaries: {ensure_postgres()}")
    elif sys.argv[1:] == ["run"]:
        with running() as pg:
            print(f"{pg.uri('postgres')} (log: {pg.log_path}); Ctrl-C stops it", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    else:
        sys.exit("usage: postgres_server.py install | run")
