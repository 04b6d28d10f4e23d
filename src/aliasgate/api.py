"""The verbs of aliasgate as plain functions: what the CLI (and anyone scripting) calls.

Each takes paths, URIs and names, returns values, raises AliasgateError; none
prints. The CLI is a translation layer over this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aliasgate import audit
from aliasgate.errors import InvalidInput, OutputError, PolicyError, PolicyIssue
from aliasgate.model import Principal, Version, utcnow
from aliasgate.policy.model import Policy
from aliasgate.registry import Registry, open_registry, resolve_uri

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.applier import ApplyResult, RollbackPlan
    from aliasgate.cleanup import CleanupResult
    from aliasgate.native_ttl import TtlPlan, TtlResult
    from aliasgate.planfile import SavedPlan
    from aliasgate.planner import Plan
    from aliasgate.provenance import Provenance
    from aliasgate.retention import CleanupPlan


@dataclass
class Session:
    """An open registry plus who we are on it, for one command."""

    registry: Registry
    principal: Principal

    def close(self) -> None:
        self.registry.close()


def connect(uri: str, **options: Any) -> Session:
    registry = open_registry(uri, **options)
    try:
        return Session(registry, registry.whoami())
    except BaseException:
        registry.close()
        raise


def load(policy_path: str | Path | None, *, use_cache: bool = True) -> Policy:
    """Load a policy; ``None`` means the default (``./aliasgate.yaml``)."""
    from aliasgate.commands import find_policy
    from aliasgate.policy.load import load_policy

    return load_policy(find_policy(policy_path), use_cache=use_cache)


def check(paths: Sequence[str | Path]) -> list[tuple[str, Policy | None, list[PolicyIssue]]]:
    """Validate each policy file; never touches a registry."""
    out: list[tuple[str, Policy | None, list[PolicyIssue]]] = []
    for p in paths:
        try:
            out.append((str(p), load(p, use_cache=False), []))
        except PolicyError as exc:
            out.append((str(p), None, exc.issues))
        except InvalidInput as exc:
            out.append((str(p), None, [PolicyIssue(str(p), 0, 0, "$", exc.message)]))
    return out


def make_plan(
    policy: Policy,
    session: Session,
    *,
    rules: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Plan:
    from aliasgate import planner

    return planner.plan(
        policy, session.registry, now=now or utcnow(), principal=session.principal, rules=rules
    )


def provenance(session: Session, policy_path: str | None, policy_sha: str | None) -> Provenance:
    from aliasgate import provenance as prov

    return prov.collect(session.principal, policy_path=policy_path, policy_sha256=policy_sha)


def provenance_later(session: Session, policy_path: str | None, policy_sha: str | None) -> Callable[[], Any]:
    """Collect provenance on a thread while the plan is made: importing GitPython and asking git
    (~100 ms) overlaps with the registry round trips of planning. Call the result to wait for it."""
    import threading

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = provenance(session, policy_path, policy_sha)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="aliasgate-provenance", daemon=True)
    thread.start()

    def result() -> Provenance:
        thread.join()
        if "error" in box:
            raise box["error"]
        value: Provenance = box["value"]
        return value

    return result


def apply_plan(
    session: Session,
    plan: Plan,
    *,
    exact: bool,
    dry_run: bool = False,
    prov: Callable[[], Any] | None = None,
) -> ApplyResult:
    """Apply with SIGTERM/SIGINT deferred: a cancelled CI job finishes or undoes the step in flight.

    ``prov`` is a pending :func:`provenance_later`; by default provenance is collected here."""
    from aliasgate import applier, interrupt

    if dry_run:
        prov_value = None
    elif prov is not None:
        prov_value = prov()
    else:
        prov_value = provenance(session, plan.policy_path, plan.policy_sha256)
    with interrupt.deferred() as stop:
        result = applier.apply(
            session.registry,
            plan,
            prov_value,
            now=utcnow,
            exact=exact,
            dry_run=dry_run,
            stop=stop,
        )
    result.signal = stop.signal
    return result


def read_plan(path: str | Path, policy: str | Path | None) -> SavedPlanInput:
    """A saved plan, checked (shape, id, signature) and paired with the policy ``apply`` trusts
    (its own signed copy, else the policy file given to ``apply``, whose hash must match)."""
    from aliasgate import planconfirm, planfile
    from aliasgate.commands import DEFAULT_POLICY, find_policy

    saved = planfile.read(path, key=planfile.plan_key())
    if saved.signed and saved.policy_text is not None:
        return SavedPlanInput(saved, planconfirm.trusted_policy(saved, ""))
    try:
        trusted_path: str | Path = find_policy(policy)
    except InvalidInput:  # trusted_policy says what a saved plan needs, and how to sign one
        trusted_path = policy if policy is not None else DEFAULT_POLICY
    return SavedPlanInput(saved, planconfirm.trusted_policy(saved, trusted_path))


@dataclass
class SavedPlanInput:
    saved: SavedPlan
    policy: Policy

    def registry(self, cli_value: str | None) -> str:
        """The registry to connect to: resolved as for any apply, and it must be the plan's."""
        from aliasgate import planconfirm

        uri = resolve_registry(cli_value, self.policy)
        planconfirm.check_registry(self.saved, uri)
        return uri


