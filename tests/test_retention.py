"""Retention planning (pure): rules + versions -> a verdict per version with every reason.

Each semantic pinned in docs/retention.md has a test here that fails when it changes:
ttl from creation, keep_last, protect (any alias by default), latest, keep_if (top N with
missing/NaN never best), several rules (deleted only if every rule lets go), and lineage
protection (transitive, across models, unmatched models included).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest

from aliasgate import cleanup as engine
from aliasgate import retention
from aliasgate.model import Principal, Version, VersionId
from aliasgate.policy import load_text
from aliasgate.policy.model import RetentionRule

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
ME = Principal("tester", authenticated=False, source="test")


def v(
    model: str,
    number: int,
    days: float,
    *,
    aliases: Sequence[str] = (),
    metrics: dict[str, float] | None = None,
    metadata: dict[str, object] | None = None,
    inputs: Sequence[str] = (),
) -> Version:
    return Version(
        model=model,
        number=number,
        created_at=NOW - timedelta(days=days),
        aliases=tuple(aliases),
        metrics=metrics or {},
        metadata=metadata or {},
        lineage=tuple(VersionId.parse(i) for i in inputs),
    )


def rules(text: str) -> tuple[RetentionRule, ...]:
    return load_text("version: 1\nretention:\n" + text, "policy.yaml").retention


def decide(
    rule_text: str,
    versions: Sequence[Version],
    *,
    lineage: bool = True,
    model_glob: str | None = None,
) -> retention.CleanupPlan:
    snapshot: dict[str, list[Version]] = {}
    for ver in versions:
        snapshot.setdefault(ver.model, []).append(ver)
    return retention.decide(
        rules(rule_text),
        snapshot,
        now=NOW,
        principal=ME,
        registry="local:test.db",
        lineage_recorded=lineage,
        model_glob=model_glob,
    )


def gone(plan: retention.CleanupPlan) -> set[str]:
    return {str(d) for d in plan.deletions}


def verdict(plan: retention.CleanupPlan, ref: str) -> retention.Verdict:
    return next(x for x in plan.verdicts if str(x) == ref)


def test_ttl_counts_age_from_creation_and_exactly_ttl_stays() -> None:
    plan = decide(
        "  - {model: m, ttl: 30d}\n",
        [v("m", 4, 1), v("m", 3, 30), v("m", 2, 30.01), v("m", 1, 90)],
    )
    assert gone(plan) == {"m:v2", "m:v1"}
    assert "age 30d within ttl 30d" in verdict(plan, "m:v3").reasons
    assert verdict(plan, "m:v1").reasons == ("age 90d > ttl 30d",)


def test_keep_last_alone_keeps_the_newest_n_by_version_number() -> None:
    # Creation times out of order on purpose: "newest" is the version number.
    plan = decide(
        "  - {model: m, keep_last: 2}\n", [v("m", n, 100 - n if n != 3 else 0.1) for n in range(1, 6)]
    )
    assert gone(plan) == {"m:v3", "m:v2", "m:v1"}
    assert verdict(plan, "m:v4").reasons == ("#2 newest (keep_last: 2)",)


def test_ttl_and_keep_last_together_keep_the_newest_n_even_when_old() -> None:
    versions = [v("m", n, 100 + (10 - n)) for n in range(1, 11)]
    plan = decide("  - {model: m, ttl: 30d, keep_last: 3}\n", versions)
    assert gone(plan) == {f"m:v{n}" for n in range(1, 8)}
    assert verdict(plan, "m:v1").reasons == ("age 109d > ttl 30d, #10 newest, beyond keep_last 3",)


def test_newest_version_holds_latest_and_is_always_kept() -> None:
    plan = decide("  - {model: m, keep_last: 0}\n", [v("m", 2, 500), v("m", 1, 600)])
    assert gone(plan) == {"m:v1"}
    assert verdict(plan, "m:v2").reasons == ("newest version (holds `latest`)",)


def test_any_alias_protects_by_default() -> None:
    plan = decide(
        "  - {model: m, ttl: 1d}\n",
        [v("m", 3, 0), v("m", 2, 50, aliases=["whatever"]), v("m", 1, 60, aliases=["production"])],
    )
    assert gone(plan) == set()
    assert verdict(plan, "m:v2").reasons == ("holds whatever (protect: *)",)


def test_narrowed_protect_lets_other_aliases_go_and_lists_them_for_removal() -> None:
    plan = decide(
        "  - {model: m, ttl: 1d, protect: [prod*]}\n",
        [
            v("m", 3, 0),
            v("m", 2, 50, aliases=["candidate", "old-ab"]),
            v("m", 1, 60, aliases=["production"]),
        ],
    )
    assert gone(plan) == {"m:v2"}
    assert verdict(plan, "m:v2").unprotected == ("candidate", "old-ab")
    assert verdict(plan, "m:v1").reasons == ("holds production (protect: prod*)",)


def test_keep_if_top_n_ignores_missing_and_nan_and_ties_go_to_the_newer_version() -> None:
    versions = [
        v("m", 9, 0),
        v("m", 8, 90, metrics={"f1": math.nan}),
        v("m", 7, 90),  # no f1 at all
        v("m", 6, 90, metrics={"f1": 0.80}),
        v("m", 5, 90, metrics={"f1": 0.80}),  # tie with v6: the newer (v6) wins
        v("m", 4, 90, metrics={"f1": 0.90}),
        v("m", 3, 90, metrics={"f1": 0.10}),
    ]
    plan = decide("  - model: m\n    ttl: 30d\n    keep_if: [{metric: f1, top: 2}]\n", versions)
    assert gone(plan) == {"m:v8", "m:v7", "m:v5", "m:v3"}
    assert verdict(plan, "m:v4").reasons == ("keep_if top 2 by f1 (higher is better): #1 (f1 = 0.9)",)
    assert verdict(plan, "m:v6").reasons == ("keep_if top 2 by f1 (higher is better): #2 (f1 = 0.8)",)


def test_keep_if_top_n_lower_is_better_and_counts_every_version_of_the_model() -> None:
    versions = [v("m", 4, 0, metrics={"loss": 0.1}), v("m", 3, 90, metrics={"loss": 0.2})]
    versions += [v("m", 2, 90, metrics={"loss": 0.3}), v("m", 1, 90, metrics={"loss": 0.05})]
    plan = decide(
        "  - model: m\n    ttl: 30d\n    keep_if: [{metric: loss, top: 2, direction: lower}]\n", versions
    )
    # The young v4 takes one of the two places: top N ranks all versions, not only old ones.
    assert gone(plan) == {"m:v3", "m:v2"}


def test_keep_if_reuses_promotion_gates() -> None:
    versions = [
        v("m", 5, 0),
        v("m", 4, 90, metrics={"f1": 0.95}),
        v("m", 3, 90, metrics={"f1": math.nan}),  # NaN fails a min gate (fails closed)
        v("m", 2, 90, metadata={"keep": True}),
        v("m", 1, 90, metadata={"keep": "no"}),
    ]
    plan = decide(
        "  - model: m\n    ttl: 30d\n    keep_if:\n      - {metric: f1, min: 0.9}\n"
        "      - {metadata: {keep: true}}\n",
        versions,
    )
    assert gone(plan) == {"m:v3", "m:v1"}
    assert verdict(plan, "m:v4").reasons == ("keep_if f1 >= 0.9: 0.95 >= 0.9",)
    assert verdict(plan, "m:v2").reasons == ("keep_if metadata keep=True: all match",)


def test_keep_if_lineage_gate_keeps_what_was_derived_from_the_tokenizer_in_production() -> None:
    versions = [
        v("tok", 2, 90, aliases=["production"]),
        v("tok", 1, 95),
        v("m", 4, 0, inputs=["tok:v2"]),
        v("m", 3, 90, inputs=["tok:v2"]),
        v("m", 2, 90, inputs=["tok:v1"]),
    ]
    plan = decide(
        "  - model: m\n    ttl: 30d\n    keep_if: [{lineage: {model: tok, alias: production}}]\n", versions
    )
    assert gone(plan) == {"m:v2"}


def test_several_rules_delete_only_what_every_matching_rule_lets_go() -> None:
    versions = [v("m", n, 10 * (6 - n)) for n in range(1, 6)]  # ages 50, 40, 30, 20, 10 days
    plan = decide(
        "  - {name: short, model: m, ttl: 15d}\n  - {name: long, model: 'm*', ttl: 35d}\n", versions
    )
    assert gone(plan) == {"m:v1", "m:v2"}
    # v3 (30d): `short` lets it go, `long` keeps it; reasons carry the rule's name.
    assert verdict(plan, "m:v3").reasons == ("long: age 30d within ttl 35d",)
    assert verdict(plan, "m:v1").reasons == ("short: age 50d > ttl 15d", "long: age 50d > ttl 35d")
    assert verdict(plan, "m:v1").rules == ("short", "long")


def test_lineage_keeps_inputs_of_kept_versions_transitively_and_across_models() -> None:
    versions = [
        v("base", 3, 0),
        v("base", 2, 90),
        v("base", 1, 95),
        v("mid", 2, 0, inputs=["mid:v1"]),
        v("mid", 1, 90, inputs=["base:v1"]),  # old, but mid:v2 (kept) derives from it
        v("top", 1, 90, aliases=["production"], inputs=["base:v2"]),
    ]
    plan = decide("  - {model: '*', ttl: 30d}\n", versions)
    assert gone(plan) == set()
    assert "kept version(s) derived from it: mid:v2" in verdict(plan, "mid:v1").reasons
    assert "kept version(s) derived from it: mid:v1" in verdict(plan, "base:v1").reasons
    assert "kept version(s) derived from it: top:v1" in verdict(plan, "base:v2").reasons


def test_a_deleted_version_protects_nothing() -> None:
    versions = [v("m", 3, 0), v("m", 2, 90, inputs=["m:v1"]), v("m", 1, 95)]
    plan = decide("  - {model: m, ttl: 30d}\n", versions)
    assert gone(plan) == {"m:v2", "m:v1"}


def test_versions_of_models_without_a_rule_protect_their_inputs() -> None:
    versions = [v("m", 2, 0), v("m", 1, 90), v("other", 1, 365, inputs=["m:v1"])]
    plan = decide("  - {model: m, ttl: 30d}\n", versions)
    assert gone(plan) == set()
    assert {x.model for x in plan.verdicts} == {"m"}  # the unmatched model is not listed


def test_without_recorded_lineage_the_plan_says_so_and_cannot_protect() -> None:
    versions = [v("m", 2, 0), v("m", 1, 90), v("other", 1, 365, inputs=["m:v1"])]
    plan = decide("  - {model: m, ttl: 30d}\n", versions, lineage=False)
    assert gone(plan) == {"m:v1"}
    assert any("records no lineage" in n for n in plan.notes)


def test_model_glob_narrows_and_a_rule_matching_nothing_is_noted() -> None:
    versions = [v("a", 2, 0), v("a", 1, 90), v("b", 2, 0), v("b", 1, 90)]
    plan = decide(
        "  - {model: '*', ttl: 30d}\n  - {name: ghost, model: zzz, ttl: 1d}\n", versions, model_glob="a"
    )
    assert gone(plan) == {"a:v1"}
    assert any(n.startswith("ghost (policy.yaml:") and "no model matches 'zzz'" in n for n in plan.notes)


def test_plan_is_a_json_value_with_a_stable_id() -> None:
    versions = [v("m", 2, 0, metrics={"f1": math.nan}), v("m", 1, 90, aliases=["x"])]
    a = decide("  - {model: m, ttl: 30d}\n", versions)
    b = decide("  - {model: m, ttl: 30d}\n", versions)
    assert a.id == b.id
    data = json.loads(json.dumps(a.as_dict(), allow_nan=False))
    assert data["summary"] == {"models": 1, "versions": 2, "delete": 0, "keep": 2}
    assert data["versions"][1] == {
        "model": "m",
        "version": 1,
        "created_at": "2026-08-25T12:00:00.000000Z",
        "aliases": ["x"],
        "verdict": "keep",
        "reasons": ["holds x (protect: *)"],
        "rules": ["retention[m]"],
    }


@pytest.mark.parametrize("n", [0, 1, 7])
def test_over_cap_is_strictly_more_than_the_cap(n: int) -> None:
    versions = [v("m", 10, 0)] + [v("m", k, 90) for k in range(1, 8)]
    plan = decide("  - {model: m, ttl: 30d}\n", versions)
    assert len(plan.deletions) == 7
    assert (engine.over_cap(plan, n) is None) == (n >= 7)


def test_kept_versions_without_recorded_lineage_are_named_in_a_note() -> None:
    from dataclasses import replace

    versions = [v("m", 3, 0), v("m", 2, 90), v("m", 1, 95)]
    versions[0] = replace(versions[0], lineage_recorded=False)  # e.g. MLflow without aliasgate.inputs
    versions[1] = replace(versions[1], lineage_recorded=False)  # deleted anyway: protects nothing
    plan = decide("  - {model: m, ttl: 30d}\n", versions)
    assert gone(plan) == {"m:v2", "m:v1"}
    assert plan.notes == (
        "1 kept version(s) record no lineage (m:v3): whatever they were derived from is not protected by lineage",
    )
