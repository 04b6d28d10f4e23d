"""MLflow Model Registry over its REST API (``requests`` only; mlflow is never imported).

URIs: ``mlflow+http://HOST:PORT[/PREFIX]``, ``mlflow+https://...``, or ``mlflow`` to take
``MLFLOW_TRACKING_URI``. Credentials come from the environment like MLflow's own client:
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic), else ``MLFLOW_TRACKING_TOKEN``
(bearer, for servers behind a proxy), else ``~/.mlflow/credentials``; TLS from
``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_TRACKING_SERVER_CERT_PATH`` and
``MLFLOW_TRACKING_CLIENT_CERT_PATH``. Every secret is registered for redaction.

What a version looks like here
    metrics: numeric version tags, else the source run's latest metrics (``runs/get``, fetched
    only when a metric is asked for that no tag has); metadata: the version tags (JSON numbers,
    booleans, lists and objects decoded); source: the run and the logged model MLflow recorded.
    Lineage is the version tag ``aliasgate.inputs`` (``"bert-tokenizer:v2, other:v5"``), written
    by the training code; MLflow itself records no model-to-model lineage, so a version without
    that tag has ``lineage_recorded=False`` and lineage gates fail closed on it.

How a move is guarded (MLflow has no compare-and-swap)
    1. lock: create the registered model ``aliasgate-lock.<model>.<gen>``. Creation is atomic:
       a second creator gets ``RESOURCE_ALREADY_EXISTS`` and waits. The lock carries its owner,
       a token and a lease (``PROMOTE_MLFLOW_LOCK_TTL``, default 60 s).
    2. re-read the model under the lock (one ``registered-models/get``: aliases, audit head);
       the alias must still be on the expected version, else :class:`Conflict`, nothing written.
    3. write the sealed audit record (write-ahead) into an audit segment: a registered model
       ``aliasgate-audit.<model>.<account>.<page>`` of at most 100 records, because MLflow reads
       every tag of a model it touches and records on the model would slow every request on it,
    4. move or remove the alias (the 400 ``UNIQUE constraint failed`` of a concurrent first
       creation is retried),
    5. write the chain head ``aliasgate.audit.head`` (the commit point), 6. delete the lock.
    Six requests per move. A record whose head was never written (a crash between 3 and 5) is
    settled by whoever takes the dead job's lock over: kept if the alias is where it says, else
    left off the chain (the head names the record that belongs to each seq).

    Cleanup deletes in batches (``delete_versions``, up to BATCH_SIZE versions of one model):
    under the lock, one re-read, every record sealed in order and written ahead in one new
    segment, then one version after another (re-read its aliases, delete it), stopping at the
    first that does not go, then one head write at the last deletion that happened. In order,
    so the deletions that happened are always a prefix of the records: a batch cut short or
    killed is settled by moving the head, never by re-sealing (the settler finds the segment by
    its name, ``.b<head+1>-``). A holder that cannot commit leaves its lock to expire, so the
    next holder settles what it did.

    Stale locks: a lock whose lease ran out (judged on the server's clock: its
    ``creation_timestamp`` against the ``Date`` of the answer) is not deleted in place; the next
    job takes ``<gen+1>``, records the generation in the model tag ``aliasgate.lock.gen``, and
    only then removes the stale lock (if its account may). A holder sends no write once its
    lease is within one request timeout of its end, and then leaves its lock to expire rather
    than delete what may be another's.

Guaranteed, between aliasgate processes sharing a server: one move per model at a time; every
move starts from the holder the previous one left (or fails with exit 4, changing nothing);
every move has its audit record, and an alias is never left on nothing. Not guaranteed: writes
by clients that bypass aliasgate (MlflowClient, the UI) take no lock and can still race; a
holder stalled longer than its lease (a paused VM) can be overtaken; the server's clock must
not jump. See docs/backends/mlflow.md.
"""

from __future__ import annotations

import base64
import configparser
import email.utils
import json
import os
import random
import socket
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from aliasgate import audit, secrets
from aliasgate.errors import (
    AliasgateError,
    AuthError,
    Conflict,
    InvalidInput,
    NotFound,
    RegistryError,
    conflict,
    still_held,
)
from aliasgate.model import AliasOp, Principal, Version, VersionId, iso
from aliasgate.registry.http import RetryPolicy, TlsHints, Transport, default_timeout

if TYPE_CHECKING:  # pragma: no cover
    import requests

    from aliasgate.registry import DeleteResult

API = "/api/2.0/mlflow"

# Tags aliasgate writes. Registered-model tag values are a String(5000) column in MLflow's
# SQL schema (the REST validator allows 100,000, but MySQL/Postgres enforce the column), so
# records are kept under TAG_LIMIT characters: plain JSON, else zlib+base64, else split.
TAG_PREFIX = "aliasgate."
AUDIT_PREFIX = "aliasgate.audit."
HEAD_TAG = "aliasgate.audit.head"
GEN_TAG = "aliasgate.lock.gen"
INPUTS_TAG = "aliasgate.inputs"
LOCK_PREFIX = "aliasgate-lock."
SEGMENT_PREFIX = "aliasgate-audit."
SEGMENT_SIZE = 100  # records per audit segment: MLflow reads every tag of a model it touches
TAG_LIMIT = 5000
BATCH_SIZE = 50  # versions per delete_versions call: one audit segment, one head write
# A batch re-reads aliases with at most one deletion between a version's re-read and its delete:
# one registered-models/get per two deletions while the model has at most this many versions
# (its cost grows with them: 8 ms at 10, 16 ms at 1,000, 28 ms at 3,000), else one
# model-versions/get (8 ms at any size) per deletion.
PAIRED_RECHECK_UP_TO = 800
BATCH_MARK = "b"  # batch segments: aliasgate-audit.<model>.<account>.b<first seq>-<token>

DEFAULT_LOCK_TTL = 60.0
UNIQUE_RETRIES = 4
_UNIQUE_MARKERS = ("UNIQUE constraint failed", "duplicate key value", "Duplicate entry")


# -- opening ------------------------------------------------------------------------------------------


def open(uri: str, options: Mapping[str, Any]) -> MlflowRegistry:
    base, userinfo = _base_url(uri)
    creds = Credentials.from_env(userinfo)
    settings = Settings.from_env(base)
    if settings.verify is False and base.startswith("https://"):
        print(
            f"warning: MLFLOW_TRACKING_INSECURE_TLS is set: the TLS certificate of {base} is not verified",
            file=sys.stderr,
        )
    return MlflowRegistry(base, creds, settings=settings, session=options.get("session"))


def _base_url(uri: str) -> tuple[str, tuple[str, str] | None]:
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


# -- the registry ---------------------------------------------------------------------------------------


@dataclass
class _ModelState:
    """One ``registered-models/get`` answer: aliases, tags, latest, and the server's clock."""

    name: str
    aliases: dict[str, int]
    tags: dict[str, str]
    latest: int | None
    server_time: float | None  # seconds since the epoch, from the Date header
    newest: Mapping[str, Any] | None = None  # the latest version as the same answer carried it


