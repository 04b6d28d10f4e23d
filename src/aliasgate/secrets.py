"""Secrets: remembered when read, scrubbed from everything aliasgate writes.

Backends call :func:`register` for every token or password they read and send; each is
remembered with the encodings it travels in (raw, URL-encoded; :func:`register_basic`
adds base64 ``user:password`` as sent in ``Authorization: Basic``). Output, error
messages, tracebacks and audit records pass through :func:`redact`. Listeners (on
GitHub: ``::add-mask::`` on the log stream) hear only of values aliasgate itself sends;
other secret-looking environment variables are redacted but never announced.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "***"
_MIN_LEN = 4
_values: set[str] = set()  # every value redacted
_sent: set[str] = set()  # values aliasgate sends (announced to listeners)
_listeners: list[Callable[[str], None]] = []

# Environment variable names whose values are secrets wherever they appear.
SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL|AUTH(?!OR)|ACCESS_KEY)", re.IGNORECASE
)
# Shapes of well-known tokens, scrubbed even if never registered.
TOKEN_SHAPES = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|"
    r"(?:sk|pk|rk)-[A-Za-z0-9_-]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|"
    r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
)
# Credentials in an HTTP header echoed back (a proxy or server repeating the request).
AUTH_HEADER = re.compile(r"(?i)\b(Basic|Bearer|Token)(\s+|%20|\+)[A-Za-z0-9+/=._~%-]{6,}")
# user:password@ in URLs; the password may hold a raw '/' or '@' (the last '@' before the host wins).
URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^\s'\"<>]*@")


def _forms(value: str) -> set[str]:
    return {f for f in (value, quote(value, safe=""), quote_plus(value), quote(value)) if len(f) >= _MIN_LEN}


def register(value: str | None, *, sent: bool = True) -> None:
    """Remember a secret (and its URL-encoded forms) so it is redacted everywhere from now on.

    ``sent``: aliasgate sends it to a registry, so listeners (GitHub masks) hear of it."""
    if not value or len(value) < _MIN_LEN:
        return
    forms = _forms(value)
    _values.update(forms)
    if not sent:
        return
    for form in sorted(forms - _sent):
        _sent.add(form)
        for listener in _listeners:
            listener(form)


def register_basic(user: str | None, password: str | None) -> None:
    """Remember ``password`` and the ``Authorization: Basic`` token made of ``user:password``."""
    if not password:
        return
    register(password)
    register(base64.b64encode(f"{user or ''}:{password}".encode()).decode())


def register_registry_uri(uri: str, env: dict[str, str] | None = None) -> None:
    """The credentials a registry URI makes aliasgate send, in every encoding sent.

    MLflow: basic auth from ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` or the URL's
    ``user:password@``, else ``MLFLOW_TRACKING_TOKEN``; W&B: ``WANDB_API_KEY`` as ``api:KEY``."""
    e = os.environ if env is None else env
    scheme = uri.split(":", 1)[0].lower()
    if scheme == "mlflow" or scheme.startswith("mlflow+"):
        target = uri[len("mlflow+") :] if scheme.startswith("mlflow+") else e.get("MLFLOW_TRACKING_URI", "")
        try:
            parts = urlsplit(target)
            user, password, _ = parts.username, parts.password, parts.port
        except ValueError:  # not a URL the backend accepts: nothing will be sent
            return
        env_user, env_password = e.get("MLFLOW_TRACKING_USERNAME"), e.get("MLFLOW_TRACKING_PASSWORD")
        if env_user or env_password:  # the environment wins over the URL, as in the backend
            register_basic(env_user, env_password)
            register(password and unquote(password), sent=False)
        elif password:
            register_basic(unquote(user or ""), unquote(password))
        register(e.get("MLFLOW_TRACKING_TOKEN"), sent=not (env_user or env_password or password))
    elif scheme == "wandb":
        register_basic("api", e.get("WANDB_API_KEY"))


def on_register(listener: Callable[[str], None]) -> None:
    """Call ``listener`` for every sent secret registered, past and future (GitHub masking)."""
    _listeners.append(listener)
    for value in sorted(_sent):
        listener(value)


def registered() -> frozenset[str]:
    return frozenset(_values)


def register_environment(names: Iterable[str] | None = None) -> None:
    """Remember (for redaction only) the values of secret-looking environment variables."""
    for name, value in os.environ.items():
        if (names is not None and name in names) or (names is None and SECRET_NAME.search(name)):
            register(value, sent=False)


def redact(text: str) -> str:
    """Replace every registered secret, token-shaped string, echoed credential and URL password."""
    if not text:
        return text
    for value in sorted(_values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    text = TOKEN_SHAPES.sub(MASK, text)
    text = AUTH_HEADER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def strip_userinfo(url: str) -> str:
    """A URL without user:password@ (git remotes, registry URLs)."""
    return URL_USERINFO.sub(lambda m: m.group("scheme"), url)


def reset_for_tests() -> None:
    _values.clear()
    _sent.clear()
    _listeners.clear()
