"""HTTP for the remote backends: one session per command, timeouts always, bounded retries.

Retry rules (never repeat a write blindly):

* the request never reached the server (connection refused, DNS, connect
  timeout): retried for every method;
* 429, and 503 with ``Retry-After``: the server refused before acting, so any
  method is retried, waiting as told (capped);
* 502, 503, 504, a reset or read timeout after the request was sent: retried
  only when the caller says the request is idempotent, because the server may
  have acted. Callers of non-idempotent writes verify the outcome by reading.

This module holds the only retry loop of the remote backends: callers pass what may be
retried (``idempotent``, extra statuses, a :class:`RetryPolicy`) and never wrap a call in a
loop of their own, so retries never multiply.

Backends get a :class:`Transport` and never import ``requests`` themselves at
module import time of the CLI.
"""

from __future__ import annotations

import email.utils
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aliasgate import secrets
from aliasgate.errors import RegistryError

if TYPE_CHECKING:  # pragma: no cover
    import requests

RETRY_STATUSES_ANY = frozenset({429})
RETRY_STATUSES_IDEMPOTENT = frozenset({502, 503, 504})


@dataclass(frozen=True)
class TlsHints:
    """What to tell a user whose TLS handshake failed: the backend knows its own settings."""

    verify: str | None = None  # the server certificate could not be verified
    client_cert: str | None = None  # the server wants a client certificate


@dataclass(frozen=True)
class Sent:
    """A response, and how many attempts it took (more than one: an earlier one may have landed)."""

    response: requests.Response
    attempts: int


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, first included
    backoff: float = 0.5  # seconds, doubled each retry, with jitter
    max_wait: float = 20.0  # cap on any single wait, Retry-After included
    budget: float = 60.0  # cap on the total time spent waiting

    @classmethod
    def from_env(cls) -> RetryPolicy:
        attempts = int(os.environ.get("PROMOTE_HTTP_RETRIES", "3")) + 1
        return cls(attempts=max(1, attempts))


def default_timeout() -> tuple[float, float]:
    """(connect, read) seconds; PROMOTE_HTTP_TIMEOUT sets the read timeout."""
    return (5.0, float(os.environ.get("PROMOTE_HTTP_TIMEOUT", "30")))