def confirm_plan(session: Session, saved: SavedPlanInput) -> Plan:
    """Re-evaluate a saved plan's policy now: the plan to apply, or Conflict/Blocked/InvalidInput."""
    from aliasgate import planconfirm

    return planconfirm.confirm(
        saved.saved, saved.policy, session.registry, principal=session.principal, now=utcnow()
    )


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write a plan for a later ``apply`` (signed when ``PROMOTE_PLAN_KEY`` is set)."""
    from aliasgate import planfile

    planfile.save(plan, path, key=planfile.plan_key())


def write_output(path: str | Path, text: str, what: str) -> None:
    """Write a file the user named (``-o``); one that cannot be written is their error (exit 2)."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {what} to {path}: {exc.strerror or exc}") from None


def status(session: Session, model: str) -> tuple[list[Version], dict[str, int]]:
    return session.registry.versions(model), session.registry.aliases(model)


def history(
    session: Session, model: str, alias: str | None = None
) -> tuple[list[dict[str, Any]], audit.Verification]:
    log = session.registry.audit_log(model)
    records = [dict(r) for r in log.records]
    verification = audit.verify(log)
    if alias:
        records = [r for r in records if r.get("alias") == alias]
    return records, verification


def rollback(
    session: Session, model: str, alias: str, *, to: str | None, reason: str | None, dry_run: bool
) -> tuple[RollbackPlan, dict[str, Any] | None]:
    from aliasgate import applier

    rb = applier.plan_rollback(session.registry, model, alias, to)
    if dry_run or rb.current == rb.target:
        return rb, None
    record = applier.rollback(
        session.registry, rb, provenance(session, None, None), now=utcnow(), reason=reason
    )
    return rb, record


def resolve_registry(cli_value: str | None, policy: Policy | None) -> str:
    return resolve_uri(cli_value, policy.registry if policy else None)


# -- retention ------------------------------------------------------------------------------------


def cleanup_plan(
    policy: Policy,
    session: Session,
    *,
    model_glob: str | None = None,
    now: datetime | None = None,
) -> CleanupPlan:
    """Decide, for every version of every model a retention rule matches, keep or delete."""
    from aliasgate import retention

    if not policy.retention:
        raise InvalidInput(
            f"{policy.path} has no `retention:` rules; cleanup has nothing to apply",
            hint="add a rule such as `retention: [{model: my-model, ttl: 30d, keep_last: 5}]`",
        )
    return retention.plan(
        policy.retention,
        session.registry,
        now=now or utcnow(),
        principal=session.principal,
        model_glob=model_glob,
        policy_path=policy.path,
        policy_sha256=policy.sha256,
    )


def require_native_ttl(session: Session) -> None:
    """``--native-ttl`` needs a registry with a native TTL (W&B); exit 2 before planning."""
    from aliasgate import native_ttl

    native_ttl.require(session.registry)


def native_ttl_plan(session: Session, plan: CleanupPlan) -> TtlPlan:
    """Read the W&B TTL of every planned version and decide each kept version's (reads only)."""
    from aliasgate import native_ttl

    return native_ttl.plan(plan, session.registry)


