"""`promote cleanup --native-ttl` against the W&B double: W&B's own TTL as the verdicts say.

The double keeps W&B's TTL rules (reference wandb.md §5.2): values > 0 / -1 inherit / -2
disabled, a team default TTL inherited by every version, expiry counted from createdAt with no
regard for aliases, no TTL on registry links, and a team policy under which a member's TTL write
is answered with success and silently ignored. ``state.expire()`` runs W&B's expiry at the
double's clock, so the tests can show what W&B would delete after the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from aliasgate import audit
from aliasgate.model import VersionId, utcnow
from aliasgate.registry import open_registry
from tests import cleanup_scenario as sc
from tests.servers.wandb_double import CI_KEY, WandbDouble, demo
from tests.servers.wandb_double.seed import seed_project, seed_registry
from tests.servers.wandb_double.state import TTL_DISABLED, Artifact, gql_id

PROJECT = "wandb://ml/demo"
REGISTRY = "wandb://acme-org/wandb-registry-model"
DAY = 86400
TEAM_TTL = 120 * DAY  # a team default longer than any seeded age: W&B expires nothing before the run
SMALL = {"clf": 45, "tok": 30, "emb": 5, "feat": 8}


class World:
    def __init__(self, scope: str = "project", **sizes: int) -> None:
        self.now = utcnow()
        self.models = sc.build(self.now, **sizes)
        self.world = demo()
        self.state = self.world.state
        if scope == "registry":
            seed_registry(
                self.state, self.models, self.world.source, self.world.registry, metrics_in="metadata"
            )
            self.uri, self.project = REGISTRY, self.world.registry
        else:
            seed_project(self.state, self.models, self.world.project, metrics_in="metadata")
            self.uri, self.project = PROJECT, self.world.project
        self.double = WandbDouble(self.state).start()

    def registry(self) -> Any:
        return open_registry(self.uri, base_url=self.double.url, api_key=CI_KEY)

    def art(self, vid: VersionId) -> Artifact:
        return self.state.version_of(self.project, vid.model, vid.number)[2]

    def ttl(self, vid: VersionId) -> tuple[int, bool]:
        art = self.art(vid)
        return self.state.ttl_seconds(art), art.ttl_inherited

    def live(self) -> set[VersionId]:
        return {
            VersionId(coll.name, m.version_index)
            for coll in self.state.iter_collections(self.project)
            for m in self.state.memberships_of(coll)
        }

    def set_ttl_calls(self) -> list[dict[str, Any]]:
        return [
            e.variables["input"] for e in self.double.journal.entries if e.operation_name == "AliasgateSetTtl"
        ]


def open_world(monkeypatch: pytest.MonkeyPatch, scope: str = "project", **sizes: int) -> World:
    w = World(scope, **sizes)
    monkeypatch.setenv("WANDB_BASE_URL", w.double.url)
    monkeypatch.setenv("WANDB_API_KEY", CI_KEY)
    return w


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = open_world(monkeypatch)
    try:
        yield w
    finally:
        w.double.stop()
    assert not w.double.internal_errors, "\n".join(w.double.internal_errors)


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = open_world(monkeypatch, **SMALL)
    try:
        yield w
    finally:
        w.double.stop()
    assert not w.double.internal_errors, "\n".join(w.double.internal_errors)


def policy_file(tmp_path: Any) -> str:
    p = tmp_path / "retention.yaml"
    p.write_text(sc.POLICY, encoding="utf-8")
    return str(p)


def matched(w: World) -> set[VersionId]:
    """Versions of the models a retention rule matches (`emb` has none)."""
    return {v for v in sc.versions_of(w.models) if v.model != sc.EMB}


def user_metadata(w: World, vid: VersionId) -> dict[str, Any]:
    meta = json.loads(w.art(vid).metadata)
    meta.pop("aliasgate", None)
    return meta


def test_kept_versions_get_ttl_disabled_and_w_and_b_expires_none_of_them(
    world: World, cli: Any, tmp_path: Any
) -> None:
    w = world
    w.state.entities["ml"].default_ttl = TEAM_TTL  # W&B would expire everything within a year
    expected = sc.expected_deletions(w.models, w.now)
    kept = matched(w) - expected
    own, already = sorted(kept)[0], sorted(kept)[1]
    w.art(own).ttl_inherited, w.art(own).ttl_own = False, 100 * DAY  # its own TTL
    w.art(already).ttl_inherited, w.art(already).ttl_own = False, None  # already disabled
    before_meta = {v: user_metadata(w, v) for v in kept}
    before_desc = {v: w.art(v).description for v in kept}

    run = cli("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, "--native-ttl", "--max-deletions", "500")
    assert run.code == 0, run.output
    assert "Native TTL (W&B): disable on" in run.stdout
    assert w.live() == sc.versions_of(w.models) - expected  # deletions exactly as without the flag

    for v in kept:
        assert w.ttl(v) == (TTL_DISABLED, False), v
    calls = w.set_ttl_calls()
    assert len(calls) == len(kept) - 1  # the already disabled one is not written again
    assert all(set(c) == {"artifactID", "ttlDurationSeconds"} for c in calls)  # nothing else sent
    assert {c["ttlDurationSeconds"] for c in calls} == {TTL_DISABLED}
    assert {v: user_metadata(w, v) for v in kept} == before_meta  # the policy's metadata untouched
    assert {v: w.art(v).description for v in kept} == before_desc

    # A year later W&B's expiry has deleted every unmatched `emb` version (team default) and
    # none of the versions the policy keeps: they include every alias holder.
    w.state.clock.advance(365 * DAY)
    w.state.expire()
    assert w.live() == kept
    assert (
        sc.aliased_versions(w.models) - {v for v in sc.aliased_versions(w.models) if v.model == sc.EMB}
        <= kept
    )

    # One `ttl` audit record per model, listing each version written, in a chain that verifies.
    reg = w.registry()
    written = {VersionId(v.model, v.number) for v in kept} - {already}
    recorded: set[VersionId] = set()
    for model in {v.model for v in kept}:
        log = reg.audit_log(model)
        assert audit.verify(log).ok
        ttl_records = [r for r in log.records if r.get("kind") == "ttl"]
        assert len(ttl_records) == 1
        rec = ttl_records[0]
        assert rec["alias"] is None and rec["principal"]["name"] == "ci-bot" and rec["plan"]["id"]
        assert all(x["status"] == "applied" and x["to"] == TTL_DISABLED for x in rec["versions"])
        recorded |= {VersionId(model, x["version"]) for x in rec["versions"]}
        own_entry = [x for x in rec["versions"] if VersionId(model, x["version"]) == own]
        if own_entry:
            assert own_entry[0]["from"] == {"seconds": 100 * DAY, "inherited": False}
    assert recorded == written
    history = cli("history", sc.CLF, "-r", w.uri)
    assert history.code == 0 and "TTL disabled" in history.stdout


def test_without_native_ttl_the_team_default_would_expire_kept_versions(
    small: World, cli: Any, tmp_path: Any
) -> None:
    """The control for the test above: the same run without the flag leaves W&B free to expire
    production (so the pin is what keeps it)."""
    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    run = cli("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, "--max-deletions", "500")
    assert run.code == 0, run.output
    assert not w.set_ttl_calls()
    w.state.clock.advance(365 * DAY)
    w.state.expire()
    production = VersionId(sc.CLF, 40)
    assert w.state.holder(w.project, sc.CLF, "production") is None
    assert production not in w.live()


def test_dry_run_shows_the_ttl_changes_and_sends_no_mutation(small: World, cli: Any, tmp_path: Any) -> None:
    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    before = {v: w.ttl(v) for v in sc.versions_of(w.models)}
    run = cli("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, "--native-ttl", "--dry-run", "--json")
    assert run.code == 0, run.output
    assert not w.double.journal.mutations()
    data = json.loads(run.stdout)
    ttl = data["result"]["native_ttl"]
    assert ttl["dry_run"] is True and not ttl["outcomes"]
    kept = matched(w) - sc.expected_deletions(w.models, w.now)
    writes = {VersionId(c["model"], c["version"]) for c in ttl["changes"] if c["action"] == "disable"}
    assert writes == kept
    assert all(
        c["before"] == {"seconds": TEAM_TTL, "inherited": True} and c["target"] == TTL_DISABLED
        for c in ttl["changes"]
    )
    assert {v: w.ttl(v) for v in sc.versions_of(w.models)} == before

    text = cli("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, "--native-ttl", "--dry-run")
    assert text.code == 0, text.output
    assert "team default 120d" in text.stdout and "would disable W&B's TTL" in text.stdout
    assert not w.double.journal.mutations()


def test_a_member_whose_team_reserves_ttl_to_admins_is_ignored_and_told(
    small: World, cli: Any, tmp_path: Any
) -> None:
    w = small
    team = w.state.entities["ml"]
    team.default_ttl = TEAM_TTL
    team.members_may_set_ttl = False  # ci-bot is a team member, not an admin
    expected = sc.expected_deletions(w.models, w.now)
    kept = matched(w) - expected
    run = cli("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, "--native-ttl", "--max-deletions", "500")
    assert run.code == 1, run.output
    assert "W&B ignored the TTL ci-bot wrote on" in run.stdout
    assert "TTL permissions" in run.stdout
    assert w.live() == sc.versions_of(w.models) - expected  # the deletions themselves went through
    assert len(w.set_ttl_calls()) == len(kept)  # every write was sent, and W&B answered success
    assert all(w.ttl(v) == (TEAM_TTL, True) for v in kept)  # ... and changed nothing
    reg = w.registry()
    assert not [r for r in reg.audit_log(sc.CLF).records if r.get("kind") == "ttl"]  # nothing changed

    as_json = cli("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, "--native-ttl", "--json")
    assert as_json.code == 1
    result = json.loads(as_json.stdout)["result"]
    assert result["exit_code"] == 1
    assert result["native_ttl"]["result"]["ignored"] == len(kept)
    assert "W&B ignored" in result["native_ttl"]["warning"]

    team.members["ci-bot"] = "admin"  # a team admin's key: the same run now applies
    fixed = cli("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, "--native-ttl")
    assert fixed.code == 0, fixed.output
    assert all(w.ttl(v) == (TTL_DISABLED, False) for v in kept)


def test_registry_links_are_skipped_with_a_note(
    monkeypatch: pytest.MonkeyPatch, cli: Any, tmp_path: Any
) -> None:
    w = open_world(monkeypatch, "registry", **SMALL)
    try:
        run = cli(
            "cleanup",
            "-p",
            policy_file(tmp_path),
            "-r",
            w.uri,
            "--native-ttl",
            "--json",
            "--max-deletions",
            "500",
        )
        assert run.code == 0, run.output
        ttl = json.loads(run.stdout)["result"]["native_ttl"]
        kept = matched(w) - sc.expected_deletions(w.models, w.now)
        assert ttl["summary"] == {"disable": 0, "unchanged": 0, "skip": len(kept)}
        assert any("linked into a W&B Registry collection" in n for n in ttl["notes"])
        assert not w.set_ttl_calls()
        assert "AliasgateUnlinkArtifact" in w.double.journal.names()  # cleanup itself still ran
    finally:
        w.double.stop()
    assert not w.double.internal_errors


def test_a_project_version_linked_into_the_registry_is_left_alone(
    small: World, cli: Any, tmp_path: Any
) -> None:
    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    production = VersionId(sc.CLF, 40)
    w.state.link_artifact(
        w.state.account("ci-bot"),
        {
            "artifactID": gql_id("Artifact", w.art(production).id),
            "artifactPortfolioName": "classifier",
            "entityName": "acme-org",
            "projectName": "wandb-registry-model",
        },
    )
    run = cli(
        "cleanup",
        "-p",
        policy_file(tmp_path),
        "-r",
        w.uri,
        "--native-ttl",
        "--json",
        "--max-deletions",
        "500",
    )
    assert run.code == 0, run.output
    ttl = json.loads(run.stdout)["result"]["native_ttl"]
    skipped = [c for c in ttl["changes"] if c["action"] == "skip"]
    assert [(c["model"], c["version"]) for c in skipped] == [(sc.CLF, 40)]
    assert any("clf:v40" in n for n in ttl["notes"])
    assert gql_id("Artifact", w.art(production).id) not in {c["artifactID"] for c in w.set_ttl_calls()}
    assert len(w.set_ttl_calls()) == ttl["summary"]["disable"] > 0


def test_a_version_that_gains_an_alias_after_planning_is_pinned_not_deleted(
    small: World, tmp_path: Any
) -> None:
    from aliasgate import api

    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    path = tmp_path / "retention.yaml"
    path.write_text("version: 1\nretention:\n  - {model: feat, ttl: 20d}\n", encoding="utf-8")
    reg = w.registry()
    session = api.Session(reg, reg.whoami())
    plan = api.cleanup_plan(api.load(path), session)
    ttl_plan = api.native_ttl_plan(session, plan)
    victim = plan.deletions[0].number
    w.state.move_alias(w.project, "feat", "hotfix", victim, as_user="alice")  # another client
    result = api.cleanup(session, plan, native_ttl=ttl_plan, max_deletions=100)
    assert {o.number: o.status for o in result.outcomes}[victim] == "skipped"
    assert result.exit_code == 0
    assert w.ttl(VersionId("feat", victim)) == (TTL_DISABLED, False)
    statuses = {(o.model, o.number): o.status for o in result.native_ttl.outcomes}
    assert statuses[("feat", victim)] == "applied"


def test_the_deletion_cap_aborts_before_any_ttl_write(small: World, cli: Any, tmp_path: Any) -> None:
    run = cli("cleanup", "-p", policy_file(tmp_path), "-r", small.uri, "--native-ttl", "--max-deletions", "1")
    assert run.code == 3, run.output
    assert not small.double.journal.mutations()
    assert "no TTL written" in run.stdout


def test_native_ttl_is_w_and_b_only(demo: Any, cli: Any) -> None:
    policy = demo.write("retention.yaml", "version: 1\nretention:\n  - {model: '*', ttl: 1d}\n")
    before = demo.registry().versions("bert-classifier")
    run = cli("cleanup", "-p", str(policy), "-r", demo.uri, "--native-ttl")
    assert run.code == 2, run.output
    assert "--native-ttl is W&B only" in run.stderr
    assert [v.number for v in demo.registry().versions("bert-classifier")] == [v.number for v in before]


def test_a_refused_write_is_reported_as_failed(small: World, tmp_path: Any) -> None:
    """W&B refuses one version's update with an error (not the silent kind): the other writes go
    through, the run exits 1 naming the version. A version linked into the registry after
    planning also refuses a TTL, but linking already switched its TTL off: that counts as done."""
    from aliasgate import api

    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    reg = w.registry()
    session = api.Session(reg, reg.whoami())
    plan = api.cleanup_plan(api.load(policy_file(tmp_path)), session)
    ttl_plan = api.native_ttl_plan(session, plan)
    refused, linked = VersionId(sc.CLF, 44), VersionId(sc.CLF, 40)
    w.state.refuse_updates[w.art(refused).id] = "artifact updates are disabled by an organization policy"
    w.state.link_artifact(
        w.state.account("ci-bot"),
        {
            "artifactID": gql_id("Artifact", w.art(linked).id),
            "artifactPortfolioName": "classifier",
            "entityName": "acme-org",
            "projectName": "wandb-registry-model",
        },
    )
    result = api.cleanup(session, plan, native_ttl=ttl_plan, max_deletions=500)
    assert result.exit_code == 1
    status = {VersionId(o.model, o.number): o for o in result.native_ttl.outcomes}
    assert status[refused].status == "failed" and "organization policy" in status[refused].message
    assert status[linked].status == "applied" and w.ttl(linked) == (TTL_DISABLED, False)
    assert sum(1 for o in status.values() if o.status == "applied") == len(ttl_plan.writes) - 1
    assert w.ttl(refused) == (TEAM_TTL, True)


def test_a_stopped_cleanup_sends_no_ttl_write(small: World, tmp_path: Any) -> None:
    import threading

    from aliasgate import api

    w = small
    reg = w.registry()
    session = api.Session(reg, reg.whoami())
    plan = api.cleanup_plan(api.load(policy_file(tmp_path)), session)
    ttl_plan = api.native_ttl_plan(session, plan)
    assert ttl_plan.writes
    stop = threading.Event()
    stop.set()  # as a SIGTERM before the first deletion would
    result = api.cleanup(session, plan, native_ttl=ttl_plan, max_deletions=500, stop=stop)
    assert result.native_ttl.not_run and not result.native_ttl.outcomes
    assert not w.double.journal.mutations()


def test_ttl_states_and_the_decision_for_one_version() -> None:
    from aliasgate import native_ttl as nt
    from aliasgate.registry.wandb.ttl import decode

    assert decode(-2, False).disabled
    assert not decode(-2, True).disabled  # inherits: a team default may come later
    assert decode(0, True).describe() == "team default (none set)"
    own = decode(DAY, False)
    assert (own.seconds, own.describe(), nt.matches(own, DAY), nt.matches(own, nt.DISABLED)) == (
        DAY,
        "1d",
        True,
        False,
    )
    assert nt.change("m", 1, None, "kept").action == nt.SKIP
    linked = decode(-2, False, registry_linked=True)
    assert nt.change("m", 1, linked, "kept").action == nt.SKIP
    auto = decode(DAY, False, artifact_type="wandb-history")
    assert nt.change("m", 1, auto, "kept").action == nt.SKIP
    assert nt.change("m", 1, decode(-2, False), "kept").action == nt.UNCHANGED
    assert nt.change("m", 1, decode(-2, True), "kept").action == nt.WRITE
    assert nt.change("m", 1, own, "kept").action == nt.WRITE


def test_many_changes_are_audited_in_several_small_records(
    small: World, cli: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aliasgate import native_ttl

    monkeypatch.setattr(native_ttl, "RECORD_VERSIONS", 10)
    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    run = cli("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, "--native-ttl", "--max-deletions", "500")
    assert run.code == 0, run.output
    kept_clf = {v for v in matched(w) - sc.expected_deletions(w.models, w.now) if v.model == sc.CLF}
    log = w.registry().audit_log(sc.CLF)
    assert audit.verify(log).ok
    records = [r for r in log.records if r.get("kind") == "ttl"]
    assert len(records) == -(-len(kept_clf) // 10) and all(len(r["versions"]) <= 10 for r in records)
    assert {VersionId(sc.CLF, x["version"]) for r in records for x in r["versions"]} == kept_clf


# -- on GitHub: step summary, annotations, outputs (the CLI in a real process, then the action) --------------


def on_github(w: World, tmp_path: Any, *args: str) -> tuple[Any, dict[str, str], str, list[Any]]:
    """``promote cleanup`` as a `run:` step would run it: GITHUB_ACTIONS, the output and summary files;
    returns the run, its step outputs, its summary and its annotations, read the way the runner reads them."""
    from tests.conftest import clean_env, run_promote
    from tests.github_runner import Annotation, _Log, parse_file_command

    files = {k: tmp_path / k.lower() for k in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for f in files.values():
        f.write_text("", encoding="utf-8")
    env = clean_env(
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(tmp_path),
        WANDB_BASE_URL=w.double.url,
        WANDB_API_KEY=CI_KEY,
        **{k: str(v) for k, v in files.items()},
    )
    run = run_promote("cleanup", "-p", policy_file(tmp_path), "-r", w.uri, *args, cwd=tmp_path, env=env)
    annotations: list[Annotation] = []
    _Log([], annotations, []).feed(run.stderr)  # workflow commands go to the log stream
    outputs = parse_file_command(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
    summary = files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
    assert "::add-mask::" not in run.stdout and f"::add-mask::{CI_KEY}" in run.stderr
    unmasked = "\n".join(ln for ln in run.stderr.splitlines() if not ln.startswith("::add-mask::"))
    shown = run.stdout + unmasked + summary + str(outputs)
    assert CI_KEY not in shown
    return run, outputs, summary, annotations


def test_on_github_the_ttl_results_reach_summary_and_outputs(small: World, tmp_path: Any) -> None:
    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    already = sorted(matched(w) - sc.expected_deletions(w.models, w.now))[0]
    w.art(already).ttl_inherited, w.art(already).ttl_own = False, None
    kept = matched(w) - sc.expected_deletions(w.models, w.now)
    run, outputs, summary, annotations = on_github(w, tmp_path, "--native-ttl", "--max-deletions", "500")
    assert run.code == 0, run.stdout + run.stderr
    assert outputs["ttl-disabled"] == str(len(kept) - 1) and outputs["ttl-failed"] == "0"
    assert outputs["exit-code"] == "0" and outputs["changed"] == "true"
    assert not [a for a in annotations if a.level == "error"]
    section = summary[summary.index("### W&B native TTL") :]
    assert f"Plan: disable on {len(kept) - 1} kept version(s) · 1 already disabled (unchanged)" in section
    assert f"| ✅ applied | {len(kept) - 1} |" in section
    assert "| unchanged (already disabled) | 1 |" in section
    assert "ignored" not in section and "| model | version | status |" not in section  # no problem table
    assert f"Audited as `{sc.CLF}` #" in section


def test_on_github_ignored_and_refused_ttl_writes_are_errors(small: World, tmp_path: Any) -> None:
    """W&B silently ignores every write (the team reserves TTL to admins) but one, which it refuses
    outright: one error names the fix, one names the refused version; the summary lists each
    write that did not apply; ttl-failed counts both."""
    w = small
    team = w.state.entities["ml"]
    team.default_ttl = TEAM_TTL
    team.members_may_set_ttl = False
    refused = VersionId(sc.CLF, 44)
    w.state.refuse_updates[w.art(refused).id] = "artifact updates are disabled by an organization policy"
    kept = matched(w) - sc.expected_deletions(w.models, w.now)
    assert refused in kept
    run, outputs, summary, annotations = on_github(w, tmp_path, "--native-ttl", "--max-deletions", "500")
    assert run.code == 1, run.stdout + run.stderr
    assert outputs["exit-code"] == "1"
    assert outputs["ttl-disabled"] == "0" and outputs["ttl-failed"] == str(len(kept))
    assert outputs["changed"] == "true"  # the deletions went through
    errors = [a for a in annotations if a.level == "error"]
    assert [a.properties.get("title") for a in errors] == ["aliasgate: native TTL"] * 2
    ignored, failed = errors
    assert ignored.message.startswith(f"W&B ignored the TTL ci-bot wrote on {len(kept) - 1} version(s)")
    assert "TTL permissions" in ignored.message and ignored.file == "retention.yaml"
    assert failed.message == (
        f"{refused}: TTL not disabled: W&B: artifact updates are disabled by an organization policy"
    )
    section = summary[summary.index("### W&B native TTL") :]
    assert "| ✅ applied | 0 |" in section
    assert f"| ⛔ ignored | {len(kept) - 1} |" in section and "| ❌ failed | 1 |" in section
    assert "> ⛔ W&B ignored the TTL ci-bot wrote on" in section
    table = section[section.index("| model | version | status | TTL before | TTL now | message |") :]
    rows = [r for r in table.splitlines()[2:] if r.startswith("| `")]
    assert len(rows) == len(kept)
    assert rows[0] == (
        f"| `{sc.CLF}` | v44 | ❌ failed | team default 120d | team default 120d "
        "| clf:v44: W&B: artifact updates are disabled by an organization policy |"
    )
    assert all(
        "⛔ ignored" in r and "W&B answered success but the TTL is still team default 120d" in r
        for r in rows[1:]
    )
    assert "Audited as" not in section


def test_on_github_a_dry_run_reports_the_plan_and_without_the_flag_nothing(
    small: World, tmp_path: Any
) -> None:
    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    kept = matched(w) - sc.expected_deletions(w.models, w.now)
    run, outputs, summary, annotations = on_github(w, tmp_path, "--native-ttl", "--dry-run")
    assert run.code == 0, run.stdout + run.stderr
    assert not w.double.journal.mutations()
    assert outputs["ttl-disabled"] == "0" and outputs["ttl-failed"] == "0"
    assert f"Dry run: would disable W&B's TTL on {len(kept)} version(s); nothing sent." in summary
    assert not [a for a in annotations if a.level == "error"]

    run, outputs, summary, _ = on_github(w, tmp_path, "--dry-run")
    assert run.code == 0, run.stdout + run.stderr
    assert "ttl-disabled" not in outputs and "ttl-failed" not in outputs
    assert "W&B native TTL" not in summary


def test_the_action_passes_native_ttl_to_cleanup(small: World, tmp_path: Any) -> None:
    """action.yml with `native-ttl: true` against the double: the flag reaches promote through
    env (the action's test of inputs), the kept versions' TTL is disabled, the outputs are the action's."""
    import sys

    from tests.conftest import ROOT, clean_env
    from tests.github_runner import run_action
    from tests.test_action import assert_secret_never_shown

    w = small
    w.state.entities["ml"].default_ttl = TEAM_TTL
    kept = matched(w) - sc.expected_deletions(w.models, w.now)
    (tmp_path / "ws").mkdir()
    policy_file(tmp_path / "ws")
    run = run_action(
        ROOT,
        {
            "command": "cleanup",
            "policy": "retention.yaml",
            "registry": w.uri,
            "token": CI_KEY,
            "native-ttl": "true",
            "args": "--max-deletions 500",
        },
        workspace=tmp_path / "ws",
        temp=tmp_path / "runner-temp",
        env=clean_env(ALIASGATE_PYTHON=sys.executable, WANDB_BASE_URL=w.double.url),
    )
    assert run.outcome == "success", run.raw
    assert f"promote cleanup -p retention.yaml --registry {w.uri} --native-ttl --max-deletions 500" in run.raw
    assert run.outputs["ttl-disabled"] == str(len(kept)) and run.outputs["ttl-failed"] == "0"
    assert all(w.ttl(v) == (TTL_DISABLED, False) for v in kept)
    assert "### W&B native TTL" in run.summary
    assert_secret_never_shown(run, CI_KEY)