class Transport:
    """A base URL, a ``requests.Session`` and the retry rules above.

    ``session`` is injectable so tests can mount adapters; ``on_request`` lets
    tests and benchmarks count what went over the wire.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "registry",
        sleep: Callable[[float], None] = time.sleep,
        tls_hints: TlsHints | None = None,
    ) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        if headers:
            self.session.headers.update(headers)
        self.timeout = timeout or default_timeout()
        self.retry = retry or RetryPolicy.from_env()
        self.what = what
        self.sleep = sleep
        self.tls_hints = tls_hints or TlsHints()
        self.requests_sent = 0
        self.on_request: Callable[[str, str], None] | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
        retry_statuses: frozenset[int] = frozenset(),
    ) -> requests.Response:
        """``timeout`` overrides the session's (connect, read) seconds for this call only;
        ``retry_statuses`` adds statuses retried for an idempotent request (e.g. 500 for a
        GraphQL read, which changes nothing however often it is sent)."""
        return self.send(
            method,
            path,
            idempotent=idempotent,
            json=json,
            params=params,
            data=data,
            headers=headers,
            timeout=timeout,
            retry_statuses=retry_statuses,
        ).response

    def send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | Callable[[], tuple[float, float]] | None = None,
        retry_statuses: frozenset[int] = frozenset(),
        retry_when: Callable[[requests.Response], bool] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Sent:
        """:meth:`request`, answering how many attempts it took. Also: ``timeout`` may be a
        callable asked before each attempt (a lease that shrinks; what it raises ends the
        retries); ``retry_when`` retries an idempotent request on other answers too (a known
        transient refusal); ``retry`` replaces the transport's policy for this call."""
        import requests

        policy = retry or self.retry
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            seconds = timeout() if callable(timeout) else (timeout or self.timeout)
            self.requests_sent += 1
            if self.on_request is not None:
                self.on_request(method, path)
            try:
                # verify= per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the
                # session's verify otherwise, silently ignoring a CA bundle or insecure mode we chose.
                response = self.session.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=seconds,
                    verify=self.session.verify,
                )
            except requests.exceptions.ConnectionError as exc:
                tls = self._tls_error(exc)
                if tls is not None:  # a certificate problem does not go away by retrying
                    raise tls from None
                never_sent = _never_sent(exc)
                if attempt < policy.attempts and (never_sent or idempotent):
                    waited += self._pause(policy, attempt, None, waited)
                    continue
                raise RegistryError(
                    f"cannot reach the {self.what} at {secrets.strip_userinfo(self.base_url)}: "
                    f"{_short(exc)}" + ("" if never_sent else " (the request may have been processed)"),
                    hint=self._closed_hint(exc),
                ) from None
            except requests.exceptions.Timeout as exc:
                connect = isinstance(exc, requests.exceptions.ConnectTimeout)
                if attempt < policy.attempts and (connect or idempotent):
                    waited += self._pause(policy, attempt, None, waited)
                    continue
                raise RegistryError(
                    f"the {self.what} at {secrets.strip_userinfo(self.base_url)} did not answer in "
                    f"{seconds[1 if not connect else 0]:g} s ({method} {path})"
                ) from None
            status = response.status_code
            retry_after = _retry_after(response)
            retryable = status in RETRY_STATUSES_ANY or (status == 503 and retry_after is not None)
            retryable = retryable or (idempotent and status in RETRY_STATUSES_IDEMPOTENT | retry_statuses)
            retryable = retryable or (idempotent and retry_when is not None and retry_when(response))
            if retryable and attempt < policy.attempts and waited < policy.budget:
                waited += self._pause(policy, attempt, retry_after, waited)
                continue
            return Sent(response, attempt)

    def _tls_error(self, exc: Exception) -> RegistryError | None:
        """A clear error for a server certificate that failed verification or a missing client
        certificate; None for any other connection failure."""
        text = repr(exc)
        where = f"the {self.what} at {secrets.strip_userinfo(self.base_url)}"
        if "CERTIFICATE_VERIFY_FAILED" in text:
            found = re.search(r"certificate verify failed: (.+?)\.? \(_ssl", text)
            reason = secrets.redact(found.group(1)) if found else "certificate verify failed"
            bundle = self.session.verify
            against = f" against the CA bundle {bundle}" if isinstance(bundle, str) else ""
            return RegistryError(
                f"the TLS certificate of {where} could not be verified{against} ({reason}); nothing was sent",
                hint=self.tls_hints.verify,
            )
        if "CERTIFICATE_REQUIRED" in text.upper().replace(" ", "_"):
            return RegistryError(
                f"{where} requires a TLS client certificate and refused the connection without one",
                hint=self.tls_hints.client_cert,
            )
        return None

    def _closed_hint(self, exc: Exception) -> str | None:
        """TLS 1.3 servers that require a client certificate just close the connection when none
        comes (the request already sent): say so when we sent none."""
        if (
            self.base_url.startswith("https://")
            and not self.session.cert
            and "RemoteDisconnected" in repr(exc)
            and self.tls_hints.client_cert
        ):
            return (
                "a server that requires a TLS client certificate does this when none is sent: "
                + self.tls_hints.client_cert
            )
        return None

    def _pause(self, policy: RetryPolicy, attempt: int, retry_after: float | None, waited: float) -> float:
        if policy is self.retry:
            return self._wait(attempt, retry_after, waited)
        return self._wait_by(policy, attempt, retry_after, waited)

    def _wait(self, attempt: int, retry_after: float | None, waited: float) -> float:
        return self._wait_by(self.retry, attempt, retry_after, waited)

    def _wait_by(self, policy: RetryPolicy, attempt: int, retry_after: float | None, waited: float) -> float:
        if retry_after is not None:
            delay = retry_after
        else:
            delay = policy.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
        delay = max(0.0, min(delay, policy.max_wait, policy.budget - waited))
        self.sleep(delay)
        return delay

    def close(self) -> None:
        self.session.close()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value)
    if parsed is None:  # pragma: no cover - malformed header
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _never_sent(exc: Exception) -> bool:
    """True when the failure happened before any byte of the request left (safe to resend)."""
    text = repr(exc)
    markers = ("NewConnectionError", "ConnectTimeout", "NameResolutionError", "Connection refused")
    return any(m in text for m in markers)


def _short(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "reset by peer"):
        if marker in text:
            return marker
    return secrets.redact(text)[:200]  # redacted before cut: a cut secret would leave its prefix
