"""A policy's notify targets resolved from the environment: URL, signing key, or why not.

The URL and secret are registered with :mod:`aliasgate.secrets` the moment they are read
(the URL whole, its path and query, the secret in both forms), so every output redacts
them and, on GitHub, the runner masks them.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aliasgate import secrets
from aliasgate.errors import InvalidInput
from aliasgate.policy.model import NotifyTarget

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # Standard Webhooks: 24 to 64 random bytes
MAX_KEY_BYTES = 64


@dataclass(frozen=True)
class Endpoint:
    target: NotifyTarget
    url: str | None = None
    key: bytes | None = None
    problem: str | None = None  # why nothing can be sent to it

    @property
    def label(self) -> str:
        return self.target.label


def resolve(targets: Sequence[NotifyTarget], env: Mapping[str, str] | None = None) -> list[Endpoint]:
    e = os.environ if env is None else env
    return [_resolve(t, e) for t in targets]


def _resolve(target: NotifyTarget, env: Mapping[str, str]) -> Endpoint:
    url = env.get(target.url_env, "").strip()
    secret = env.get(target.secret_env, "").strip() if target.secret_env else ""
    register_url(url)
    secrets.register(secret)
    if secret.startswith(SECRET_PREFIX):
        secrets.register(secret[len(SECRET_PREFIX) :])
    if not url:
        return Endpoint(target, problem=f"${target.url_env} is not set")
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        return Endpoint(target, problem=f"${target.url_env} does not hold an http(s) URL")
    if target.secret_env is None:
        return Endpoint(target, url=url)
    if not secret:
        return Endpoint(target, problem=f"${target.secret_env} (the signing secret) is not set")
    key = signing_key(secret)
    if key is None:
        return Endpoint(
            target,
            problem=f"${target.secret_env} is not a Standard Webhooks secret: whsec_ and the base64 "
            f"of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes",
        )
    return Endpoint(target, url=url, key=key)


def signing_key(secret: str) -> bytes | None:
    """The HMAC key of a ``whsec_<base64>`` secret, or None when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    text = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES else None


def register_url(url: str) -> None:
    """A webhook URL is a credential (Slack's is its own token): redact it and every part that
    identifies it (path, query, password), mask it on GitHub."""
    if not url:
        return
    secrets.register(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(path.strip("/")) >= 4:
        secrets.register(path)
    if parts.query:
        secrets.register(parts.query)
    if parts.password:
        secrets.register(parts.password)


def require(endpoints: Sequence[Endpoint]) -> None:
    """Before anything changes: a required target that cannot be reached is bad input (exit 2)."""
    missing = [ep for ep in endpoints if ep.target.required and ep.problem]
    if missing:
        first = missing[0]
        raise InvalidInput(
            f"required notify target {first.label} ({first.target.loc}): {first.problem}; nothing was changed",
            hint="set the variable, or mark the target `required: false` to deliver at best effort",
        )


def check_required(targets: Sequence[NotifyTarget]) -> None:
    """Resolve (registering every URL and secret for redaction) and refuse unreachable required targets."""
    require(resolve(targets))
