"""Weights & Biases Artifacts and the W&B Registry over GraphQL (``wandb://ENTITY/PROJECT``).

A model is an artifact collection of one project: an artifact sequence, or a
portfolio of a ``wandb-registry-<name>`` project under the organization entity.
A version is a membership of that collection (``name:v3``); its number is the
membership's ``versionIndex``.

W&B has no compare-and-swap: ``addAliases`` simply takes the alias from
whichever version held it. So every move is guarded as tightly as W&B allows
(reference wandb.md §4.1, docs/backends/wandb.md):

1. read the holder, the target and the chain head in one request, immediately
   before writing, and refuse (Conflict, nothing changed) if the alias moved;
2. ``addAliases`` (or ``deleteAliases``); if its outcome is unknown (timeout,
   5xx) read before deciding, never resend blindly;
3. store the sealed audit record in the target version's metadata (merged,
   never replacing other keys) and the chain head in the collection's
   description, in one request whose answer shows where the alias is now; if
   another writer took it in between, the move is recorded and Conflict raised.

Audit records live in the metadata of the version the alias landed on (or left,
for a removal) under ``aliasgate.audit[<entity>/<project>/<collection>]``; the
chain head is a line ``aliasgate-audit-head: {...}`` in the collection
description, so ``history --verify`` catches a deleted newest record. Deleting a
version first moves its records to the newest other version.

For ``cleanup --native-ttl`` it offers :class:`aliasgate.registry.NativeTtl`: W&B's own
artifact TTL decoded into neutral terms (``ttl``), disabled with ``updateArtifact`` and the
TTL alone, and that run's ``ttl`` audit record (``append_record``).

The package by concept: ``client`` (one GraphQL request and its error map), ``project``
(identity, organization, names, the reads others build on), ``reads``, ``moves``,
``audit_store``, ``deletes``, ``ttl``, ``documents`` (every GraphQL document sent).

Never imports ``wandb``: the SDK takes ~0.6 s to import and starts a sidecar.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from aliasgate import audit, secrets
from aliasgate.errors import InvalidInput
from aliasgate.model import AliasOp, Principal, Version
from aliasgate.registry import Published, TtlState
from aliasgate.registry.wandb import audit_store, deletes, moves, reads
from aliasgate.registry.wandb import publish as publishing
from aliasgate.registry.wandb.client import GraphQL
from aliasgate.registry.wandb.project import Project
from aliasgate.registry.wandb.shapes import REGISTRY_PREFIX
from aliasgate.registry.wandb.ttl import TtlStore

DEFAULT_BASE_URL = "https://api.wandb.ai"


def open(uri: str, options: Mapping[str, Any]) -> WandbRegistry:  # backend entry point
    entity, project = parse_uri(uri)
    base_url = str(options.get("base_url") or os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL)
    scheme = urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise InvalidInput(f"WANDB_BASE_URL must be an http(s) URL, not {secrets.strip_userinfo(base_url)!r}")
    api_key = options.get("api_key") or os.environ.get("WANDB_API_KEY") or None
    secrets.register(api_key)
    return WandbRegistry(
        uri,
        entity,
        project,
        base_url=base_url,
        api_key=api_key,
        settings_entity=os.environ.get("WANDB_ENTITY") or None,
    )


def parse_uri(uri: str) -> tuple[str | None, str]:
    """``wandb://ENTITY/PROJECT``, ``wandb://PROJECT`` (entity from WANDB_ENTITY, or for a
    registry WANDB_ORGANIZATION), or ``wandb://`` (both from WANDB_ENTITY/WANDB_PROJECT)."""
    rest = uri.split(":", 1)[1] if ":" in uri else ""
    rest = rest[2:] if rest.startswith("//") else rest
    parts = [p for p in rest.strip("/").split("/") if p]
    if len(parts) > 2 or any(c in rest for c in "?#:@ "):
        raise InvalidInput(f"invalid registry {uri!r}: expected wandb://ENTITY/PROJECT")
    if len(parts) == 2:
        return parts[0], parts[1]
    project = parts[0] if parts else os.environ.get("WANDB_PROJECT")
    if not project:
        raise InvalidInput(
            f"invalid registry {uri!r}: no project (use wandb://ENTITY/PROJECT or set WANDB_PROJECT)"
        )
    entity = os.environ.get("WANDB_ENTITY") or None
    if project.startswith(REGISTRY_PREFIX):
        entity = os.environ.get("WANDB_ORGANIZATION") or entity
    return entity, project


