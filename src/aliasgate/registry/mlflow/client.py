"""The MLflow REST client: one request, its answer on 2xx, else the error the status means."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aliasgate import secrets
from aliasgate.errors import AliasgateError, AuthError, InvalidInput, NotFound, RegistryError
from aliasgate.registry.http import RetryPolicy, Transport
from aliasgate.registry.mlflow.settings import Credentials

if TYPE_CHECKING:  # pragma: no cover
    import requests

API = "/api/2.0/mlflow"
# A read changes nothing, so a 500 (MLflow's answer to a database hiccup) is retried like a 503.
READ_RETRY_STATUSES = frozenset({500})
# Writes under the lock: every one is idempotent while the lock is held; the lease bounds the total.
GUARDED_RETRY = RetryPolicy(attempts=4, backoff=0.4, max_wait=2.0)


class RestClient:
    """Requests to one MLflow server as one account; errors name the account, never the secret."""

    def __init__(self, base_url: str, credentials: Credentials, transport: Transport) -> None:
        self.base_url = base_url
        self.credentials = credentials
        self.transport = transport

    def guarded(
        self,
        timeout: Callable[[], tuple[float, float]],
        method: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        need: str,
        action: str,
        model: str,
        version: int | None = None,
        created: bool = False,
        retry_when: Callable[[requests.Response], bool] | None = None,
    ) -> None:
        """A write under the lock: sent only while the lease outlasts its timeout, retried within it.

        Every such write is idempotent while we hold the lock (same tag value, same alias
        target), so repeating one whose answer was lost or refused as overload is safe.
        ``created``: the write creates a model named uniquely by this call, so "already exists"
        on a retry means an earlier attempt, whose answer was lost, did it.
        """
        sent = self.transport.send(
            method, f"{API}/{endpoint}", json=body, idempotent=True, timeout=timeout,
            retry=GUARDED_RETRY, retry_when=retry_when,
        )  # fmt: skip
        response = sent.response
        if response.status_code < 300:
            return
        if sent.attempts > 1 and response.status_code == 404 and method == "DELETE":
            return  # an earlier attempt, whose answer was lost, did it
        if sent.attempts > 1 and created and mlflow_error(response)[0] == "RESOURCE_ALREADY_EXISTS":
            return
        raise self.error(response, need=need, action=action, model=model, version=version)

    def call(
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
            retry_statuses=READ_RETRY_STATUSES if method == "GET" else frozenset(),
        )
        if response.status_code < 300:
            return response
        raise self.error(response, need=need, action=action, model=model, version=version)

    def json(self, response: requests.Response) -> dict[str, Any]:
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

    def error(
        self, response: requests.Response, *, need: str, action: str, model: str | None, version: int | None
    ) -> AliasgateError:
        status = response.status_code
        code, message = mlflow_error(response)
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

    def create_beside(
        self, body: Mapping[str, Any], *, model: str, what: str, why: str, timeout: tuple[float, float]
    ) -> bool | None:
        """Create a registered model next to ``model`` (its lock, an audit segment): True when
        created, False when it exists already, None when no answer (or a 5xx) came: it may exist now."""
        try:
            response = self.transport.request(
                "POST",
                f"{API}/registered-models/create",
                json=body,
                idempotent=False,
                timeout=timeout,
            )
        except RegistryError:
            return None
        if response.status_code < 300:
            return True
        if response.status_code >= 500:
            return None  # failed, or failed to answer: it may exist now
        code, _ = mlflow_error(response)
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
        raise self.error(response, need="EDIT", action=f"create {what}", model=model, version=None)

    def other_model(
        self, name: str, model: str, action: str
    ) -> tuple[requests.Response, dict[str, Any]] | None:
        """The answer and the registered model of a lock or audit segment of ``model``, or None
        when there is no such model (gone, or never made)."""
        try:
            response = self.call(
                "GET", "registered-models/get", params={"name": name}, action=action, model=model
            )
        except NotFound:
            return None
        return response, self.json(response).get("registered_model") or {}


def tag_dict(raw: Any) -> dict[str, str]:
    return {
        str(t["key"]): str(t.get("value", "")) for t in raw or [] if isinstance(t, Mapping) and "key" in t
    }


def mlflow_error(response: requests.Response) -> tuple[str, str]:
    try:
        data = response.json()
    except ValueError:
        return "", secrets.redact(response.text.strip())[:300]
    if isinstance(data, dict):
        return str(data.get("error_code") or ""), secrets.redact(str(data.get("message") or ""))[:500]
    return "", secrets.redact(response.text.strip())[:300]  # redacted before cut: no secret prefix left


def server_time(response: requests.Response) -> float | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def quote(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise InvalidInput(f"model name {value!r} has both quote characters; MLflow's search cannot name it")


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
