"""One GraphQL request to W&B, and what its HTTP status and errors mean.

Transport and retries are :class:`aliasgate.registry.http.Transport`'s; this module adds the
API-key header, the status -> error map and the "outcome unknown" of a mutation (a timeout or
5xx after sending: the write may have landed, so the caller reads before deciding).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from aliasgate import __version__, secrets
from aliasgate.errors import AuthError, OutcomeUnknown, RegistryError
from aliasgate.registry.http import Transport

RETRY_READS = frozenset({500})  # a read changes nothing, so a 500 on it is worth another try
PERMISSION_WORDS = ("permission", "not authorized", "unauthorized", "forbidden", "access denied")


class GraphQL:
    """``POST {base_url}/graphql`` with ``Authorization: Basic base64("api:" + key)``."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._transport: Transport | None = None
        #: the account name errors mention (set once the viewer is known)
        self.viewer_name = "this account"

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            if not self._api_key:
                raise AuthError(
                    "no W&B API key: set WANDB_API_KEY (in CI, a service account's key)",
                    hint="https://wandb.ai/authorize shows a personal key; service accounts have their own",
                )
            secrets.register(self._api_key)
            token = base64.b64encode(f"api:{self._api_key}".encode()).decode()
            secrets.register(token)
            self._transport = Transport(
                self.base_url,
                headers={"Authorization": f"Basic {token}", "User-Agent": f"aliasgate/{__version__}"},
                what="W&B API",
            )
        return self._transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    @property
    def safe_base(self) -> str:
        return secrets.strip_userinfo(self.base_url)

    def post(self, document: str, variables: Mapping[str, Any], *, mutation: bool = False) -> dict[str, Any]:
        """One GraphQL request; returns the whole answer (``data`` and maybe ``errors``).

        HTTP-level failures raise here; GraphQL errors are the caller's to judge, since a
        document may have several fields that fail independently."""
        name = operation_name(document)
        try:
            response = self.transport.request(
                "POST",
                "/graphql",
                idempotent=not mutation,
                json={"query": document, "variables": dict(variables), "operationName": name},
                retry_statuses=frozenset() if mutation else RETRY_READS,
            )
        except RegistryError as exc:
            if mutation:
                raise OutcomeUnknown(f"{name}: {exc}") from None
            raise
        status = response.status_code
        if status == 401:
            raise AuthError(
                f"W&B rejected the API key in WANDB_API_KEY (HTTP 401 from {self.safe_base})",
                hint="check WANDB_API_KEY, and WANDB_BASE_URL for a dedicated or self-managed server",
            )
        if status == 403:
            raise AuthError(f"W&B refused {name} (HTTP 403): {self.viewer_name} lacks the permission")
        if status == 429:
            raise RegistryError(f"W&B kept rate-limiting {name} (HTTP 429); try again later")
        if status >= 500 and mutation:
            raise OutcomeUnknown(f"{name}: W&B answered HTTP {status}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RegistryError(f"W&B answered {name} with HTTP {status} and no GraphQL response")
        if status >= 400 and not body.get("data"):
            text = messages(body.get("errors"))
            verb = "failed" if status >= 500 else "rejected"
            raise RegistryError(
                f"W&B {verb} {name} (HTTP {status}): {text}",
                hint="the server may be older than this aliasgate supports (W&B server >= 0.70)"
                if "Cannot query field" in text
                else None,
            )
        return body

    def error(self, errors: Any, *, model: str | None = None, version: int | None = None) -> RegistryError:
        """GraphQL ``errors`` as AuthError (a permission word) or RegistryError."""
        text = messages(errors)
        if any(w in text.lower() for w in PERMISSION_WORDS):
            return AuthError(f"W&B denied {self.viewer_name}: {text}", model=model, version=version)
        return RegistryError(f"W&B: {text}", model=model, version=version)


def operation_name(document: str) -> str:
    m = re.search(r"\b(?:query|mutation)\s+(\w+)", document)
    return m.group(1) if m else "query"


def messages(errors: Any) -> str:
    if not errors:
        return ""
    if isinstance(errors, list):
        texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
    else:
        texts = [str(errors)]
    return secrets.redact("; ".join(texts))
