"""Reads: the current user, models, one model's aliases and tags, versions and their metrics.

What a version looks like here: metrics are numeric version tags, else the source run's latest
metrics (``runs/get``, fetched only when a metric is asked for that no tag has); metadata is the
version tags (JSON numbers, booleans, lists and objects decoded); source is the run and the
logged model MLflow recorded. Lineage is the version tag ``aliasgate.inputs``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aliasgate.errors import AliasgateError, NotFound
from aliasgate.model import Principal, Version, VersionId
from aliasgate.registry.mlflow.client import (
    API,
    RestClient,
    as_float,
    quote,
    server_time,
    tag_dict,
)
from aliasgate.registry.mlflow.publish import origin_of
from aliasgate.registry.mlflow.records import SEGMENT_PREFIX, TAG_PREFIX

INPUTS_TAG = "aliasgate.inputs"
LOCK_PREFIX = "aliasgate-lock."


@dataclass
class ModelState:
    """One ``registered-models/get`` answer: aliases, tags, latest, and the server's clock."""

    name: str
    aliases: dict[str, int]
    tags: dict[str, str]
    latest: int | None
    server_time: float | None  # seconds since the epoch, from the Date header
    newest: Mapping[str, Any] | None = None  # the latest version as the same answer carried it


class Reads:
    """What aliasgate reads from the registry, with the model answers of this command cached."""

    page_size = 1000  # versions per search page; every page is read before versions() returns

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self.models_seen: dict[str, ModelState] = {}
        self._runs: dict[str, dict[str, float]] = {}
        self._principal: Principal | None = None

    def whoami(self) -> Principal:
        if self._principal is not None:
            return self._principal
        response = self.client.transport.request("GET", f"{API}/users/current", idempotent=True)
        if response.status_code == 200:
            user = self.client.json(response).get("user") or {}
            name = str(user.get("username") or self.client.credentials.username or "unknown")
            detail = {"server": self.client.base_url, "is_admin": bool(user.get("is_admin"))}
            self._principal = Principal(name, True, "mlflow users/current", detail)
        elif response.status_code == 404:
            configured = self.client.credentials.username or os.environ.get("PROMOTE_PRINCIPAL") or os_user()
            how = (
                "MLFLOW_TRACKING_USERNAME"
                if self.client.credentials.username
                else ("PROMOTE_PRINCIPAL" if os.environ.get("PROMOTE_PRINCIPAL") else "os user")
            )
            self._principal = Principal(
                configured,
                False,
                f"{how}; the MLflow server has no authentication (users/current: 404)",
                {
                    "server": self.client.base_url,
                    "auth": "none: anyone who reaches this server can move aliases",
                },
            )
        else:
            raise self.client.error(
                response, need="READ", action="read the current user", model=None, version=None
            )
        return self._principal

    def models(self) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"max_results": 1000}
            if token:
                params["page_token"] = token
            data = self.client.json(
                self.client.call("GET", "registered-models/search", params=params, action="list models")
            )
            for m in data.get("registered_models") or []:
                tags = tag_dict(m.get("tags"))
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

    def model(
        self, model: str, *, fresh: bool = False, timeout: tuple[float, float] | None = None
    ) -> ModelState:
        if not fresh and model in self.models_seen:
            return self.models_seen[model]
        response = self.client.call(
            "GET",
            "registered-models/get",
            params={"name": model},
            action="read the model",
            model=model,
            timeout=timeout,
        )
        rm = self.client.json(response).get("registered_model") or {}
        tags = tag_dict(rm.get("tags"))
        if tags.get("mlflow.prompt.is_prompt") == "true":
            raise NotFound("is an MLflow prompt, not a registered model", model=model)
        latest_versions = [v for v in rm.get("latest_versions") or [] if "version" in v]
        newest = max(latest_versions, key=lambda v: int(v["version"]), default=None)
        state = ModelState(
            model,
            {str(a["alias"]): int(a["version"]) for a in rm.get("aliases") or []},
            tags,
            int(newest["version"]) if newest else None,
            server_time(response),
            newest,
        )
        self.models_seen[model] = state
        return state

    def aliases(self, model: str) -> dict[str, int]:
        return dict(sorted(self.model(model).aliases.items()))

    def latest(self, model: str) -> int | None:
        return self.model(model).latest

    def version(self, model: str, number: int) -> Version:
        known = self.models_seen.get(model)
        if known is not None and known.newest is not None and known.latest == number:
            # registered-models/get already carried the newest version in full: no second request.
            held = tuple(a for a, n in known.aliases.items() if n == number)
            return self._version(model, known.newest, held)
        response = self.client.call(
            "GET",
            "model-versions/get",
            params={"name": model, "version": str(number)},
            action="read the version",
            model=model,
            version=number,
        )
        mv = self.client.json(response).get("model_version") or {}
        return self._version(model, mv, None)

    def versions(self, model: str) -> list[Version]:
        state = self.model(model, fresh=True)  # aliases: search results do not carry them
        by_version: dict[int, list[str]] = {}
        for alias, number in sorted(state.aliases.items()):
            by_version.setdefault(number, []).append(alias)
        seen: dict[int, dict[str, Any]] = {}
        token: str | None = None
        while True:
            params: list[tuple[str, Any]] = [
                ("filter", f"name={quote(model)}"),
                ("max_results", self.page_size),
                ("order_by", "version_number DESC"),
            ]
            if token:
                params.append(("page_token", token))
            data = self.client.json(
                self.client.call(
                    "GET", "model-versions/search", params=params, action="list versions", model=model
                )
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
        tags = tag_dict(mv.get("tags"))
        user_tags = {k: v for k, v in tags.items() if not k.startswith((TAG_PREFIX, "mlflow."))}
        tag_metrics: dict[str, float] = {}
        for key, value in user_tags.items():
            number_value = _as_number(value)
            if number_value is not None:
                tag_metrics[key] = number_value
        run_id = str(mv.get("run_id") or "") or None
        if run_id and run_id.startswith("REDACTED"):
            run_id = None
        metrics = Metrics(tag_metrics, (lambda: self._run_metrics(run_id, model, number)) if run_id else None)
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
            published_from=origin_of(str(mv.get("source") or "")),  # a copy: models:/NAME/VERSION
        )

    def _run_metrics(self, run_id: str, model: str, number: int) -> dict[str, float]:
        if run_id not in self._runs:
            try:
                response = self.client.call(
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
                run = self.client.json(response).get("run") or {}
                metrics = ((run.get("data") or {}).get("metrics")) or []
                self._runs[run_id] = {
                    str(m["key"]): float(m["value"]) for m in metrics if as_float(m.get("value")) is not None
                }
        return self._runs[run_id]


@dataclass
class Metrics(Mapping[str, float]):
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


def _as_number(text: str) -> float | None:
    return as_float(text.strip()) if text.strip() else None


def _decode(text: str) -> Any:
    """Tag values are strings; JSON numbers, booleans, lists and objects become values again."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") or stripped in ("true", "false", "null") or as_float(stripped) is not None:
        try:
            value = json.loads(stripped)
        except ValueError:
            return text
        return value
    return text


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


def os_user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # pragma: no cover
        return os.environ.get("USER") or "unknown"