class MlflowRegistry:
    """The MLflow Model Registry as aliasgate's :class:`~aliasgate.registry.Registry`."""

    atomic_batches = False
    lineage_recorded = True  # through the aliasgate.inputs version tag (per version otherwise)
    page_size = 1000  # versions per search page; every page is read before versions() returns
    delete_batch = BATCH_SIZE  # versions per delete_versions call that cleanup sends

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None = None,
        *,
        settings: Settings | None = None,
        session: requests.Session | None = None,
    ) -> None:
        import requests

        self.base_url = base_url
        self.uri = f"mlflow+{base_url}"
        self.credentials = credentials or Credentials()
        self.settings = settings or Settings()
        sess = session or requests.Session()
        self.credentials.apply(sess)
        sess.verify = self.settings.verify
        if self.settings.client_cert:
            sess.cert = self.settings.client_cert
        if self.settings.verify is False:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if not self.settings.keepalive:
            sess.headers["Connection"] = "close"
        self.transport = Transport(base_url, session=sess, what="MLflow server", tls_hints=TLS_HINTS)
        # Writes under a lock go one attempt at a time; _guarded retries them within the lease.
        self._single = Transport(
            base_url, session=sess, what="MLflow server", retry=RetryPolicy(attempts=1), tls_hints=TLS_HINTS
        )
        self._models: dict[str, _ModelState] = {}
        self._runs: dict[str, dict[str, float]] = {}
        self._principal: Principal | None = None
        # Threads of one process (parallel cleanup) queue here instead of polling the server's lock.
        self._local_locks: dict[str, threading.Lock] = {}
        self._local_guard = threading.Lock()
        self._waiting: dict[str, int] = {}  # threads queued per model
        self._handed: dict[str, _Lease] = {}  # a server lease passed on to the next queued thread

    def close(self) -> None:
        for lease in list(self._handed.values()):
            self._release(lease)
        self._handed.clear()
        self.transport.close()

    @property
    def requests_sent(self) -> int:
        return self.transport.requests_sent + self._single.requests_sent

    # -- HTTP ---------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        body: Mapping[str, Any] | None = None,
        need: str = "READ",
        action: str,
        model: str | None = None,
        version: int | None = None,
        idempotent: bool | None = None,
        transport: Transport | None = None,
        timeout: tuple[float, float] | None = None,
        api: str = API,
    ) -> requests.Response:
        """Send one request; answer the response on 2xx, else raise the mapped error."""
        t = transport or self.transport
        response = t.request(
            method,
            f"{api}/{endpoint}",
            params=params,
            json=body,
            idempotent=method == "GET" if idempotent is None else idempotent,
            timeout=timeout,
        )
        if response.status_code < 300:
            return response
        raise self._error(response, need=need, action=action, model=model, version=version)

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise RegistryError(
                f"the MLflow server at {self.base_url} answered {response.request.method} "
                f"{urlsplit(response.url).path} with something that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise RegistryError(f"unexpected answer from the MLflow server at {self.base_url}")
        return data

    def _error(
        self, response: requests.Response, *, need: str, action: str, model: str | None, version: int | None
    ) -> AliasgateError:
        status = response.status_code
        code, message = _mlflow_error(response)
        message = secrets.redact(message)
        if status == 401:
            hint = (
                "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
                if not (self.credentials.username or self.credentials.token)
                else "check the credentials (the password is never shown)"
            )
            if self.credentials.token and not self.credentials.username:
                hint = (
                    "MLflow's basic-auth app accepts only username and password; MLFLOW_TRACKING_TOKEN is "
                    "for servers behind a proxy that checks bearer tokens"
                )
            if not (self.credentials.username or self.credentials.token):
                return AuthError(
                    f"the MLflow server at {self.base_url} requires authentication and no MLflow credentials "
                    f"are set (401 on {action})",
                    model=model,
                    version=version,
                    hint=hint,
                )
            return AuthError(
                f"the MLflow server at {self.base_url} did not accept {self.credentials.account} "
                f"(401 on {action}; credentials from {self.credentials.source})",
                model=model,
                version=version,
                hint=hint,
            )
        if status == 403 and "Invalid Host header" in message:
            return RegistryError(
                f"the MLflow server at {self.base_url} refused the Host header (403: {message})",
                hint="start the server with --allowed-hosts naming the host clients use",
            )
        if status == 403:
            target = f"registered model {model!r}" if model else "this server"
            grant = (
                f"an MLflow admin can grant it: POST /api/3.0/mlflow/users/permissions/grant "
                f'{{"username": "{self.credentials.username or "..."}", "resource_type": "registered_model", '
                f'"resource_id": "{model or "..."}", "permission": "{need}"}}'
            )
            return AuthError(
                f"{self.credentials.account} lacks {need} permission on {target}: MLflow refused to {action} "
                "(403); nothing was changed",
                hint=grant,
            )
        if status == 404 and code == "RESOURCE_DOES_NOT_EXIST":
            return NotFound(message or "not found", model=model, version=version)
        if status == 404:
            return RegistryError(
                f"the MLflow server at {self.base_url} has no {urlsplit(response.url).path} (404); "
                "is this an MLflow tracking server (2.9 or newer)?"
            )
        if status == 500 and self.credentials.token and not self.credentials.username:
            return AuthError(
                f"the MLflow server at {self.base_url} failed (500) on {action} with a bearer token",
                model=model,
                version=version,
                hint="MLflow's basic-auth app accepts only username and password (MLFLOW_TRACKING_USERNAME/PASSWORD)",
            )
        detail = f"{code}: {message}" if code else message or response.reason
        return RegistryError(
            f"MLflow refused to {action} (HTTP {status} {detail})".strip(), model=model, version=version
        )

    # -- reads --------------------------------------------------------------------------------------

    def whoami(self) -> Principal:
        if self._principal is not None:
            return self._principal
        response = self.transport.request("GET", f"{API}/users/current", idempotent=True)
        if response.status_code == 200:
            user = self._json(response).get("user") or {}
            name = str(user.get("username") or self.credentials.username or "unknown")
            detail = {"server": self.base_url, "is_admin": bool(user.get("is_admin"))}
            self._principal = Principal(name, True, "mlflow users/current", detail)
        elif response.status_code == 404:
            configured = self.credentials.username or os.environ.get("PROMOTE_PRINCIPAL") or _os_user()
            how = (
                "MLFLOW_TRACKING_USERNAME"
                if self.credentials.username
                else ("PROMOTE_PRINCIPAL" if os.environ.get("PROMOTE_PRINCIPAL") else "os user")
            )
            self._principal = Principal(
                configured,
                False,
                f"{how}; the MLflow server has no authentication (users/current: 404)",
                {"server": self.base_url, "auth": "none: anyone who reaches this server can move aliases"},
            )
        else:
            raise self._error(response, need="READ", action="read the current user", model=None, version=None)
        return self._principal

    def models(self) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"max_results": 1000}
            if token:
                params["page_token"] = token
            data = self._json(
                self._call("GET", "registered-models/search", params=params, action="list models")
            )
            for m in data.get("registered_models") or []:
                tags = _tags(m.get("tags"))
                name = str(m.get("name"))
                if (
                    name.startswith((LOCK_PREFIX, SEGMENT_PREFIX))
                    or tags.get("mlflow.prompt.is_prompt") == "true"
                ):
                    continue
                names.append(name)
            token = data.get("next_page_token") or None
            if not token:
                return sorted(set(names))

    def _model(
        self, model: str, *, fresh: bool = False, timeout: tuple[float, float] | None = None
    ) -> _ModelState:
        if not fresh and model in self._models:
            return self._models[model]
        response = self._call(
            "GET",
            "registered-models/get",
            params={"name": model},
            action="read the model",
            model=model,
            timeout=timeout,
        )
        rm = self._json(response).get("registered_model") or {}
        tags = _tags(rm.get("tags"))
        if tags.get("mlflow.prompt.is_prompt") == "true":
            raise NotFound("is an MLflow prompt, not a registered model", model=model)
        latest_versions = [v for v in rm.get("latest_versions") or [] if "version" in v]
        newest = max(latest_versions, key=lambda v: int(v["version"]), default=None)
        state = _ModelState(
            model,
            {str(a["alias"]): int(a["version"]) for a in rm.get("aliases") or []},
            tags,
            int(newest["version"]) if newest else None,
            _server_time(response),
            newest,
        )
        self._models[model] = state
        return state

    def aliases(self, model: str) -> dict[str, int]:
        return dict(sorted(self._model(model).aliases.items()))

    def latest(self, model: str) -> int | None:
        return self._model(model).latest

    def version(self, model: str, number: int) -> Version:
        known = self._models.get(model)
        if known is not None and known.newest is not None and known.latest == number:
            # registered-models/get already carried the newest version in full: no second request.
            held = tuple(a for a, n in known.aliases.items() if n == number)
            return self._version(model, known.newest, held)
        response = self._call(
            "GET",
            "model-versions/get",
            params={"name": model, "version": str(number)},
            action="read the version",
            model=model,
            version=number,
        )
        mv = self._json(response).get("model_version") or {}
        return self._version(model, mv, None)

    def versions(self, model: str) -> list[Version]:
        state = self._model(model, fresh=True)  # aliases: search results do not carry them
        by_version: dict[int, list[str]] = {}
        for alias, number in sorted(state.aliases.items()):
            by_version.setdefault(number, []).append(alias)
        seen: dict[int, dict[str, Any]] = {}
        token: str | None = None
        while True:
            params: list[tuple[str, Any]] = [
                ("filter", f"name={_quote(model)}"),
                ("max_results", self.page_size),
                ("order_by", "version_number DESC"),
            ]
            if token:
                params.append(("page_token", token))
            data = self._json(
                self._call("GET", "model-versions/search", params=params, action="list versions", model=model)
            )
            for mv in data.get("model_versions") or []:
                seen.setdefault(int(mv["version"]), mv)
            token = data.get("next_page_token") or None
            if not token:
                break
        return [
            self._version(model, seen[n], tuple(by_version.get(n, ()))) for n in sorted(seen, reverse=True)
        ]

    def _version(self, model: str, mv: Mapping[str, Any], aliases: tuple[str, ...] | None) -> Version:
        number = int(mv["version"])
        tags = _tags(mv.get("tags"))
        user_tags = {k: v for k, v in tags.items() if not k.startswith((TAG_PREFIX, "mlflow."))}
        tag_metrics: dict[str, float] = {}
        for key, value in user_tags.items():
            number_value = _as_number(value)
            if number_value is not None:
                tag_metrics[key] = number_value
        run_id = str(mv.get("run_id") or "") or None
        if run_id and run_id.startswith("REDACTED"):
            run_id = None
        metrics = _Metrics(
            tag_metrics, (lambda: self._run_metrics(run_id, model, number)) if run_id else None
        )
        lineage, recorded = _lineage(tags.get(INPUTS_TAG))
        created_ms = mv.get("creation_timestamp")
        created = (
            datetime.fromtimestamp(int(created_ms) / 1000, timezone.utc)
            if created_ms
            else datetime.now(timezone.utc)
        )
        return Version(
            model=model,
            number=number,
            created_at=created,
            created_by=str(mv.get("user_id") or "") or None,
            aliases=tuple(
                sorted(aliases if aliases is not None else (str(a) for a in mv.get("aliases") or []))
            ),
            metrics=metrics,
            metadata={k: _decode(v) for k, v in sorted(user_tags.items())},
            lineage=lineage,
            lineage_recorded=recorded,
            source=_source(mv, run_id),
        )

    def _run_metrics(self, run_id: str, model: str, number: int) -> dict[str, float]:
        if run_id not in self._runs:
            try:
                response = self._call(
                    "GET",
                    "runs/get",
                    params={"run_id": run_id},
                    action=f"read the metrics of source run {run_id}",
                    model=model,
                    version=number,
                )
            except NotFound:
                self._runs[run_id] = {}
            else:
                run = self._json(response).get("run") or {}
                metrics = ((run.get("data") or {}).get("metrics")) or []
                self._runs[run_id] = {
                    str(m["key"]): float(m["value"]) for m in metrics if _as_float(m.get("value")) is not None
                }
        return self._runs[run_id]

    def audit_log(self, model: str) -> audit.AuditLog:
        """The chain ending at the head, read from the model's audit segments; plus the write-ahead
        records right after the head whose moves or deletions happened (their job died, or is
        still at work, before committing them: a batch writes up to BATCH_SIZE ahead)."""
        state = self._model(model, fresh=True)
        head = _head(state.tags)
        candidates = self._segment_records(model)
        records = _chain(candidates, head)
        upto = head.seq if head is not None else 0
        while True:
            pick = next(
                (r for r in candidates.get(upto + 1, []) if _links(r, head) and self._happened(state, r)),
                None,
            )
            if pick is None:
                break
            records.append(pick)
            head = audit.head_of(pick)
            upto += 1
        # The rest has no place in the chain. A deletion record whose version still exists was
        # written ahead of a deletion that never happened, and one whose deletion the chain already
        # records was written ahead of a batch cut short and sent again: both are left out.
        # Anything else is shown, so verification names the break.
        recorded = {_int(r.get("version")) for r in records if r.get("kind") == "delete"}
        for seq in sorted(s for s in candidates if s > upto + 1):
            shown = next(
                (
                    r
                    for r in candidates[seq]
                    if not (r.get("kind") == "delete" and _int(r.get("version")) in recorded)
                    and not self._abandoned(state, r)
                ),
                None,
            )
            if shown is not None:
                records.append(shown)
        return audit.AuditLog(model, records, head)

    def _segment_records(self, model: str) -> dict[int, list[dict[str, Any]]]:
        """Every record stored in the model's audit segments, by seq (several when one was orphaned)."""
        found: dict[int, list[dict[str, Any]]] = {}
        for _, tags in self._segments(model, _segment_prefix(model)):
            for seq, record in _records_in(tags):
                if record.get("model", model) == model:
                    found.setdefault(seq, []).append(record)
        return found

    def _segments(self, model: str, prefix: str) -> Iterator[tuple[str, dict[str, str]]]:
        """(name, tags) of every audit segment of ``model`` whose name starts with ``prefix``."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"filter": f"name LIKE {_quote(prefix + '%')}", "max_results": 1000}
            if token:
                params["page_token"] = token
            data = self._json(
                self._call(
                    "GET", "registered-models/search", params=params, action="read the audit log", model=model
                )
            )
            for segment in data.get("registered_models") or []:
                name = str(segment.get("name", ""))
                tags = _tags(segment.get("tags"))
                # LIKE's '_' matches any character, and model "a"'s prefix is also model "a.b"'s.
                if name.startswith(prefix) and tags.get("aliasgate.audit.of", model) == model:
                    yield name, tags
            token = data.get("next_page_token") or None
            if not token:
                return

    # -- writes ---------------------------------------------------------------------------------------

    def apply(self, ops: Sequence[AliasOp], records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Each op under its model's lock: re-read, check, record, move, commit (not one transaction)."""
        if len(ops) != len(records):
            raise ValueError("one audit record per op")
        return [self._move(op, body) for op, body in zip(ops, records, strict=True)]

    def _move(self, op: AliasOp, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._locked(op.model) as (lease, state):
            current = state.aliases.get(op.alias)
            if current != op.expected:
                raise conflict(op.model, op.alias, op.expected, current)
            sealed = audit.seal(body, _head(state.tags))
            written = self._write_record(lease, op.model, sealed, _head_segment(state.tags))
            try:
                if op.target is None:
                    self._guarded(
                        lease, "DELETE", "registered-models/alias", {"name": op.model, "alias": op.alias},
                        need="MANAGE", action=f"remove alias {op.alias!r}", model=op.model,
                    )  # fmt: skip
                else:
                    self._set_alias(lease, op)
            except AliasgateError:
                self._drop_record(lease, written, sealed)
                raise
            self._commit(lease, op.model, sealed, written[0])
            return sealed

    def _set_alias(self, lease: _Lease, op: AliasOp) -> None:
        assert op.target is not None
        for attempt in range(1, UNIQUE_RETRIES + 1):
            try:
                self._guarded(
                    lease, "POST", "registered-models/alias",
                    {"name": op.model, "alias": op.alias, "version": str(op.target)},
                    need="EDIT", action=f"set alias {op.alias!r}", model=op.model, version=op.target,
                )  # fmt: skip
                return
            except RegistryError as exc:
                # Concurrent first creation of an alias: MLflow's store SELECTs, then INSERTs.
                if attempt == UNIQUE_RETRIES or not any(m in str(exc) for m in _UNIQUE_MARKERS):
                    raise
                time.sleep(0.05 * attempt * (0.5 + random.random()))

    def delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        """Delete a version unless it holds an alias now (re-read under the lock); needs MANAGE."""
        with self._locked(model, linger=True) as (lease, state):
            held = sorted(a for a, v in state.aliases.items() if v == number)
            if held:
                raise still_held(model, number, held)
            sealed = audit.seal({**record, "version": record.get("version", number)}, _head(state.tags))
            written = self._write_record(lease, model, sealed, _head_segment(state.tags))
            try:
                self._guarded(
                    lease, "DELETE", "model-versions/delete", {"name": model, "version": str(number)},
                    need="MANAGE", action=f"delete version {number}", model=model, version=number,
                )  # fmt: skip
            except AliasgateError:
                self._drop_record(lease, written, sealed)
                raise
            self._commit(lease, model, sealed, written[0])
            return sealed

    def delete_versions(
        self, model: str, numbers: Sequence[int], records: Sequence[Mapping[str, Any]]
    ) -> list[DeleteResult]:
        """Delete several versions of one model under one lock, in order (see "Deleting in
        batches" in docs/backends/mlflow.md). One version goes the way of ``delete_version``."""
        if len(numbers) != len(records):
            raise ValueError("one audit record per version")
        if len(numbers) == 1:  # its record goes into the account's page segment, not a new one
            try:
                return [self.delete_version(model, numbers[0], records[0])]
            except AliasgateError as exc:
                return [exc]
        with self._locked(model, linger=True) as (lease, state):
            return self._delete_batch(lease, state, numbers, records)

    def _delete_batch(
        self, lease: _Lease, state: _ModelState, numbers: Sequence[int], records: Sequence[Mapping[str, Any]]
    ) -> list[DeleteResult]:
        """Seal every record after the head, store them all in one new segment (write-ahead), then
        delete one version after another, each right after re-reading its aliases.

        Deletions run strictly in order and the first one that does not happen ends the batch, so
        the deletions that happened are always a prefix of the records: committing is writing the
        head at the last of them, and no record is ever re-sealed. What the batch did not reach
        comes back as None (the caller sends it again)."""
        model = state.name
        results: list[DeleteResult] = [None] * len(numbers)
        base = _head(state.tags)
        todo: list[int] = []
        for i, number in enumerate(numbers):
            held = _held(state, number)
            if held:
                results[i] = still_held(model, number, held)
            else:
                todo.append(i)
        if not todo:
            return results
        sealed: list[dict[str, Any]] = []
        head = base
        for i in todo:
            record = audit.seal({**records[i], "version": records[i].get("version", numbers[i])}, head)
            sealed.append(record)
            head = audit.head_of(record)
        segment = self._write_batch(lease, model, sealed)  # raises: nothing deleted, nothing stored
        try:
            done, unknown = self._delete_in_order(
                lease,
                state,
                [(i, numbers[i], record) for i, record in zip(todo, sealed, strict=True)],
                results,
            )
        except BaseException:
            lease.abandoned = True  # whatever happened, the next holder settles it from the records
            raise
        if unknown:
            # Whether the last deletion happened is not known: leave the head and the lock as they
            # are; whoever takes the lock over next settles the batch from its records, keeping
            # exactly those whose versions are gone.
            lease.abandoned = True
            return results
        if done:
            try:
                self._commit(lease, model, sealed[done - 1], segment)
            except AliasgateError:
                return results  # stored and happened: the next holder of the lock commits them
        self._drop_batch(lease, segment, sealed[done:], whole=done == 0)
        return results

    def _delete_in_order(
        self,
        lease: _Lease,
        state: _ModelState,
        jobs: Sequence[tuple[int, int, dict[str, Any]]],
        results: list[DeleteResult],
    ) -> tuple[int, bool]:
        """Delete each job's version (result index, number, its sealed record) one after another,
        each re-read with at most one other deletion in between (PAIRED_RECHECK_UP_TO), and stop at
        the first that does not happen. Answers how many happened, and whether the outcome of the
        one it stopped at is unknown."""
        model = state.name
        paired = (state.latest or 0) <= PAIRED_RECHECK_UP_TO
        for done, (i, number, record) in enumerate(jobs):
            if lease.remaining() < lease.ttl / 4:
                return done, False  # keep a quarter of the lease to commit in; the rest is sent again
            try:
                if not paired:
                    held = self._aliases_of(lease, model, number)
                else:
                    if done % 2 == 0:  # the model's aliases, for this version and the next
                        state = self._model(model, fresh=True, timeout=lease.timeout())
                    held = _held(state, number)
            except NotFound as exc:
                results[i] = exc  # gone already: someone else's deletion, not ours to record
                return done, False
            except AliasgateError:
                return done, False  # the rest is sent again
            if held:
                results[i] = still_held(model, number, held)
                return done, False
            refused = self._delete_batched(lease, model, number)
            if refused is not None:
                results[i] = refused
                return done, isinstance(refused, _OutcomeUnknown)
            results[i] = record
        return len(jobs), False

    def _write_batch(self, lease: _Lease, model: str, sealed: Sequence[Mapping[str, Any]]) -> str:
        """Create a segment holding every record of the batch: one request, whatever the count."""
        account = self._account_key()
        segment = f"{_segment_prefix(model)}{account}.{BATCH_MARK}{sealed[0]['seq']}-{uuid.uuid4().hex[:8]}"
        tags: dict[str, str] = {}
        for record in sealed:
            values = _encode_record(record)
            tags.update(zip(_record_keys(int(record["seq"]), len(values)), values, strict=True))
        try:
            self._guarded(
                lease, "POST", "registered-models/create", _segment_body(model, segment, tags),
                need="EDIT", action=f"create the audit segment {segment!r}", model=model, created=True,
            )  # fmt: skip
        except AuthError:
            raise AuthError(
                f"{self.credentials.account} may not create registered models, which aliasgate needs for the "
                f"audit segment {segment!r} of {model!r} (403); nothing was changed",
                model=model,
                hint="aliasgate keeps audit records in registered models it creates next to the model",
            ) from None
        return segment

    def _aliases_of(self, lease: _Lease, model: str, number: int) -> list[str]:
        """The version's aliases now: ``model-versions/get`` costs the same however many versions
        the model has (``registered-models/get`` grows with them: 16 ms at 1,000, 28 ms at 3,000)."""
        response = self._call(
            "GET", "model-versions/get", params={"name": model, "version": str(number)},
            action="re-read the version's aliases", model=model, version=number, timeout=lease.timeout(),
        )  # fmt: skip
        mv = self._json(response).get("model_version") or {}
        return sorted(str(a) for a in mv.get("aliases") or [])

    def _delete_batched(self, lease: _Lease, model: str, number: int) -> AliasgateError | None:
        """Delete one version of a batch: None when it happened, else why not."""
        try:
            self._guarded(
                lease, "DELETE", "model-versions/delete", {"name": model, "version": str(number)},
                need="MANAGE", action=f"delete version {number}", model=model, version=number,
            )  # fmt: skip
            return None
        except (NotFound, AuthError) as exc:
            return exc  # refused, or gone already (someone else's deletion: not ours to record)
        except AliasgateError as exc:
            refused = exc
        # Refused, or no answer after retries: whether it happened decides whether its record stays.
        try:
            self._call(
                "GET", "model-versions/get", params={"name": model, "version": str(number)},
                action="check a deletion", model=model, version=number, timeout=lease.timeout(),
            )  # fmt: skip
        except NotFound:
            return None  # it happened; the answer was lost
        except AliasgateError:
            return _OutcomeUnknown(
                f"the MLflow server did not confirm deleting version {number} ({refused}); the next "
                "aliasgate command on this model keeps its audit record if it is gone",
                model=model,
                version=number,
            )
        return refused

    def _drop_batch(
        self, lease: _Lease, segment: str, unused: Sequence[Mapping[str, Any]], *, whole: bool
    ) -> None:
        """Best effort: remove records written ahead of moves or deletions that did not happen
        (readers leave them out anyway), or the whole segment when it holds nothing else."""
        with suppress(AliasgateError):
            if whole:
                self._guarded(
                    lease, "DELETE", "registered-models/delete", {"name": segment},
                    need="MANAGE", action="remove an unused audit segment", model=segment,
                )  # fmt: skip
                return
            for record in unused:
                self._guarded(
                    lease, "DELETE", "registered-models/delete-tag",
                    {"name": segment, "key": f"{AUDIT_PREFIX}{record['seq']}"},
                    need="EDIT", action="remove an unused audit record", model=segment,
                )  # fmt: skip

    # -- audit segments -----------------------------------------------------------------------------------

    def _account_key(self) -> str:
        """Whose segments we write: MLflow makes a model's creator its MANAGE holder, so each account
        writes only to segments it created. Servers without auth share one set."""
        if self.credentials.username:
            return _safe(self.credentials.username)
        if self.credentials.token:
            me = self.whoami()
            return _safe(me.name) if me.authenticated else "shared"
        return "shared"

    def _write_record(
        self, lease: _Lease, model: str, sealed: Mapping[str, Any], head_segment: str | None
    ) -> tuple[str, bool]:
        """Store the record in this account's segment for its seq: (segment, created by this call)."""
        seq = int(sealed["seq"])
        segment = _segment_name(model, self._account_key(), (seq - 1) // SEGMENT_SIZE)
        values = _encode_record(sealed)
        keys = _record_keys(seq, len(values))
        what = f"write audit record #{seq}"
        if segment != head_segment and self._create_segment(
            lease, model, segment, dict(zip(keys, values, strict=True))
        ):
            return segment, True  # created with the record in it: one request
        # Continuation parts first, the main tag last: a reader never sees half a record.
        for key, value in reversed(list(zip(keys, values, strict=True))):
            self._guarded(
                lease, "POST", "registered-models/set-tag", {"name": segment, "key": key, "value": value},
                need="EDIT", action=what, model=model,
            )  # fmt: skip
        return segment, False

    def _create_segment(self, lease: _Lease, model: str, segment: str, tags: Mapping[str, str]) -> bool:
        # No answer counts as not created: setting the tags next is idempotent either way.
        created = self._create_beside(
            lease, _segment_body(model, segment, tags), model=model, what=f"the audit segment {segment!r}",
            why="aliasgate keeps audit records in registered models it creates next to the model",
        )  # fmt: skip
        return bool(created)

    def _create_beside(
        self, lease: _Lease, body: Mapping[str, Any], *, model: str, what: str, why: str
    ) -> bool | None:
        """Create a registered model next to ``model`` (its lock, an audit segment): True when
        created, False when it exists already, None when no answer came (it may exist now)."""
        try:
            response = self.transport.request(
                "POST",
                f"{API}/registered-models/create",
                json=body,
                idempotent=False,
                timeout=lease.timeout(),
            )
        except RegistryError:
            return None
        if response.status_code < 300:
            return True
        code, _ = _mlflow_error(response)
        if code in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
            # The second: MLflow's store hit the duplicate, then could not re-read it because its
            # creator deleted it meanwhile (create -> IntegrityError -> get -> 404).
            return False
        if response.status_code == 403:
            raise AuthError(
                f"{self.credentials.account} may not create registered models, which aliasgate needs for "
                f"{what} (403); nothing was changed",
                model=model,
                hint=f"{why}; allow this account to create registered models",
            )
        raise self._error(response, need="EDIT", action=f"create {what}", model=model, version=None)

    def _commit(self, lease: _Lease, model: str, sealed: Mapping[str, Any], segment: str) -> None:
        """Write the head after the move or deletion happened. If that fails, the lock is left to
        expire instead of being released: whoever takes it over then settles the record (a
        released lock would let the next job write its own record over this one's place)."""
        try:
            self._write_head(lease, model, sealed, segment)
        except BaseException:
            lease.abandoned = True
            raise

    def _write_head(self, lease: _Lease, model: str, sealed: Mapping[str, Any], segment: str) -> None:
        head = {**audit.head_of(sealed).as_dict(), "segment": segment}
        self._guarded(
            lease, "POST", "registered-models/set-tag",
            {"name": model, "key": HEAD_TAG, "value": audit.canonical(head)},
            need="EDIT", action="write the audit head", model=model,
        )  # fmt: skip
        self._models.pop(model, None)

    def _drop_record(self, lease: _Lease, written: tuple[str, bool], sealed: Mapping[str, Any]) -> None:
        """Best effort after a refused move: remove the write-ahead record (it is off the chain
        anyway), and the segment too when it was made for it, so a refused move leaves nothing."""
        segment, created = written
        self._drop_batch(lease, segment, [sealed], whole=created)

    def _settle(self, lease: _Lease, state: _ModelState, crashed: Sequence[str]) -> _ModelState:
        """Under the lock, after taking over stale locks of ``crashed`` accounts: a holder that died
        after writing ahead and before the head leaves record head+1 in its page segment (one
        move or deletion), or records head+1.. in a batch segment named after head+1. A record's
        move happened iff the alias is where it says (a deletion: the version is gone). The head
        advances over the records that happened, in order; the others stay off the chain."""
        model = state.name
        head = _head(state.tags)
        seq = (head.seq if head else 0) + 1
        found: dict[int, list[tuple[dict[str, Any], str]]] = {}
        batches: dict[str, list[int]] = {}  # batch segment -> the seqs it holds
        for account in dict.fromkeys(crashed):
            page = _segment_name(model, account, (seq - 1) // SEGMENT_SIZE)
            segment = self._other_model(page, model, "read an audit segment")
            record = None if segment is None else _read_record(_tags(segment[1].get("tags")), seq)
            if record is not None:
                found.setdefault(seq, []).append((record, page))
            for name, tags in self._segments(model, f"{_segment_prefix(model)}{account}.{BATCH_MARK}{seq}-"):
                for number, record in _records_in(tags):
                    found.setdefault(number, []).append((record, name))
                    batches.setdefault(name, []).append(number)
        last: tuple[dict[str, Any], str] | None = None
        while True:
            upto = head.seq if head else 0
            pick = next(
                (
                    (r, seg)
                    for r, seg in found.get(upto + 1, [])
                    if _links(r, head) and self._happened(state, r)
                ),
                None,
            )
            if pick is None:
                break
            last, head = pick, audit.head_of(pick[0])
        if last is not None:
            self._write_head(lease, model, *last)
        self._drop_unsettled(lease, model, batches, head.seq if head else 0)
        return self._model(model, fresh=True) if last is not None else state

    def _drop_unsettled(
        self, lease: _Lease, model: str, batches: Mapping[str, Sequence[int]], upto: int
    ) -> None:
        """After settling: the records past the head in our own account's batch segments were
        written ahead of deletions that did not happen; remove them (best effort: readers leave
        them out anyway), so the segment holds only what the chain may point at."""
        mine = f"{_segment_prefix(model)}{self._account_key()}.{BATCH_MARK}"
        for segment, seqs in batches.items():
            unused = [{"seq": n} for n in sorted(seqs) if n > upto]
            if segment.startswith(mine) and unused:
                self._drop_batch(lease, segment, unused, whole=len(unused) == len(seqs))

    def _happened(self, state: _ModelState, record: Mapping[str, Any]) -> bool:
        if record.get("kind") == "delete":
            number = _int(record.get("version"))
            if number is None:
                number = _int(record.get("from"))
            if number is None:
                return False
            try:
                self.version(state.name, number)
            except NotFound:
                return True
            return False
        return state.aliases.get(str(record.get("alias"))) == record.get("to")

    def _abandoned(self, state: _ModelState, record: Mapping[str, Any]) -> bool:
        """A deletion record whose version still exists: written ahead of a deletion that did
        not happen (a batch cut short, a job that died before deleting)."""
        return record.get("kind") == "delete" and not self._happened(state, record)

    # -- the lock -------------------------------------------------------------------------------------

    def _guarded(
        self,
        lease: _Lease,
        method: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        need: str,
        action: str,
        model: str,
        version: int | None = None,
        created: bool = False,
    ) -> None:
        """A write under the lock: sent only while the lease outlasts its timeout, retried within it.

        Every such write is idempotent while we hold the lock (same tag value, same alias
        target), so repeating one whose answer was lost or refused as overload is safe.
        ``created``: the write creates a model named uniquely by this call, so "already exists"
        on a retry means an earlier attempt, whose answer was lost, did it.
        """
        for attempt in range(1, 5):
            timeout = lease.timeout()
            try:
                response = self._single.request(
                    method, f"{API}/{endpoint}", json=body, idempotent=True, timeout=timeout
                )
            except RegistryError:
                if attempt == 4:
                    raise
            else:
                if response.status_code < 300:
                    return
                if response.status_code == 404 and method == "DELETE" and attempt > 1:
                    return  # an earlier attempt, whose answer was lost, did it
                if created and attempt > 1 and _mlflow_error(response)[0] == "RESOURCE_ALREADY_EXISTS":
                    return
                if response.status_code not in (429, 502, 503, 504) or attempt == 4:
                    raise self._error(response, need=need, action=action, model=model, version=version)
            time.sleep(min(0.2 * 2**attempt, 2.0) * (0.5 + random.random()))

    @contextmanager
    def _locked(self, model: str, *, linger: bool = False) -> Iterator[tuple[_Lease, _ModelState]]:
        """Hold the model's lock for the body, with the model re-read under it and settled.

        ``linger`` keeps the server lock after the body for the next call on the model (a
        cleanup deletes one version after another), until ``close()`` or half its lease is used.
        """
        with self._local_guard:
            local = self._local_locks.setdefault(model, threading.Lock())
            self._waiting[model] = self._waiting.get(model, 0) + 1
        with local:
            with self._local_guard:
                self._waiting[model] -= 1
            with self._server_lock(model, linger) as held:
                yield held

    @contextmanager
    def _server_lock(self, model: str, linger: bool) -> Iterator[tuple[_Lease, _ModelState]]:
        known = self._models.get(model)
        gen = (_int(known.tags.get(GEN_TAG)) if known else None) or 0
        while True:
            handed = self._handed.pop(model, None)
            if handed is not None and handed.remaining() > handed.ttl / 2:
                lease, crashed = handed, list[str]()  # the previous thread's lease: no create, no delete
            else:
                if handed is not None:
                    self._release(handed)
                lease, crashed = self._acquire(model, gen)
            try:
                state = self._model(model, fresh=True)
                tag_gen = _int(state.tags.get(GEN_TAG)) or 0
                if tag_gen > lease.gen:
                    # Someone took over a stale lock past ours: join the newest generation.
                    self._release(lease)
                    gen = tag_gen
                    continue
                if crashed:
                    state = self._settle(lease, state, crashed)
            except BaseException:
                self._release(lease)
                raise
            break
        ok = False
        try:
            yield lease, state
            ok = True
        finally:
            with self._local_guard:
                queued = self._waiting.get(model, 0)
            if not lease.abandoned and (queued or (linger and ok)) and lease.remaining() > lease.ttl / 2:
                self._handed[model] = lease  # the next call on this model keeps the lock
            else:
                self._release(lease)

    def _acquire(self, model: str, gen: int) -> tuple[_Lease, list[str]]:
        """Our lease, and the accounts whose stale locks we stepped over (their jobs died holding them)."""
        deadline = time.monotonic() + self.settings.lock_wait
        delay = 0.05
        recheck_at = 0.0  # when the holder's lease may have run out, on our clock
        holder = "unknown owner"
        passed: int | None = None  # the stale generation we stepped over, if any
        crashed: list[str] = []
        while True:
            lease = _Lease(
                model, gen, _lock_name(model, gen), uuid.uuid4().hex, self.settings.lock_ttl, time.monotonic()
            )
            if self._create_lock(lease):
                if passed is not None:
                    self._after_takeover(lease, passed)
                return lease, crashed
            now = time.monotonic()
            if now >= recheck_at:
                info = self._lock_info(lease.name, model)
                if info is None and now < deadline:
                    continue  # released meanwhile: try again at once
                holder, remaining, account = info if info is not None else (holder, 1.0, None)
                if remaining <= 0:
                    # Stale: never delete another's lock; take the next generation instead.
                    passed, gen, recheck_at = gen, gen + 1, 0.0
                    if account:
                        crashed.append(account)
                    continue
                recheck_at = now + remaining
            if now >= deadline:
                raise Conflict(
                    f"{model}: another promotion holds the lock {lease.name!r} ({holder}); "
                    f"gave up after {self.settings.lock_wait:g} s",
                    model=model,
                )
            time.sleep(min(delay, max(0.0, deadline - now)) * (0.5 + random.random()))
            delay = min(delay * 1.6, 1.0)

    def _create_lock(self, lease: _Lease) -> bool:
        tags = {
            "aliasgate.lock.model": lease.model,
            "aliasgate.lock.owner": _owner(self),
            "aliasgate.lock.account": self._account_key(),
            "aliasgate.lock.token": lease.token,
            "aliasgate.lock.ttl": f"{lease.ttl:g}",
            "aliasgate.lock.since": iso(datetime.now(timezone.utc)),
        }
        body = {
            "name": lease.name,
            "description": f"aliasgate lock for {lease.model!r}, held while one promotion moves an alias. "
            "Its holder deletes it; one left by a crashed job expires after its ttl and is skipped.",
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        created = self._create_beside(
            lease, body, model=lease.model, what=f"the lock {lease.name!r}",
            why="aliasgate locks a model by creating a registered model next to it",
        )  # fmt: skip
        if created is None:
            # No answer: the server may have created it. It is ours iff it carries our token.
            info = self._lock_tags(lease.name, lease.model)
            return info is not None and info.get("aliasgate.lock.token") == lease.token
        return created

    def _other_model(
        self, name: str, model: str, action: str
    ) -> tuple[requests.Response, dict[str, Any]] | None:
        """The answer and the registered model of a lock or audit segment of ``model``, or None
        when there is no such model (gone, or never made)."""
        try:
            response = self._call(
                "GET", "registered-models/get", params={"name": name}, action=action, model=model
            )
        except NotFound:
            return None
        return response, self._json(response).get("registered_model") or {}

    def _lock_tags(self, name: str, model: str) -> dict[str, str] | None:
        found = self._other_model(name, model, f"read the lock {name!r}")
        return None if found is None else _tags(found[1].get("tags"))

    def _lock_info(self, name: str, model: str) -> tuple[str, float, str | None] | None:
        """(owner, seconds of lease left on the server's clock, account key), or None when it is gone."""
        found = self._other_model(name, model, f"read the lock {name!r}")
        if found is None:
            return None
        response, rm = found
        tags = _tags(rm.get("tags"))
        ttl = _as_float(tags.get("aliasgate.lock.ttl")) or self.settings.lock_ttl
        created = (_as_float(rm.get("creation_timestamp")) or 0.0) / 1000
        now = _server_time(response) or time.time()
        owner = tags.get("aliasgate.lock.owner", "unknown owner")
        return owner, created + ttl - now, tags.get("aliasgate.lock.account")

    def _after_takeover(self, lease: _Lease, passed: int) -> None:
        """Record our generation on the model first, then remove the stale lock we passed if we may.

        The order matters: a job that still aims at the old generation and creates it after
        the removal reads the new generation under its lock and steps up (see ``_locked``).
        """
        try:
            self._guarded(
                lease, "POST", "registered-models/set-tag",
                {"name": lease.model, "key": GEN_TAG, "value": str(lease.gen)},
                need="EDIT", action="record the lock generation", model=lease.model,
            )  # fmt: skip
        except NotFound:
            return  # no such model: the caller's re-read reports it
        self._models.pop(lease.model, None)
        stale = _lock_name(lease.model, passed)
        with suppress(AuthError, NotFound):  # another account's stale lock stays, skipped by generation
            self._call(
                "DELETE", "registered-models/delete", body={"name": stale}, need="MANAGE",
                action=f"delete the stale lock {stale!r}", model=lease.model, idempotent=True,
                timeout=lease.timeout(),
            )  # fmt: skip

    def _release(self, lease: _Lease) -> None:
        if lease.abandoned or not lease.safe():
            return  # left for a takeover to settle, or maybe another's by now: let it expire
        with suppress(AliasgateError):  # gone already, or it expires on its own; the move is settled
            self._call(
                "DELETE", "registered-models/delete", body={"name": lease.name}, need="MANAGE",
                action=f"release the lock {lease.name!r}", model=lease.model, idempotent=True,
                timeout=lease.timeout(),
            )  # fmt: skip


# -- the lease ------------------------------------------------------------------------------------------


@dataclass
class _Lease:
    model: str
    gen: int
    name: str
    token: str
    ttl: float
    started: float  # local monotonic clock, read before the create request was sent
    abandoned: bool = False  # left to expire: its holder could not commit, the next one settles

    def remaining(self) -> float:
        return self.ttl - (time.monotonic() - self.started)

    def timeout(self) -> tuple[float, float]:
        """A (connect, read) timeout that ends well inside the lease; an error when none is left."""
        connect, read = default_timeout()
        read = min(read, (self.remaining() - 1.0) / 2)
        if read < 0.25:
            raise RegistryError(
                f"the lock on {self.model} ran out before the move finished (lease {self.ttl:g} s); "
                "nothing more was sent",
                model=self.model,
                hint="raise PROMOTE_MLFLOW_LOCK_TTL if the MLflow server is this slow",
            )
        return (min(connect, read), read)

    def safe(self) -> bool:
        return (self.remaining() - 1.0) / 2 >= 0.25


# -- helpers -------------------------------------------------------------------------------------------


@dataclass
class _Metrics(Mapping[str, float]):
    """Version-tag metrics first; the source run's metrics fetched only when a lookup needs them."""

    tags: dict[str, float]
    loader: Callable[[], dict[str, float]] | None
    _merged: dict[str, float] | None = field(default=None, repr=False)

    def _all(self) -> dict[str, float]:
        if self._merged is None:
            run = self.loader() if self.loader is not None else {}
            self._merged = {**run, **self.tags}
        return self._merged

    def __getitem__(self, key: str) -> float:
        if key in self.tags:
            return self.tags[key]
        return self._all()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.tags or key in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _tags(raw: Any) -> dict[str, str]:
    return {
        str(t["key"]): str(t.get("value", "")) for t in raw or [] if isinstance(t, Mapping) and "key" in t
    }


def _mlflow_error(response: requests.Response) -> tuple[str, str]:
    try:  # redacted before cut: a cut secret would leave its prefix
        data = response.json()
    except ValueError:
        return "", secrets.redact(response.text.strip())[:300]
    if isinstance(data, dict):
        return str(data.get("error_code") or ""), secrets.redact(str(data.get("message") or ""))[:500]
    return "", secrets.redact(response.text.strip())[:300]


def _server_time(response: requests.Response) -> float | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _quote(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise InvalidInput(f"model name {value!r} has both quote characters; MLflow's search cannot name it")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_number(text: str) -> float | None:
    return _as_float(text.strip()) if text.strip() else None


def _decode(text: str) -> Any:
    """Tag values are strings; JSON numbers, booleans, lists and objects become values again."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") or stripped in ("true", "false", "null") or _as_float(stripped) is not None:
        try:
            value = json.loads(stripped)
        except ValueError:
            return text
        return value
    return text


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _lineage(raw: str | None) -> tuple[tuple[VersionId, ...], bool]:
    if raw is None:
        return (), False
    items: list[str]
    stripped = raw.strip()
    if stripped.startswith("["):
        try:
            items = [str(x) for x in json.loads(stripped)]
        except ValueError:
            return (), False
    else:
        items = [p for p in stripped.replace(",", " ").split() if p]
    try:
        return tuple(sorted(VersionId.parse(i) for i in items)), True
    except AliasgateError:
        return (), False


def _source(mv: Mapping[str, Any], run_id: str | None) -> str | None:
    parts = []
    if run_id:
        parts.append(f"run {run_id}")
    model_id = mv.get("model_id")
    if model_id:
        parts.append(f"logged model {model_id}")
    source = str(mv.get("source") or "")
    shown = (run_id and source.startswith(f"runs:/{run_id}")) or (model_id and str(model_id) in source)
    if source and not source.startswith("REDACTED") and not shown:
        parts.append(source)
    return ", ".join(parts) or None


def _lock_name(model: str, gen: int) -> str:
    name = f"{LOCK_PREFIX}{model}.{gen}"
    if len(name) <= 256:
        return name
    import hashlib

    return f"{LOCK_PREFIX}{hashlib.sha256(model.encode()).hexdigest()[:40]}.{gen}"


def _owner(reg: MlflowRegistry) -> str:
    who = reg.credentials.username or os.environ.get("PROMOTE_PRINCIPAL") or _os_user()
    run = os.environ.get("GITHUB_RUN_ID")
    where = f" (GitHub run {run})" if run else ""
    return f"{who}@{socket.gethostname()} pid {os.getpid()}{where}"


def _os_user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # pragma: no cover
        return os.environ.get("USER") or "unknown"


def _encode_record(sealed: Mapping[str, Any]) -> list[str]:
    """One tag value when it fits (plain JSON, else ``z:`` zlib+base64), else ``zN:`` parts."""
    text = audit.canonical(sealed)
    if len(text) <= TAG_LIMIT:
        return [text]
    packed = base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")
    if len(packed) + 2 <= TAG_LIMIT:
        return ["z:" + packed]
    size = TAG_LIMIT - 16
    chunks = [packed[i : i + size] for i in range(0, len(packed), size)]
    return [f"z{len(chunks)}:" + chunks[0], *chunks[1:]]


def _read_record(tags: Mapping[str, str], seq: int) -> dict[str, Any] | None:
    """The record stored at ``seq``; an unreadable one comes back as a stub that fails verification."""
    value = tags.get(f"{AUDIT_PREFIX}{seq}")
    if value is None:
        return None
    try:
        if value.startswith("{"):
            text = value
        elif value.startswith("z:"):
            text = zlib.decompress(base64.b64decode(value[2:])).decode("utf-8")
        elif value.startswith("z") and ":" in value:
            count_text, _, first = value[1:].partition(":")
            parts = [first] + [tags[f"{AUDIT_PREFIX}{seq}.{i}"] for i in range(1, int(count_text))]
            text = zlib.decompress(base64.b64decode("".join(parts))).decode("utf-8")
        else:
            raise ValueError("unknown encoding")
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("not an object")
        return record
    except (ValueError, KeyError, zlib.error):
        return {"seq": seq, "hash": None, "unreadable": f"tag {AUDIT_PREFIX}{seq} cannot be decoded"}


def _links(record: Mapping[str, Any], head: audit.Head | None) -> bool:
    """An intact record that continues the chain right after ``head``."""
    return (
        record.get("hash") == audit.digest(record)
        and record.get("seq") == (head.seq if head else 0) + 1
        and record.get("prev") == (head.hash if head else None)
    )


def _chain(
    candidates: Mapping[int, Sequence[dict[str, Any]]], head: audit.Head | None
) -> list[dict[str, Any]]:
    """Records 1..head, walking back from the head by hash: where a seq has several records (one
    orphaned by a job that died before committing), the one the chain points at wins."""
    chosen: dict[int, dict[str, Any]] = {}
    expected = head.hash if head else None
    for seq in range(head.seq if head else 0, 0, -1):
        options = candidates.get(seq, [])
        pick = next((r for r in options if r.get("hash") == expected), options[0] if options else None)
        if pick is None:
            expected = None  # missing: verification names it
            continue
        chosen[seq] = pick
        expected = pick.get("prev")
    return [chosen[seq] for seq in sorted(chosen)]


def _safe(name: str) -> str:
    """An account name usable inside a model name (no '/' or ':'), stable and short."""
    cleaned = "".join(c if c.isalnum() or c in "-_@" else "_" for c in name)[:64]
    if cleaned == name:
        return name
    import hashlib

    return f"{cleaned}~{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _segment_prefix(model: str) -> str:
    prefix = f"{SEGMENT_PREFIX}{model}."
    if len(prefix) <= 160:
        return prefix
    import hashlib

    return f"{SEGMENT_PREFIX}{hashlib.sha256(model.encode()).hexdigest()[:40]}."


def _segment_body(model: str, segment: str, tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": segment,
        "description": f"aliasgate audit records of {model!r} (hash-chained; the head is the tag "
        f"{HEAD_TAG} on {model!r}). Do not edit: `promote history --verify` reports any change.",
        "tags": [
            {"key": "aliasgate.audit.of", "value": model},
            *({"key": k, "value": v} for k, v in tags.items()),
        ],
    }


def _record_keys(seq: int, parts: int) -> list[str]:
    return [f"{AUDIT_PREFIX}{seq}" if i == 0 else f"{AUDIT_PREFIX}{seq}.{i}" for i in range(parts)]


def _records_in(tags: Mapping[str, str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(seq, record) of every record stored in one segment's tags."""
    for key in tags:
        seq = _int(key[len(AUDIT_PREFIX) :]) if key.startswith(AUDIT_PREFIX) else None
        record = _read_record(tags, seq) if seq is not None else None
        if seq is not None and record is not None:
            yield seq, record


def _held(state: _ModelState, number: int) -> list[str]:
    return sorted(a for a, v in state.aliases.items() if v == number)


class _OutcomeUnknown(RegistryError):
    """A deletion neither confirmed nor refused: its record is settled by the next lock holder."""


def _segment_name(model: str, account: str, page: int) -> str:
    """``aliasgate-audit.<model>.<account>.<page>``: records (page*SIZE, (page+1)*SIZE] by one account."""
    return f"{_segment_prefix(model)}{account}.{page}"


def _head_segment(tags: Mapping[str, str]) -> str | None:
    try:
        segment = json.loads(tags.get(HEAD_TAG) or "{}").get("segment")
    except (ValueError, AttributeError):
        return None
    return str(segment) if segment else None


def _head(tags: Mapping[str, str]) -> audit.Head | None:
    raw = tags.get(HEAD_TAG)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return audit.Head(int(data["seq"]), str(data["hash"]))
    except (ValueError, KeyError, TypeError):
        return audit.Head(0, "unreadable")
