"""Every gate passes and fails where it should, reports what it observed, and fails closed."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from aliasgate.gates import Context, GateResult, evaluate
from aliasgate.model import Principal, Version, VersionId
from aliasgate.policy import load_text
from aliasgate.policy.model import Gate

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
CI = Principal("ci-prod", authenticated=True, source="test")


def gate(spec: str) -> Gate:
    text = f"version: 1\npromotions:\n  - name: r\n    model: m\n    from: staging\n    to: production\n    gates:\n      - {spec}\n"
    return load_text(text, "p.yaml").promotions[0].gates[0]


def version(
    number: int = 5, *, model: str = "m", age: timedelta = timedelta(days=1), **kw: object
) -> Version:
    return Version(model=model, number=number, created_at=NOW - age, **kw)  # type: ignore[arg-type]


def ctx(
    holders: dict[tuple[str, str], Version] | None = None,
    *,
    now: datetime = NOW,
    principal: Principal = CI,
    after: dict[tuple[str, str], Version] | None = None,
) -> Context:
    h = holders or {}
    a = {**h, **(after or {})}
    return Context(
        now=now, principal=principal, holder=lambda m, al: h.get((m, al)), after=lambda m, al: a.get((m, al))
    )


def check(spec: str, cand: Version | None, c: Context | None = None) -> GateResult:
    result = evaluate(gate(spec), cand, c or ctx())
    assert result.line == 8  # every result points at the gate's line
    return result


# -- metric: min / max --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "value", "passed"),
    [
        ("{metric: f1, min: 0.89}", 0.89, True),  # the boundary passes
        ("{metric: f1, min: 0.89}", 0.8899, False),
        ("{metric: loss, max: 0.35}", 0.35, True),
        ("{metric: loss, max: 0.35}", 0.351, False),
        ("{metric: f1, min: 0.5, max: 0.9}", 0.7, True),
        ("{metric: f1, min: 0.5, max: 0.9}", 0.95, False),
        ("{metric: f1, min: 1}", 1, True),  # ints are numbers too
    ],
)
def test_min_max(spec: str, value: float, passed: bool) -> None:
    r = check(spec, version(metrics={"f1": value, "loss": value}))
    assert r.passed is passed
    assert r.observed == value


@pytest.mark.parametrize(
    ("metrics", "why"),
    [
        ({}, "is missing"),
        ({"f1": float("nan")}, "is NaN"),
        ({"f1": float("inf")}, "inf"),
        ({"f1": "high"}, "not a number"),
        ({"f1": None}, "is missing"),
        ({"f1": True}, "not a number"),
    ],
)
def test_missing_or_bad_metric_fails_closed(metrics: dict[str, object], why: str) -> None:
    for spec in ("{metric: f1, min: 0}", "{metric: f1, max: 1e9}", "{metric: f1, beats: production}"):
        r = check(spec, version(metrics=metrics), ctx({("m", "production"): version(2, metrics={"f1": 0.1})}))
        assert not r.passed and why in r.detail and "fails closed" in r.detail


# -- metric: beats (champion / challenger) -----------------------------------------------------------------


def champion(value: float | None) -> dict[tuple[str, str], Version]:
    return {("m", "production"): version(2, metrics={} if value is None else {"f1": value, "loss": value})}


@pytest.mark.parametrize(
    ("spec", "cand", "champ", "passed"),
    [
        ("{metric: f1, beats: production}", 0.91, 0.90, True),
        ("{metric: f1, beats: production}", 0.90, 0.90, False),  # a tie does not beat
        ("{metric: f1, beats: production, by: 0.005}", 0.905, 0.90, True),  # exactly the margin passes
        ("{metric: f1, beats: production, by: 0.005}", 0.9049, 0.90, False),
        ("{metric: f1, beats: production, by: 0.2}", 0.3, 0.1, True),  # 0.1 + 0.2 != 0.3 in binary floats
        ("{metric: f1, beats: production, by: '10%'}", 0.88, 0.80, True),  # relative: needs 0.08
        ("{metric: f1, beats: production, by: '10%'}", 0.879, 0.80, False),
        ("{metric: f1, beats: production, by: '1%'}", 0.01, 0.0, True),  # zero champion: strictly better
        ("{metric: f1, beats: production, by: '1%'}", 0.0, 0.0, False),
        ("{metric: loss, beats: production, direction: lower}", 0.30, 0.35, True),
        ("{metric: loss, beats: production, direction: lower}", 0.36, 0.35, False),
        ("{metric: loss, beats: production, direction: lower, by: 0.05}", 0.30, 0.35, True),
        ("{metric: loss, beats: production, direction: lower, by: 0.06}", 0.30, 0.35, False),
    ],
)
def test_beats(spec: str, cand: float, champ: float, passed: bool) -> None:
    r = check(spec, version(metrics={"f1": cand, "loss": cand}), ctx(champion(champ)))
    assert r.passed is passed, r.detail
    assert r.observed["candidate"] == cand and r.observed["champion"] == champ
    assert r.observed["champion_version"] == "m:v2"


def test_beats_with_no_holder_passes_and_says_so() -> None:
    r = check("{metric: f1, beats: production}", version(metrics={"f1": 0.1}), ctx({}))
    assert r.passed and "nothing holds m:production yet" in r.detail
    assert r.observed == {"candidate": 0.1, "champion": None}


def test_beats_fails_closed_when_champion_lacks_the_metric() -> None:
    r = check("{metric: f1, beats: production}", version(metrics={"f1": 0.9}), ctx(champion(None)))
    assert not r.passed and "cannot compare" in r.detail


def test_beats_nan_champion_fails_closed() -> None:
    r = check("{metric: f1, beats: production}", version(metrics={"f1": 0.9}), ctx(champion(math.nan)))
    assert not r.passed


def test_beats_compares_with_current_holder_not_post_move_view() -> None:
    cand = version(5, metrics={"f1": 0.9})
    c = ctx(champion(0.95), after={("m", "production"): cand})
    assert not check("{metric: f1, beats: production}", cand, c).passed


def test_min_max_and_beats_in_one_gate_all_reported() -> None:
    r = check("{metric: f1, min: 0.95, beats: production}", version(metrics={"f1": 0.9}), ctx(champion(0.8)))
    assert not r.passed and "0.9 < 0.95" in r.detail and "beats m:v2" in r.detail


# -- metadata ---------------------------------------------------------------------------------------------


def test_metadata_required_keys() -> None:
    ok = check(
        "{metadata: [git_commit, framework]}", version(metadata={"git_commit": "abc", "framework": "pt"})
    )
    assert ok.passed and ok.observed == {"git_commit": "abc", "framework": "pt"}
    bad = check("{metadata: [git_commit, framework]}", version(metadata={"git_commit": ""}))
    assert not bad.passed and "lacks git_commit, framework" in bad.detail


@pytest.mark.parametrize(
    ("have", "passed"),
    [
        ({"framework": "pytorch", "epochs": 10, "fp16": True}, True),
        ({"framework": "pytorch", "epochs": "10", "fp16": "true"}, True),  # MLflow tags are strings
        ({"framework": "jax", "epochs": 10, "fp16": True}, False),
        ({"framework": "pytorch", "epochs": 11, "fp16": True}, False),
        ({"framework": "pytorch", "epochs": 10}, False),
    ],
)
def test_metadata_required_values(have: dict[str, object], passed: bool) -> None:
    r = check("{metadata: {framework: pytorch, epochs: 10, fp16: true}}", version(metadata=have))
    assert r.passed is passed, r.detail


# -- lineage ----------------------------------------------------------------------------------------------


TOK = {("tok", "production"): version(2, model="tok")}


def test_lineage_any_version_of_model() -> None:
    assert check("{lineage: {model: tok}}", version(lineage=(VersionId("tok", 1),))).passed
    r = check("{lineage: {model: tok}}", version(lineage=(VersionId("other", 1),)))
    assert not r.passed and "not derived from tok" in r.detail


def test_lineage_pinned_to_alias() -> None:
    good = check(
        "{lineage: {model: tok, alias: production}}", version(lineage=(VersionId("tok", 2),)), ctx(TOK)
    )
    assert good.passed and good.observed["required"] == "tok:v2"
    swapped = check(
        "{lineage: {model: tok, alias: production}}", version(lineage=(VersionId("tok", 1),)), ctx(TOK)
    )
    assert not swapped.passed and "tok:production is tok:v2" in swapped.detail


def test_lineage_alias_held_by_nothing_fails() -> None:
    r = check("{lineage: {model: tok, alias: production}}", version(lineage=(VersionId("tok", 2),)), ctx({}))
    assert not r.passed and "nothing holds tok:production" in r.detail


def test_lineage_unknown_to_the_registry_fails_closed() -> None:
    r = check("{lineage: {model: tok}}", version(lineage=(), lineage_recorded=False))
    assert not r.passed and "records no lineage" in r.detail


def test_lineage_in_a_bundle_checks_the_holder_after_the_move() -> None:
    cand = version(lineage=(VersionId("tok", 3),))
    c = ctx(TOK, after={("tok", "production"): version(3, model="tok")})
    assert check("{lineage: {model: tok, alias: production}}", cand, c).passed


# -- max_age -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "passed"), [(timedelta(days=14), True), (timedelta(days=14, seconds=1), False)]
)
def test_max_age(age: timedelta, passed: bool) -> None:
    r = check("{max_age: 14d}", version(age=age))
    assert r.passed is passed and r.observed["age"].startswith("14d")


# -- principals ------------------------------------------------------------------------------------------


def test_principals() -> None:
    assert check("{principals: [ci-prod]}", version(), ctx(principal=CI)).passed
    r = check("{principals: [ci-prod]}", version(), ctx(principal=Principal("alice", True, "test")))
    assert not r.passed and "'alice' may not apply" in r.detail


def test_principals_unauthenticated_is_reported() -> None:
    r = check(
        "{principals: [ci-prod]}", version(), ctx(principal=Principal("ci-prod", False, "PROMOTE_PRINCIPAL"))
    )
    assert r.passed and "does not authenticate" in r.detail


# -- freeze windows, in a time zone, across DST ----------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


WEEKEND = "{freeze: {windows: ['Fri 16:00-Mon 08:00'], tz: Europe/Berlin}}"


@pytest.mark.parametrize(
    ("now", "frozen"),
    [
        # winter (CET, UTC+1): Friday 16:00 local is 15:00 UTC
        (utc(2026, 1, 9, 14, 59), False),
        (utc(2026, 1, 9, 15, 0), True),
        (utc(2026, 1, 12, 6, 59), True),
        (utc(2026, 1, 12, 7, 0), False),
        # summer (CEST, UTC+2): the same wall clock is an hour earlier in UTC
        (utc(2026, 7, 10, 13, 59), False),
        (utc(2026, 7, 10, 14, 0), True),
        (utc(2026, 7, 13, 5, 59), True),
        (utc(2026, 7, 13, 6, 0), False),
        # spring forward (Sun 29 Mar 2026): freeze starts in CET, ends in CEST
        (utc(2026, 3, 27, 15, 0), True),
        (utc(2026, 3, 30, 5, 59), True),
        (utc(2026, 3, 30, 6, 0), False),
        # fall back (Sun 25 Oct 2026): starts in CEST, ends in CET
        (utc(2026, 10, 23, 13, 59), False),
        (utc(2026, 10, 23, 14, 0), True),
        (utc(2026, 10, 26, 6, 59), True),
        (utc(2026, 10, 26, 7, 0), False),
        # the middle of the frozen weekend
        (utc(2026, 3, 29, 1, 30), True),
    ],
)
def test_weekly_freeze_follows_the_local_clock_across_dst(now: datetime, frozen: bool) -> None:
    r = check(WEEKEND, None, ctx(now=now))
    assert r.passed is (not frozen), r.detail


@pytest.mark.parametrize(
    ("now", "frozen"),
    [
        (utc(2026, 3, 29, 0, 59), False),  # 01:59 CET
        (utc(2026, 3, 29, 1, 0), True),  # clock jumps 02:00 -> 03:00 CEST, inside 02:30-03:30
        (utc(2026, 3, 29, 1, 29), True),
        (utc(2026, 3, 29, 1, 30), False),  # 03:30 CEST
    ],
)
def test_window_edge_in_the_skipped_hour(now: datetime, frozen: bool) -> None:
    r = check("{freeze: {windows: ['02:30-03:30'], tz: Europe/Berlin}}", None, ctx(now=now))
    assert r.passed is (not frozen)


@pytest.mark.parametrize("now", [utc(2026, 10, 25, 0, 20), utc(2026, 10, 25, 1, 20)])
def test_repeated_hour_counts_twice(now: datetime) -> None:
    # 02:20 happens twice on 25 Oct 2026 in Berlin (CEST, then CET): both are frozen
    assert not check("{freeze: {windows: ['02:15-02:45'], tz: Europe/Berlin}}", None, ctx(now=now)).passed


@pytest.mark.parametrize(
    ("now", "frozen"),
    [
        (utc(2026, 12, 23, 23, 59), False),
        (utc(2026, 12, 24, 0, 0), True),
        (utc(2026, 12, 26, 23, 59), True),
        (utc(2026, 12, 27, 0, 0), False),
    ],
)
def test_dated_window_is_inclusive_of_the_end_day(now: datetime, frozen: bool) -> None:
    assert check("{freeze: {windows: ['2026-12-24..2026-12-26']}}", None, ctx(now=now)).passed is (not frozen)


def test_daily_window_wraps_midnight() -> None:
    spec = "{freeze: {windows: ['18:00-08:00']}}"
    assert not check(spec, None, ctx(now=utc(2026, 5, 5, 23, 0))).passed
    assert not check(spec, None, ctx(now=utc(2026, 5, 5, 7, 59))).passed
    assert check(spec, None, ctx(now=utc(2026, 5, 5, 8, 0))).passed


def test_freeze_reports_local_time() -> None:
    r = check(WEEKEND, None, ctx(now=utc(2026, 7, 10, 14, 0)))
    assert r.observed == "Fri 2026-07-10 16:00 CEST"


def test_no_candidate_fails_candidate_gates_but_still_reports() -> None:
    r = check("{metric: f1, min: 0}", None)
    assert not r.passed and r.detail == "no candidate to check"
