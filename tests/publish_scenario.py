"""The publishing scenario every backend is tested on (``to: {model, alias}``).

A backend supplies a :class:`PublishWorld`: how to open its registry, the source and destination
model references as a policy writes them, and how to log a candidate version with a metric. The
checks are the issue's "must show": publish + move, twice makes no second version, a racing
publish of another candidate loses with exit 4 and moves nothing, gates on the source block
publication, history on both sides shows the edge, an interrupted run is completed by the next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aliasgate import applier, audit, planner
from aliasgate.errors import ExitCode
from aliasgate.model import Principal, utcnow
from aliasgate.policy import load_text
from aliasgate.policy.model import Policy
from aliasgate.provenance import collect
from aliasgate.published import publish_record
from aliasgate.registry import Registry

POLICY = """\
version: 1
promotions:
  - name: publish-classifier
    model: SOURCE
    from: candidate
    to: {model: DEST, alias: staging}
    gates:
      - {metric: val_f1, min: 0.9}
  - name: ship
    model: DEST
    from: staging
    to: production
    gates:
      - {lineage: {model: SOURCE, rule: publish-classifier}}
"""


@dataclass
class PublishWorld:
    registry: Callable[[], Registry]
    source: str  # as the policy names it
    dest: str
    #: log a new version of the source with this val_f1; returns its number
    log_candidate: Callable[[float], int]
    #: the destination's aliases and live version numbers, as the registry shows them
    dest_versions: Callable[[], list[int]]
    #: who sets the source's `candidate` alias (the publishing account may only read the source)
    setup_registry: Callable[[], Registry] | None = None
    #: False where the publishing account may only read the source (MLflow READ): no record there
    source_writable: bool = True


def policy(w: PublishWorld) -> Policy:
    return load_text(POLICY.replace("SOURCE", w.source).replace("DEST", w.dest), "publish.yaml")


def prov() -> Any:
    return collect(Principal("publisher", False, "test"))


def set_candidate(w: PublishWorld, number: int) -> None:
    reg = (w.setup_registry or w.registry)()
    applier.set_alias(reg, w.source, "candidate", number, prov(), now=utcnow(), reason="setup")


def run(w: PublishWorld, rules: tuple[str, ...] = ("publish-classifier",)) -> applier.ApplyResult:
    reg = w.registry()
    p = planner.plan(policy(w), reg, now=utcnow(), principal=prov().principal, rules=rules)
    return applier.apply(reg, p, prov(), now=utcnow)


def staging(w: PublishWorld) -> int | None:
    return w.registry().aliases(w.dest).get("staging")


def check_publish_move_and_history(w: PublishWorld) -> int:
    """Publish + move; both chains verify and show the edge; the second run changes nothing."""
    n = w.log_candidate(0.95)
    set_candidate(w, n)
    before = list(w.dest_versions())
    result = run(w)
    assert result.exit_code == 0, [o.message for o in result.outcomes]
    assert result.outcomes[0].status == "applied"
    published = staging(w)
    assert published is not None and published not in before
    assert sorted(w.dest_versions()) == sorted([*before, published])
    reg = w.registry()
    src_log, dest_log = reg.audit_log(w.source), reg.audit_log(w.dest)
    assert audit.verify(src_log).ok and audit.verify(dest_log).ok
    found = publish_record(src_log.records, n, w.dest, published, rule="publish-classifier")
    assert (found is not None) == w.source_writable
    last = dest_log.records[-1]
    assert last["alias"] == "staging" and last["to"] == published
    assert last["published_from"]["version"] == n and last["published_from"]["model"] == w.source
    # twice: no second version, nothing moves, no new record
    again = run(w)
    assert again.exit_code == 0 and again.outcomes[0].status == "up-to-date"
    assert sorted(w.dest_versions()) == sorted([*before, published])
    assert len(w.registry().audit_log(w.dest).records) == len(dest_log.records)
    # the lineage gate follows the edge back to the rule that published it
    shipped = run(w, ("ship",))
    assert shipped.exit_code == 0, [o.message for o in shipped.outcomes]
    assert w.registry().aliases(w.dest)["production"] == published
    return published


def check_gates_block_publication(w: PublishWorld) -> None:
    n = w.log_candidate(0.5)
    set_candidate(w, n)
    before, holder = sorted(w.dest_versions()), staging(w)
    result = run(w)
    assert result.exit_code == ExitCode.BLOCKED
    assert "nothing published" in result.outcomes[0].message
    assert sorted(w.dest_versions()) == before and staging(w) == holder
    assert publish_record(w.registry().audit_log(w.source).records, n, w.dest) is None


def check_racing_publish_loses(w: PublishWorld) -> None:
    """Plan candidate A; another run publishes candidate B and moves staging; A's apply publishes
    (kept), loses the compare-and-swap: exit 4, staging stays on B's copy."""
    a = w.log_candidate(0.96)
    set_candidate(w, a)
    reg = w.registry()
    stale = planner.plan(
        policy(w), reg, now=utcnow(), principal=prov().principal, rules=("publish-classifier",)
    )
    b = w.log_candidate(0.97)
    set_candidate(w, b)
    assert run(w).exit_code == 0
    b_copy = staging(w)
    result = applier.apply(w.registry(), stale, prov(), now=utcnow)
    assert result.exit_code == ExitCode.CONFLICT, [o.message for o in result.outcomes]
    assert "kept and reused next time" in result.outcomes[0].message
    assert staging(w) == b_copy  # nothing moved
    a_copy = w.registry().published_copy(w.source, a, w.dest)  # type: ignore[attr-defined]
    assert a_copy is not None and a_copy.version != b_copy
    # back to A: the kept copy is reused, not a third
    count = len(w.dest_versions())
    set_candidate(w, a)
    assert run(w).exit_code == 0
    assert staging(w) == a_copy.version and len(w.dest_versions()) == count


def check_interrupted_run_is_completed(w: PublishWorld) -> None:
    """Killed after publishing, before any record or move: the next run finishes the job."""
    n = w.log_candidate(0.99)
    set_candidate(w, n)
    made = w.registry().publish(w.source, n, w.dest)  # type: ignore[attr-defined]
    assert not made.reused
    p = planner.plan(
        policy(w), w.registry(), now=utcnow(), principal=prov().principal, rules=("publish-classifier",)
    )
    assert p.rules[0].publish is not None and p.rules[0].publish["reuses"] == made.version
    assert run(w).exit_code == 0
    assert staging(w) == made.version
    src = w.registry().audit_log(w.source).records
    assert (publish_record(src, n, w.dest, made.version) is not None) == w.source_writable