def cleanup(
    session: Session,
    plan: CleanupPlan,
    *,
    dry_run: bool = False,
    max_deletions: int | None = None,
    parallel: int | None = None,
    on_outcome: Any = None,
    stop: Any = None,
    native_ttl: Any = None,
) -> CleanupResult:
    """Delete what ``plan`` lets go (nothing with ``dry_run``). SIGTERM/SIGINT stop it gently:
    no new deletions, in-flight ones finish with their audit records.

    With ``native_ttl`` (a plan from :func:`native_ttl_plan`), the deletions are followed by
    the TTL writes it holds (W&B): on top of the deletions, never instead of them."""
    import signal as signal_mod

    from aliasgate import cleanup as engine
    from aliasgate import interrupt
    from aliasgate import native_ttl as ttl_mod

    options = engine.Options(
        max_deletions=engine.DEFAULT_MAX_DELETIONS if max_deletions is None else max_deletions,
        parallel=engine.DEFAULT_PARALLEL if parallel is None else parallel,
    )
    if options.max_deletions < 0 or not 1 <= options.parallel <= engine.MAX_PARALLEL:
        raise InvalidInput(f"--max-deletions must be >= 0 and --parallel between 1 and {engine.MAX_PARALLEL}")
    aborted = engine.over_cap(plan, options.max_deletions)
    ttl_writes = native_ttl is not None and bool(native_ttl.writes)
    if dry_run or aborted or not (plan.deletions or ttl_writes):  # nothing to send: no provenance
        result = engine.CleanupResult(
            plan, dry_run=dry_run, max_deletions=options.max_deletions, aborted=aborted
        )
        if native_ttl is not None:
            result.native_ttl = ttl_mod.TtlResult(
                native_ttl,
                dry_run=dry_run,
                not_run="the deletion cap aborted the run: no TTL written" if aborted else None,
                account=session.principal.name,
            )
        return result
    prov = provenance(session, plan.policy_path, plan.policy_sha256)
    with interrupt.deferred(also=stop) as signalled:
        stop = stop or signalled
        result = engine.execute(
            session.registry, plan, prov, now=utcnow, options=options, stop=stop, on_outcome=on_outcome
        )
        if native_ttl is not None:
            result.native_ttl = _write_native_ttl(session, plan, result, native_ttl, prov, options, stop)
    if signalled.signal is not None:
        result.signal = signalled.signal
        result.stopped = f"stopped by {signal_mod.Signals(signalled.signal).name}"
    return result


def _write_native_ttl(
    session: Session,
    plan: CleanupPlan,
    result: CleanupResult,
    ttl_plan: TtlPlan,
    prov: Provenance,
    options: Any,
    stop: Any,
) -> TtlResult:
    """After the deletions: the TTL writes, unless the deletions were stopped (then none)."""
    from aliasgate import cleanup as engine
    from aliasgate import native_ttl
    from aliasgate.model import VersionId

    if result.stopped or stop.is_set():
        return native_ttl.TtlResult(
            ttl_plan,
            not_run="cleanup stopped before the TTL writes: none sent",
            account=session.principal.name,
        )
    skipped = [VersionId(o.model, o.number) for o in result.outcomes if o.status == engine.SKIPPED]
    return native_ttl.execute(
        session.registry,
        ttl_plan,
        native_ttl.pending(ttl_plan, skipped),
        prov,
        now=utcnow,
        plan_ref=native_ttl.plan_ref(plan),
        rules={v.model: ", ".join(v.rules) for v in plan.verdicts},
        parallel=options.parallel,
        stop=stop,
    )


# The command verbs (one typed call per CLI command) live in aliasgate.commands and are part of this
# module's interface: typed for mypy here, loaded on first use (commands imports this module).
_VERBS = frozenset(
    {
        "open_session",
        "run_apply",
        "run_approvals",
        "run_approve",
        "run_check",
        "run_cleanup",
        "run_history",
        "run_models",
        "run_notify_test",
        "run_plan",
        "run_report",
        "run_rollback",
        "run_status",
        "run_whoami",
    }
)
if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.commands import open_session as open_session
    from aliasgate.commands import run_apply as run_apply
    from aliasgate.commands import run_approvals as run_approvals
    from aliasgate.commands import run_approve as run_approve
    from aliasgate.commands import run_check as run_check
    from aliasgate.commands import run_cleanup as run_cleanup
    from aliasgate.commands import run_history as run_history
    from aliasgate.commands import run_models as run_models
    from aliasgate.commands import run_notify_test as run_notify_test
    from aliasgate.commands import run_plan as run_plan
    from aliasgate.commands import run_report as run_report
    from aliasgate.commands import run_rollback as run_rollback
    from aliasgate.commands import run_status as run_status
    from aliasgate.commands import run_whoami as run_whoami


def __getattr__(name: str) -> Any:
    if name in _VERBS:
        from aliasgate import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
