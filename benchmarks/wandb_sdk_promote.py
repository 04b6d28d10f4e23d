"""The baseline for benchmarks/wandb_promote.py: the same promotion written with the wandb SDK.

Runs in the wandb SDK's own virtualenv (aliasgate never installs ``wandb``). It does what
``promote apply`` does on the benchmark policy, with the same guard and audit, through the
public API only: read candidate and champion with their producing runs' summary metrics,
check the three gates, re-read the holder right before writing, move the alias and append a
hash-chained record to the candidate's metadata (``Artifact.save()``), write the chain head
into the collection description, and re-read the holder after.

Usage: python wandb_sdk_promote.py BASE_URL API_KEY ENTITY/PROJECT/COLLECTION
Exit codes as promote's: 0 moved, 3 gates blocked, 4 the alias moved meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from datetime import datetime, timezone

import wandb  # type: ignore[import-not-found]  # only in the SDK virtualenv

HEAD = re.compile(r"^bench-audit-head: (\{.*\})$", re.MULTILINE)


def main() -> int:
    base_url, key, path = sys.argv[1:4]
    api = wandb.Api(api_key=key, overrides={"base_url": base_url})
    candidate = api.artifact(f"{path}:staging")
    champion = api.artifact(f"{path}:production")
    cand = candidate.logged_by().summary_metrics
    champ = champion.logged_by().summary_metrics
    gates = [
        ("val_f1 >= 0.89", cand["val_f1"] >= 0.89),
        ("val_loss <= 0.35", cand["val_loss"] <= 0.35),
        ("val_f1 beats production by 0.005", cand["val_f1"] >= champ["val_f1"] + 0.005),
    ]
    if not all(ok for _, ok in gates):
        return 3
    if api.artifact(f"{path}:production").version != champion.version:  # the guard, right before
        return 4
    collection = api.artifact_collection(candidate.type, path)
    found = HEAD.findall(collection.description or "")
    head = json.loads(found[-1]) if found else {"seq": 0, "hash": None}
    record = {
        "kind": "promote",
        "model": path,
        "alias": "production",
        "from": champion.version,
        "to": candidate.version,
        "at": datetime.now(timezone.utc).isoformat(),
        "gates": [{"gate": g, "passed": ok} for g, ok in gates],
        "seq": head["seq"] + 1,
        "prev": head["hash"],
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    record["hash"] = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    candidate.aliases.append("production")
    metadata = dict(candidate.metadata)
    metadata["bench_audit"] = [*metadata.get("bench_audit", []), record]
    candidate.metadata = metadata
    candidate.save()  # AddAliases, then UpdateArtifact with the whole metadata
    line = f"bench-audit-head: {json.dumps({'seq': record['seq'], 'hash': record['hash']})}"
    description = collection.description or ""
    collection.description = HEAD.sub(line, description) if found else f"{description}\n\n{line}".strip()
    collection.save()
    if api.artifact(f"{path}:production").version != candidate.version:  # the check after
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
