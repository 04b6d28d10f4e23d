"""Drive the real wandb SDK's public API against the double (run inside the SDK virtualenv).

Usage: python sdk_client.py BASE_URL ADMIN_KEY MEMBER_KEY  (the double seeded by ``demo(seed=...)``)
       python sdk_client.py --documents                   (print the SDK's GraphQL documents we mirror)
       python sdk_client.py --load BASE_URL KEY PATH...    (what ``api.artifact(PATH)`` gives for each)

Prints one JSON object with what the SDK saw. Any exception the SDK raises is
reported with its type and message, so the conformance test can tell "the
double rejected a document" (schema moved) from a genuine assertion failure.
Imports only wandb and the standard library: aliasgate is not installed here.
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import timedelta
from typing import Any


def main(base_url: str, admin_key: str, member_key: str) -> dict[str, Any]:
    import wandb

    out: dict[str, Any] = {"wandb_version": wandb.__version__, "steps": []}

    def step(name: str, value: Any = None) -> None:
        out["steps"].append(name)
        out[name] = value

    api = wandb.Api(api_key=admin_key, overrides={"base_url": base_url})
    step("default_entity", api.default_entity)

    # Fetch by alias; metrics through the producing run.
    art = api.artifact("ml/demo/bert-classifier:staging")
    step("fetch_staging", {"version": art.version, "aliases": sorted(art.aliases), "metadata": art.metadata})
    run = art.logged_by()
    step(
        "logged_by",
        {"name": run.name if run else None, "val_f1": run.summary_metrics.get("val_f1") if run else None},
    )

    # Promote: add production, drop staging (AddAliases, DeleteAliases, UpdateArtifact).
    art.aliases.append("production")
    art.aliases.remove("staging")
    art.save()
    moved = api.artifact("ml/demo/bert-classifier:production")
    step("promoted", {"version": moved.version, "aliases": sorted(moved.aliases)})

    # Metadata and TTL.
    moved.metadata["promoted_by"] = "sdk"
    moved.ttl = timedelta(days=30)
    moved.save()
    again = api.artifact("ml/demo/bert-classifier:production")
    step(
        "updated",
        {"metadata": again.metadata, "ttl_seconds": again.ttl.total_seconds() if again.ttl else None},
    )

    # Listing with pagination.
    listed = api.artifacts("model", "ml/demo/bert-classifier", per_page=2)
    step("listed", sorted(a.version for a in listed))

    # Delete a version without aliases, then check a version with aliases is refused.
    api.artifact("ml/demo/bert-classifier:v1").delete()
    try:
        api.artifact("ml/demo/bert-classifier:v1")
        step("deleted", "still there")
    except Exception as exc:
        step("deleted", type(exc).__name__)
    try:
        api.artifact("ml/demo/bert-classifier:production").delete()
        step("delete_with_alias", "deleted")
    except Exception as exc:
        step("delete_with_alias", type(exc).__name__)

    # W&B Registry: a Member may not move the protected alias, an Admin may.
    member = wandb.Api(api_key=member_key, overrides={"base_url": base_url})
    mine = member.artifact("acme-org/wandb-registry-model/bert-classifier:staging")
    mine.aliases.append("production")
    try:
        mine.save()
        step("registry_member_move", "moved")
    except Exception as exc:
        step("registry_member_move", f"{type(exc).__name__}: {exc}")
    reg = api.artifact("acme-org/wandb-registry-model/bert-classifier:staging")
    reg.aliases.append("production")
    reg.save()
    step(
        "registry_admin_move",
        sorted(api.artifact("acme-org/wandb-registry-model/bert-classifier:production").aliases),
    )

    # Deleting a registry version unlinks it; the source artifact stays.
    api.artifact("acme-org/wandb-registry-model/bert-classifier:v1").delete()
    try:
        api.artifact("acme-org/wandb-registry-model/bert-classifier:v1")
        step("unlinked", "still linked")
    except Exception as exc:
        step("unlinked", type(exc).__name__)
    step("source_kept", api.artifact("ml/training/bert-classifier:v1").version)
    return out


# The SDK documents whose types and fields the double's schema mirrors (module, constant).
DOCUMENTS = [
    ("wandb.sdk.artifacts._generated.operations", name)
    for name in (
        "ARTIFACT_MEMBERSHIP_BY_NAME_GQL",
        "ARTIFACT_BY_ID_GQL",
        "ARTIFACT_CREATED_BY_GQL",
        "PROJECT_ARTIFACTS_GQL",
        "PROJECT_ARTIFACT_COLLECTION_GQL",
        "PROJECT_ARTIFACT_COLLECTIONS_GQL",
        "ARTIFACT_COLLECTION_ALIASES_GQL",
        "RUN_INPUT_ARTIFACTS_GQL",
        "FETCH_LINKED_ARTIFACTS_GQL",
        "FETCH_ORG_INFO_FROM_ENTITY_GQL",
        "ADD_ALIASES_GQL",
        "DELETE_ALIASES_GQL",
        "UPDATE_ARTIFACT_GQL",
        "DELETE_ARTIFACT_GQL",
        "LINK_ARTIFACT_GQL",
        "UNLINK_ARTIFACT_GQL",
        "UPDATE_ARTIFACT_SEQUENCE_GQL",
        "UPDATE_ARTIFACT_PORTFOLIO_GQL",
    )
] + [
    ("wandb.apis._generated.operations", name)
    for name in ("GET_VIEWER_GQL", "GET_DEFAULT_ENTITY_GQL", "IS_PROJECT_READ_ONLY_GQL")
]


def documents() -> dict[str, Any]:
    import importlib

    import wandb

    out: dict[str, Any] = {"wandb_version": wandb.__version__, "documents": {}, "missing": []}
    for module_name, name in DOCUMENTS:
        value = getattr(importlib.import_module(module_name), name, None)
        if isinstance(value, str):
            out["documents"][name] = value
        else:
            out["missing"].append(f"{module_name}.{name}")
    return out


def load(base_url: str, key: str, *paths: str) -> dict[str, Any]:
    """Each path as an SDK user loads it: the names the SDK re-targets to, or the error it raises."""
    import wandb

    api = wandb.Api(api_key=key, overrides={"base_url": base_url})
    out: dict[str, Any] = {"wandb_version": wandb.__version__, "loaded": {}, "seen": {}}
    for path in paths:
        try:
            art = api.artifact(path)
            out["loaded"][path] = {
                "entity": art.entity,
                "project": art.project,
                "version": art.version,
                "metadata_keys": len(art.metadata),
            }
            out["seen"][path] = {  # the collection's aliases, and the artifact behind a link
                "aliases": sorted(art.aliases),
                "source": f"{art.source_entity}/{art.source_project}/{art.source_name}",
            }
        except Exception as exc:
            out["loaded"][path] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["--documents"]:
        print(json.dumps(documents()))
        sys.exit(0)
    if sys.argv[1:2] == ["--load"]:
        print(json.dumps(load(*sys.argv[2:]), default=str))
        sys.exit(0)
    try:
        result = main(*sys.argv[1:4])
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print(json.dumps(result, default=str))
