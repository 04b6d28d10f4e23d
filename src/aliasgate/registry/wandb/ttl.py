"""W&B's artifact TTL, decoded into the neutral :class:`aliasgate.registry.TtlState`.

W&B reports ``ttlDurationSeconds`` (``> 0`` the TTL; ``-1`` inherit the team default; ``-2``
disabled; ``<= 0`` no TTL applies) and ``ttlIsInherited``. It accepts no TTL on the artifact
types it generates itself, nor on a version linked into a W&B Registry (or legacy Model
Registry) collection. Disabling writes ``updateArtifact`` with ``ttlDurationSeconds: -2`` alone,
so metadata, description and tags stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aliasgate.errors import NotFound, OutcomeUnknown, RegistryError
from aliasgate.registry import TtlState
from aliasgate.registry.wandb import documents as gql
from aliasgate.registry.wandb.project import Project
from aliasgate.registry.wandb.shapes import LEGACY_REGISTRY, REGISTRY_PREFIX, coll_path, need

DISABLED = -2  # no TTL, and not inheriting the team default
INHERIT = -1  # follow the team default TTL
#: Artifact types W&B generates itself and accepts no TTL on (also every ``wandb-*`` type).
AUTO_TYPES = ("run_table", "code", "job")
TTL_BATCH = 50  # versions whose TTL one request reads

LINKED_NOTE = (
    "{count} kept version(s) are linked into a W&B Registry collection ({shown}): "
    "W&B switched their TTL off when they were linked and accepts none; left alone"
)
AUTO_NOTE = "{count} kept version(s) have a type W&B accepts no TTL on ({shown}); left alone"


def decode(
    seconds: Any, inherited: Any, *, artifact_type: str = "", registry_linked: bool = False
) -> TtlState:
    """``ttlDurationSeconds`` and ``ttlIsInherited`` as W&B reports them, plus why none may be set."""
    value = int(seconds) if seconds is not None else 0
    fixed, note = None, None
    if registry_linked:
        fixed, note = "linked into a W&B Registry collection: no TTL allowed", LINKED_NOTE
    elif artifact_type in AUTO_TYPES or artifact_type.startswith("wandb-"):
        fixed, note = f"W&B accepts no TTL on {artifact_type} artifacts", AUTO_NOTE
    return TtlState(value if value > 0 else None, bool(inherited), fixed, note)


class TtlStore:
    """Reads and writes the TTL of a project's versions (remembering each version's artifact id)."""

    def __init__(self, p: Project) -> None:
        self.p = p
        self._ids: dict[tuple[str, int], str] = {}  # (collection, number) -> artifact id

    def states(self, model: str, numbers: Sequence[int]) -> dict[int, TtlState]:
        """The TTL of each live version among ``numbers``, read by name in batches."""
        p = self.p
        c = p.collection_name(model)
        out: dict[int, TtlState] = {}
        wanted = sorted(set(numbers))
        for start in range(0, len(wanted), TTL_BATCH):
            batch = wanted[start : start + TTL_BATCH]
            variables = p.vars(c, **{f"n{i}": f"{c}:v{n}" for i, n in enumerate(batch)})
            data = p.query(gql.ttl_states(len(batch)), variables, model=model)
            p.collection_data(data, model)
            project = p.project_data(data, model)
            for i in range(len(batch)):
                node = project.get(f"m{i}")
                if node is None or (node.get("artifact") or {}).get("state") != "COMMITTED":
                    continue
                art = node["artifact"]
                number = int(need(node, "versionIndex", model))
                self._ids[(c, number)] = str(need(art, "id", model))
                out[number] = decode(
                    art.get("ttlDurationSeconds"),
                    art.get("ttlIsInherited"),
                    artifact_type=str((art.get("artifactType") or {}).get("name") or ""),
                    registry_linked=p.registry or _registry_linked(art),
                )
        return out

    def disable(self, model: str, number: int) -> None:
        """``updateArtifact`` with ``ttlDurationSeconds: -2`` alone. W&B may answer success and
        ignore it (the caller re-reads)."""
        c = self.p.collection_name(model)
        artifact_id = self._ids.get((c, number))
        if artifact_id is None:
            if number not in self.states(model, [number]):
                raise NotFound("no such version", model=model, version=number)
            artifact_id = self._ids[(c, number)]
        variables = {"input": {"artifactID": artifact_id, "ttlDurationSeconds": DISABLED}}
        for attempt in (1, 2):
            try:
                body = self.p.client.post(gql.SET_TTL, variables, mutation=True)
            except OutcomeUnknown as exc:
                if attempt == 2:
                    raise RegistryError(str(exc), model=model, version=number) from None
                continue  # writing the same TTL twice changes nothing: sending it again is safe
            if body.get("errors"):
                raise self.p.client.error(body["errors"], model=model, version=number)
            return


def _registry_linked(art: Mapping[str, Any]) -> bool:
    """Linked into a W&B Registry (or legacy Model Registry) collection: W&B allows no TTL there."""
    for edge in (art.get("artifactMemberships") or {}).get("edges") or []:
        coll = (edge.get("node") or {}).get("artifactCollection") or {}
        project = coll_path(coll)[1] if coll else ""
        if coll.get("__typename") == "ArtifactPortfolio" and (
            project.startswith(REGISTRY_PREFIX) or project == LEGACY_REGISTRY
        ):
            return True
    return False
