"""The cleanup scenario every backend is tested on: a few hundred versions with aliases,
lineage (within and across models) and ages spread across the TTLs, plus a plain oracle
that says which versions the retention policy must delete.

The oracle is written independently of ``aliasgate.retention`` (set arithmetic over the seed,
no shared code), so a planner bug shows up as a difference between the two.

Ages are at least half a day away from every TTL boundary, so a test that plans minutes
after seeding gets the same answer as one that plans at once.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from aliasgate.model import VersionId
from aliasgate.seed import ModelSeed, VersionSeed, dump

DAY = timedelta(days=1)

POLICY = """\
version: 1
retention:
  - name: classifier
    model: clf
    ttl: 30d
    keep_last: 5
    keep_if:
      - {metric: val_f1, top: 3}
  - name: classifier-pins
    model: "cl*"
    ttl: 10d
    keep_if:
      - {metadata: {pinned: "yes"}}
  - name: tokenizer
    model: tok
    ttl: 30d
  - name: features
    model: "feat*"
    ttl: 20d
    keep_last: 1
"""

# Model -> (ttl days, keep_last, top-3 metric) per matching rule; `emb` has no rule at all.
CLF, TOK, EMB, FEAT = "clf", "tok", "emb", "feat"


def build(now: datetime, *, clf: int = 150, tok: int = 80, emb: int = 30, feat: int = 25) -> list[ModelSeed]:
    """The seed, relative to ``now``. Defaults give 285 versions."""
    rnd = random.Random(20261123)

    def age(days: float) -> datetime:
        return now - timedelta(days=days)

    # tok: one version every ~0.9 days, newest youngest; ages 0.4 .. ~71.5 days, never 29.5-30.5.
    tok_versions = []
    for n in range(1, tok + 1):
        days = _off_boundary((tok - n) * 0.9 + 0.4, 30)
        tok_versions.append(VersionSeed(number=n, created_at=age(days), created_by="trainer"))
    tok_seed = ModelSeed(TOK, "tokenizer", tuple(tok_versions), {"production": tok - 3, "legacy": 7})

    # clf: derived from tok (v n -> tok v ceil(n/2)), ages 0.3 .. ~75 days.
    clf_versions = []
    for n in range(1, clf + 1):
        days = _off_boundary((clf - n) * 0.5 + 0.3, 30, 10)
        metrics: dict[str, float] = {"val_loss": round(rnd.uniform(0.2, 0.6), 4)}
        if n % 17 != 0:  # some versions never logged val_f1: never among the best
            metrics["val_f1"] = round(rnd.uniform(0.70, 0.90), 4)
        metadata: dict[str, str] = {"git_commit": f"{n:07x}"}
        if n in (12, 13, 60):
            metadata["pinned"] = "yes"
        inputs = (VersionId(TOK, min(tok, (n + 1) // 2)),)
        clf_versions.append(
            VersionSeed(
                number=n,
                created_at=age(days),
                created_by="trainer",
                metrics=metrics,
                metadata=metadata,
                inputs=inputs,
            )
        )
    # Three clear winners among the old versions, so top-3 keeps old ones the TTL would delete.
    for n, f1 in ((20, 0.97), (33, 0.96), (41, 0.95)):
        v = clf_versions[n - 1]
        clf_versions[n - 1] = VersionSeed(
            number=v.number,
            created_at=v.created_at,
            created_by=v.created_by,
            metrics={**v.metrics, "val_f1": f1},
            metadata=v.metadata,
            inputs=v.inputs,
        )
    clf_seed = ModelSeed(
        CLF, "classifier", tuple(clf_versions), {"production": 40, "staging": clf - 2, "candidate": 8}
    )

    # emb: no retention rule; every version is old and kept, and protects the tok version it used.
    emb_versions = [
        VersionSeed(
            number=n,
            created_at=age(_off_boundary(40 + n, 30)),
            created_by="trainer",
            inputs=(VersionId(TOK, 2 + 2 * n),) if 2 + 2 * n <= tok else (),
        )
        for n in range(1, emb + 1)
    ]
    emb_seed = ModelSeed(EMB, "embeddings (no retention rule)", tuple(emb_versions), {})

    # feat: a lineage chain inside one model: the newest (kept) -> v3 -> v1, both old.
    feat_versions = []
    for n in range(1, feat + 1):
        days = _off_boundary(60 - n * 2.3, 20)
        inputs: tuple[VersionId, ...] = ()
        if n == feat:
            inputs = (VersionId(FEAT, 3),)
        elif n == 3:
            inputs = (VersionId(FEAT, 1),)
        feat_versions.append(
            VersionSeed(number=n, created_at=age(days), created_by="pipeline", inputs=inputs)
        )
    feat_seed = ModelSeed(FEAT, "features", tuple(feat_versions), {"production": feat - 1})
    return [tok_seed, clf_seed, emb_seed, feat_seed]


def _off_boundary(days: float, *ttls: float) -> float:
    """Move an age at least half a day away from each TTL boundary."""
    for ttl in ttls:
        if abs(days - ttl) < 0.5:
            days = ttl + 0.6 if days >= ttl else ttl - 0.6
    return days


def write_seed(models: Iterable[ModelSeed], path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(dump(list(models)), sort_keys=False), encoding="utf-8")
    return path


def expected_deletions(
    models: list[ModelSeed], now: datetime, *, lineage: bool = True, prefix: str = ""
) -> set[VersionId]:
    """The oracle: what the scenario policy must delete (model names may carry ``prefix``)."""
    by_name = {m.name[len(prefix) :]: m for m in models}
    go: set[VersionId] = set()

    def old(v: VersionSeed, days: float) -> bool:
        return (now - v.created_at) > timedelta(days=days)

    def newest(m: ModelSeed, n: int) -> set[int]:
        return set(sorted((v.number for v in m.versions), reverse=True)[:n])

    def aliased(m: ModelSeed) -> set[int]:
        return set(m.aliases.values())

    clf = by_name[CLF]
    f1 = [(v.metrics["val_f1"], v.number) for v in clf.versions if "val_f1" in v.metrics]
    best = {n for _, n in sorted(f1, key=lambda t: (-t[0], -t[1]))[:3]}
    for v in clf.versions:
        rule1 = old(v, 30) and v.number not in newest(clf, 5) and v.number not in best
        rule2 = old(v, 10) and v.metadata.get("pinned") != "yes"
        if rule1 and rule2 and v.number not in aliased(clf) and v.number not in newest(clf, 1):
            go.add(VersionId(clf.name, v.number))
    tok = by_name[TOK]
    for v in tok.versions:
        if old(v, 30) and v.number not in aliased(tok) and v.number not in newest(tok, 1):
            go.add(VersionId(tok.name, v.number))
    feat = by_name[FEAT]
    for v in feat.versions:
        if old(v, 20) and v.number not in aliased(feat) and v.number not in newest(feat, 1):
            go.add(VersionId(feat.name, v.number))
    if lineage:
        inputs = {VersionId(m.name, v.number): set(v.inputs) for m in models for v in m.versions}
        changed = True
        while changed:
            kept = set(inputs) - go
            protected = {i for k in kept for i in inputs[k]} & go
            changed = bool(protected)
            go -= protected
    return go


def versions_of(models: list[ModelSeed]) -> set[VersionId]:
    return {VersionId(m.name, v.number) for m in models for v in m.versions}


def aliased_versions(models: list[ModelSeed]) -> set[VersionId]:
    return {VersionId(m.name, n) for m in models for n in m.aliases.values()}


def inputs_of(models: list[ModelSeed]) -> Mapping[VersionId, tuple[VersionId, ...]]:
    return {VersionId(m.name, v.number): v.inputs for m in models for v in m.versions}
