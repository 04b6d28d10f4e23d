"""Publishing on MLflow: a version of one registered model copied into another, as
``MlflowClient.copy_model_version`` does it.

The copy is ``POST model-versions/create`` on the destination with ``source`` set to
``models:/SOURCE/VERSION`` and the source version's run, tags, run link, description and logged
model (what ``AbstractStore.copy_model_version`` sends); the server checks that the caller may
read the source and resolves the lineage. A destination version whose ``source`` is that URI is
an earlier publish of the same version and is reused (found with ``source_path``). The copy is
made under the destination's aliasgate lock, so two runs publishing one version make one copy.

Permissions: READ on the source, EDIT on the destination (and permission to create registered
models, when the destination does not exist yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aliasgate.errors import AuthError, NotFound, OutcomeUnknown, RegistryError
from aliasgate.model import VersionId
from aliasgate.registry import Published
from aliasgate.registry.mlflow.client import API, mlflow_error, quote

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.registry.mlflow.backend import MlflowRegistry

SCHEME = "models:/"


def source_uri(model: str, number: int) -> str:
    return f"{SCHEME}{model}/{number}"


def origin_of(source: str | None) -> VersionId | None:
    """The version a ``models:/NAME/VERSION`` source names (what a copy points at), else None."""
    if not source or not source.startswith(SCHEME):
        return None
    name, _, number = source[len(SCHEME) :].rpartition("/")
    return VersionId(name, int(number)) if name and number.isdigit() else None


def _find(reg: MlflowRegistry, source: str, number: int, dest: str) -> int | None:
    flt = f"name={quote(dest)} AND source_path={quote(source_uri(source, number))}"
    response = reg.client.call(
        "GET",
        "model-versions/search",
        params={"filter": flt, "max_results": "100", "order_by": "version_number ASC"},
        action="look for an earlier publish",
        model=dest,
    )
    found = [
        int(v["version"])
        for v in reg.client.json(response).get("model_versions") or []
        if str(v.get("current_stage")) != "Deleted_Internal" and v.get("source") == source_uri(source, number)
    ]
    return min(found) if found else None


def published_copy(reg: MlflowRegistry, source: str, number: int, dest: str) -> Published | None:
    try:
        found = _find(reg, source, number, dest)
    except NotFound:
        return None  # no destination model yet
    return None if found is None else Published(found, reused=True)


def _source_version(reg: MlflowRegistry, source: str, number: int) -> Mapping[str, Any]:
    response = reg.client.call(
        "GET",
        "model-versions/get",
        params={"name": source, "version": str(number)},
        action="read the version to publish",
        model=source,
        version=number,
    )
    mv: Mapping[str, Any] = reg.client.json(response).get("model_version") or {}
    return mv


def _ensure_model(reg: MlflowRegistry, dest: str) -> None:
    """The destination, created when missing (as ``copy_model_version`` does)."""
    try:
        reg.reads.model(dest, fresh=True)
        return
    except NotFound:
        pass
    response = reg.transport.request(
        "POST", f"{API}/registered-models/create", json={"name": dest}, idempotent=False
    )
    if response.status_code < 300 or mlflow_error(response)[0] == "RESOURCE_ALREADY_EXISTS":
        return
    raise reg.client.error(
        response, need="EDIT", action=f"create the registered model {dest!r}", model=dest, version=None
    )


def copy_body(mv: Mapping[str, Any], source: str, number: int, dest: str) -> dict[str, Any]:
    """What ``AbstractStore.copy_model_version`` sends: unset fields stay out, as in its request."""
    body: dict[str, Any] = {"name": dest, "source": source_uri(source, number)}
    for key in ("run_id", "run_link", "description", "model_id"):
        if mv.get(key):
            body[key] = mv[key]
    tags = [{"key": t["key"], "value": t.get("value", "")} for t in mv.get("tags") or [] if t.get("key")]
    if tags:
        body["tags"] = tags
    return body


def publish(reg: MlflowRegistry, source: str, number: int, dest: str) -> Published:
    if source == dest:
        raise RegistryError(f"cannot publish {source} into itself", model=source)
    mv = _source_version(reg, source, number)
    _ensure_model(reg, dest)
    with reg.locks.locked(dest) as (lease, _state):
        found = _find(reg, source, number, dest)
        if found is not None:
            return Published(found, reused=True)
        try:
            response = reg.client.call(
                "POST",
                "model-versions/create",
                body=copy_body(mv, source, number, dest),
                need="EDIT",
                action=f"create a version of {dest} from {source}:v{number}",
                model=dest,
                idempotent=False,
                timeout=lease.timeout(),
            )
        except (OutcomeUnknown, RegistryError) as exc:
            if isinstance(exc, (NotFound, AuthError)):
                raise
            again = _find(reg, source, number, dest)  # a lost answer: read before deciding
            if again is None:
                raise
            return Published(again, reused=False)
        made = reg.client.json(response).get("model_version") or {}
        return Published(int(made["version"]), reused=False)