class WandbRegistry:
    """The Registry protocol (and NativeTtl) over W&B's GraphQL API."""

    atomic_batches = False
    lineage_recorded = True

    def __init__(
        self,
        uri: str,
        entity: str | None,
        project: str,
        *,
        base_url: str,
        api_key: str | None,
        settings_entity: str | None = None,
    ) -> None:
        self.uri = uri
        self.client = GraphQL(base_url, api_key)
        self.base_url = self.client.base_url
        self._p = Project(self.client, entity, project, settings_entity=settings_entity)
        self._ttl = TtlStore(self._p)
        self._settings_entity = settings_entity
        self._others: dict[tuple[str | None, str], Project] = {}  # other projects models name

    def close(self) -> None:
        self.client.close()

    @property
    def entity(self) -> str:
        return self._p.entity

    @property
    def project(self) -> str:
        """The project as W&B names it (once known; until then as the URI spells it)."""
        return self._p.project

    @property
    def where(self) -> str:
        return self._p.where

    def whoami(self) -> Principal:
        return self._p.whoami()

    def _at(self, model: str) -> Project:
        """The project a model reference lives in: this registry's, or the one ``project/name``
        (or ``entity/project/name``) names; ``project/name`` is in WANDB_ENTITY, else the entity of
        this URI (for a registry URI: the account's default entity)."""
        parts = model.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            return self._p
        entity, project = (parts[0] if len(parts) == 3 else None), parts[-2]
        if project.casefold() == self._p.project.casefold() and (
            entity is None or entity.casefold() == self._p.entity.casefold()
        ):
            return self._p
        if entity is None:
            entity = self._settings_entity or (None if self._p.registry else self._p.entity)
        key = (entity, project)
        if key not in self._others:
            self._others[key] = Project(self.client, entity, project, settings_entity=self._settings_entity)
        return self._others[key]

    def models(self) -> list[str]:
        return reads.models(self._p)

    def aliases(self, model: str) -> dict[str, int]:
        return reads.aliases(self._at(model), model)

    def latest(self, model: str) -> int | None:
        return reads.latest(self._at(model), model)

    def version(self, model: str, number: int) -> Version:
        return reads.version(self._at(model), model, number)

    def versions(self, model: str) -> list[Version]:
        return reads.versions(self._at(model), model)

    def audit_log(self, model: str) -> audit.AuditLog:
        return audit_store.audit_log(self._at(model), model)

    def apply(self, ops: Sequence[AliasOp], records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return moves.apply(self._at(ops[0].model) if ops else self._p, ops, records)

    def delete_version(self, model: str, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        """Delete (artifact sequence) or unlink (registry portfolio) one version that holds no alias."""
        return deletes.delete_version(self._at(model), model, number, record)

    # -- NativeTtl (``promote cleanup --native-ttl``) ------------------------------------------

    def ttl_states(self, model: str, numbers: Sequence[int]) -> dict[int, TtlState]:
        return self._ttl.states(model, numbers)

    def disable_ttl(self, model: str, number: int) -> None:
        self._ttl.disable(model, number)

    def append_record(self, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return audit_store.append_record(self._at(model), model, record)

    # -- Publishes (``to: {model, alias}``): link into a Registry collection or portfolio ---------

    def published_copy(self, source_model: str, number: int, dest_model: str) -> Published | None:
        return publishing.published_copy(
            self._at(source_model), source_model, number, self._at(dest_model), dest_model
        )

    def publish(self, source_model: str, number: int, dest_model: str) -> Published:
        return publishing.publish(
            self._at(source_model), source_model, number, self._at(dest_model), dest_model
        )
