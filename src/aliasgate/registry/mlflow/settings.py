"""Where the MLflow server is and how to talk to it: URI, credentials, TLS, lock lease settings."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from aliasgate import secrets
from aliasgate.errors import InvalidInput
from aliasgate.registry.http import TlsHints

if TYPE_CHECKING:  # pragma: no cover
    import requests

DEFAULT_LOCK_TTL = 60.0


def base_url(uri: str) -> tuple[str, tuple[str, str] | None]:
    """``mlflow+http://h:p/x`` -> (``http://h:p/x``, userinfo); ``mlflow`` -> MLFLOW_TRACKING_URI."""
    if uri == "mlflow":
        target = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
        if not target:
            raise InvalidInput(
                "--registry mlflow takes the server from MLFLOW_TRACKING_URI, which is not set",
                hint="export MLFLOW_TRACKING_URI=https://mlflow.example.com or use --registry mlflow+https://HOST",
            )
        where = "MLFLOW_TRACKING_URI"
    elif uri.startswith(("mlflow+http://", "mlflow+https://")):
        target, where = uri[len("mlflow+") :], "--registry"
    else:
        raise InvalidInput(
            f"invalid MLflow registry {uri!r}: expected mlflow+http://HOST:PORT, mlflow+https://HOST or mlflow"
        )
    parts = urlsplit(target)
    try:
        parts.port  # noqa: B018 - a password with a raw '/' leaves 'user:pass' where the host should be
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"{where} {secrets.strip_userinfo(target)!r} is not an http(s) URL of an MLflow tracking server "
            "(aliasgate talks to the server's REST API; file:, sqlite: and databricks URIs are not supported)"
        )
    userinfo = None
    if parts.username is not None:
        from urllib.parse import unquote

        userinfo = (unquote(parts.username), unquote(parts.password or ""))
        secrets.register(userinfo[1])
    netloc = parts.netloc.rpartition("@")[2]  # without user:password@
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return base, userinfo


@dataclass(frozen=True)
class Credentials:
    """How we authenticate, and how to name the account in messages (never the secret)."""

    username: str | None = None
    password: str | None = None
    token: str | None = None
    source: str = ""

    @classmethod
    def from_env(cls, userinfo: tuple[str, str] | None = None) -> Credentials:
        user = os.environ.get("MLFLOW_TRACKING_USERNAME") or None
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or None
        token = os.environ.get("MLFLOW_TRACKING_TOKEN") or None
        secrets.register(password)
        secrets.register(token, sent=not (user or password or userinfo))  # basic auth wins: token stays home
        if user or password:
            if not (user and password):
                missing = "MLFLOW_TRACKING_PASSWORD" if user else "MLFLOW_TRACKING_USERNAME"
                raise InvalidInput(f"{missing} is not set: basic auth needs both username and password")
            return cls(user, password, source="MLFLOW_TRACKING_USERNAME/PASSWORD")
        if userinfo is not None:
            return cls(userinfo[0], userinfo[1], source="the registry URL")
        if token:
            return cls(token=token, source="MLFLOW_TRACKING_TOKEN")
        return _credentials_file()

    @property
    def account(self) -> str:
        if self.username:
            return f"account {self.username!r}"
        if self.token:
            return "the account of MLFLOW_TRACKING_TOKEN"
        return "an anonymous client (no MLflow credentials set)"

    def apply(self, session: requests.Session) -> None:
        if self.username is not None:
            session.auth = (self.username, self.password or "")
        elif self.token is not None:
            session.headers["Authorization"] = f"Bearer {self.token}"


def _credentials_file() -> Credentials:
    """``~/.mlflow/credentials`` (section ``[mlflow]``), as MLflow's client reads it."""
    path = Path.home() / ".mlflow" / "credentials"
    if not path.is_file():
        return Credentials()
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return Credentials()
    user = parser.get("mlflow", "mlflow_tracking_username", fallback=None)
    password = parser.get("mlflow", "mlflow_tracking_password", fallback=None)
    secrets.register(password)
    if user and password:
        return Credentials(user, password, source=str(path))
    return Credentials()


TLS_HINTS = TlsHints(
    verify="set MLFLOW_TRACKING_SERVER_CERT_PATH to the CA bundle (PEM) that signed the server's certificate",
    client_cert="set MLFLOW_TRACKING_CLIENT_CERT_PATH to a PEM file holding the client certificate and its key",
)


def _flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Lock lease and connection handling, from PROMOTE_MLFLOW_* / PROMOTE_HTTP_KEEPALIVE."""

    lock_ttl: float = DEFAULT_LOCK_TTL
    lock_wait: float = 2 * DEFAULT_LOCK_TTL
    keepalive: bool = False
    verify: bool | str = True
    client_cert: str | None = None

    @classmethod
    def from_env(cls, base: str) -> Settings:
        ttl = _seconds("PROMOTE_MLFLOW_LOCK_TTL", DEFAULT_LOCK_TTL)
        wait = _seconds("PROMOTE_MLFLOW_LOCK_WAIT", 2 * ttl)
        # uvicorn (MLflow's default server, 4 workers) answers a reused connection ~45 ms
        # later than a fresh one (measured: 48-52 ms vs 7-11 ms per request); with TLS a new
        # connection costs handshakes instead. So: fresh connections for http, keep-alive for https.
        keepalive = _flag("PROMOTE_HTTP_KEEPALIVE")
        if keepalive is None:
            keepalive = base.startswith("https://")
        insecure = _flag("MLFLOW_TRACKING_INSECURE_TLS") or False
        cert = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
        if insecure and cert:
            raise InvalidInput(
                "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH are both set; choose one"
            )
        client = os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None
        for name, path in (
            ("MLFLOW_TRACKING_SERVER_CERT_PATH", cert),
            ("MLFLOW_TRACKING_CLIENT_CERT_PATH", client),
        ):
            if path is not None and not os.path.exists(path):
                raise InvalidInput(f"{name}={path!r}: no such file")
        verify: bool | str = False if insecure else (cert or True)
        return cls(ttl, wait, keepalive, verify, client)


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise InvalidInput(f"{name} must be more than 0 seconds")
    return value
