"""The verbs of aliasgate as plain functions: what the CLI (and anyone scripting) calls.

Each takes paths, URIs and names, returns values, raises AliasgateError; none
prints. The CLI is a translation layer over this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aliasgate import audit, secrets
from aliasgate.errors import InvalidInput, OutputError, PolicyError, PolicyIssue
from aliasgate.model import Principal, Version, utcnow
from aliasgate.policy.model import Policy
from aliasgate.registry import Registry, open_registry, resolve_uri
from aliasgate.results import (
    ApplyRun,
    CheckEntry,
    CheckRun,
    CleanupRun,
    HistoryView,
    ModelsView,
    PlanRun,
    ReportView,
    RollbackRun,
    StatusView,
    WhoamiView,
)

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.applier import ApplyResult, RollbackPlan
    from aliasgate.model_reports import ModelReport
    from aliasgate.native_ttl import TtlPlan, TtlResult
    from aliasgate.planner import Plan
    from aliasgate.provenance import Provenance
    from aliasgate.retention import CleanupPlan, CleanupResult, Outcome


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


DEFAULT_POLICY = "aliasgate.yaml"


def load(policy_path: str | Path | None, *, use_cache: bool = True) -> Policy:
    """Load a policy; ``None`` means the default (``./aliasgate.yaml``)."""
    from aliasgate.policy.load import load_policy

    return load_policy(find_policy(policy_path), use_cache=use_cache)


def find_policy(policy_path: str | Path | None) -> Path:
    """The policy file to read; a missing one is exit 2 naming where we looked and what is nearby."""
    path = Path(policy_path) if policy_path is not None else Path(DEFAULT_POLICY)
    if path.exists() or path.is_symlink():
        return path
    nearby = _nearby_policies(path.parent)
    found = f"; policies nearby: {', '.join(nearby)}" if nearby else "; no policy files nearby"
    if policy_path is not None:
        hint = "check the path given with -p/--policy or PROMOTE_POLICY"
    elif nearby:
        hint = f"without -p, {DEFAULT_POLICY} is looked for; pass one, e.g. -p {nearby[0]}"
    else:
        hint = f"pass -p/--policy or set PROMOTE_POLICY, or create {DEFAULT_POLICY}"
    raise InvalidInput(f"policy file {path} not found (looked for {path.absolute()}){found}", hint=hint)


def _nearby_policies(folder: Path, limit: int = 8) -> list[str]:
    """YAML files next to ``folder`` and in its ``examples/`` that look like policies."""
    found: list[str] = []
    for where in (folder, folder / "examples"):
        try:
            candidates = sorted(where.glob("*.y*ml"))
        except OSError:
            continue
        for f in candidates:
            try:
                head = (
                    f.read_text(encoding="utf-8", errors="replace")[:4096]
                    if f.stat().st_size < 1 << 20
                    else ""
                )
            except OSError:
                continue
            if "promotions:" in head or "retention:" in head:
                found.append(str(f))
    return found[:limit]


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


def read_plan(path: str | Path) -> Plan:
    from aliasgate.planner import Plan

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"plan file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read plan {path}: {exc}") from None
    return Plan.from_dict(data, where=str(path))


def save_plan(plan: Plan, path: str | Path) -> None:
    write_output(path, json.dumps(plan.as_dict(), indent=2, default=str, allow_nan=False) + "\n", "the plan")


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
    import threading

    from aliasgate import native_ttl as ttl_mod
    from aliasgate import retention

    options = retention.Options(
        max_deletions=retention.DEFAULT_MAX_DELETIONS if max_deletions is None else max_deletions,
        parallel=retention.DEFAULT_PARALLEL if parallel is None else parallel,
    )
    if options.max_deletions < 0 or not 1 <= options.parallel <= retention.MAX_PARALLEL:
        raise InvalidInput(
            f"--max-deletions must be >= 0 and --parallel between 1 and {retention.MAX_PARALLEL}"
        )
    aborted = retention.over_cap(plan, options.max_deletions)
    ttl_writes = native_ttl is not None and bool(native_ttl.writes)
    if dry_run or aborted or not (plan.deletions or ttl_writes):  # nothing to send: no provenance
        result = retention.CleanupResult(
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
    stop = stop or threading.Event()
    received: list[int] = []
    with retention.stop_on_signals(stop, received):
        result = retention.execute(
            session.registry, plan, prov, now=utcnow, options=options, stop=stop, on_outcome=on_outcome
        )
        if native_ttl is not None:
            result.native_ttl = _write_native_ttl(session, plan, result, native_ttl, prov, options, stop)
    if received:
        result.signal = received[0]
        result.stopped = f"stopped by {signal_mod.Signals(received[0]).name}"
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
    from aliasgate import native_ttl, retention
    from aliasgate.model import VersionId

    if result.stopped or stop.is_set():
        return native_ttl.TtlResult(
            ttl_plan,
            not_run="cleanup stopped before the TTL writes: none sent",
            account=session.principal.name,
        )
    skipped = [VersionId(o.model, o.number) for o in result.outcomes if o.status == retention.SKIPPED]
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


# -- the commands: one typed call each, opening and closing the registry -------------------------------


def open_session(uri: str, **options: Any) -> Session:
    """Connect, having first remembered every credential the URI makes aliasgate send."""
    secrets.register_registry_uri(uri)
    if uri.lower().startswith(("http://", "https://")):
        shown = secrets.strip_userinfo(uri)
        raise InvalidInput(
            f"invalid registry {shown!r}: a plain URL does not say which registry it is",
            hint=f"did you mean mlflow+{shown}? (W&B: wandb://ENTITY/PROJECT with WANDB_BASE_URL)",
        )
    return connect(uri, **options)


@contextmanager
def _opened(uri: str, **options: Any) -> Iterator[Session]:
    session = open_session(uri, **options)
    try:
        yield session
    finally:
        session.close()


def _reports(session: Session, plan: Plan, result: ApplyResult | None) -> list[ModelReport]:
    from aliasgate import model_reports

    moved = {mv.model for o in (result.outcomes if result else []) if o.status == "applied" for mv in o.moves}
    return model_reports.for_plan(plan, session.registry, moved=moved)


def run_plan(
    policy_path: Path | None,
    registry: str | None,
    *,
    rules: Sequence[str] | None,
    out: Path | None,
    reports: bool,
) -> PlanRun:
    """``promote plan``: the plan (saved to ``out`` when given), and each model's report if asked."""
    pol = load(policy_path)
    with _opened(resolve_registry(registry, pol)) as session:
        p = make_plan(pol, session, rules=rules)
        if out:
            save_plan(p, out)
        shown = _reports(session, p, None) if reports else []
        return PlanRun(p, session.registry.uri, str(out) if out else None, shown)


def run_apply(
    plan_file: Path | None,
    policy_path: Path | None,
    registry: str | None,
    *,
    dry_run: bool,
    rules: Sequence[str] | None,
    reports: bool,
) -> ApplyRun:
    """``promote apply``: a saved plan exactly, or a fresh plan of the policy."""
    if plan_file is not None:
        saved = read_plan(plan_file)
        if registry and registry != saved.registry:
            raise InvalidInput(
                f"the plan was made for {saved.registry}; --registry {registry} does not match"
            )
        with _opened(saved.registry) as session:
            result = apply_plan(session, saved, exact=True, dry_run=dry_run)
            shown = _reports(session, saved, result) if reports else []
            return ApplyRun(saved, result, True, session.registry.uri, shown)
    pol = load(policy_path)
    with _opened(resolve_registry(registry, pol)) as session:
        prov = None if dry_run else provenance_later(session, str(pol.path), pol.sha256)
        p = make_plan(pol, session, rules=rules)
        result = apply_plan(session, p, exact=False, dry_run=dry_run, prov=prov)
        shown = _reports(session, p, result) if reports else []
        return ApplyRun(p, result, False, session.registry.uri, shown)


def run_check(paths: Sequence[Path]) -> CheckRun:
    return CheckRun([CheckEntry(f, p, issues) for f, p, issues in check(paths)])


def run_status(model: str, registry: str | None, *, metrics: Sequence[str] | None, limit: int) -> StatusView:
    with _opened(resolve_registry(registry, None)) as session:
        versions, aliases = status(session, model)
    shown = versions[:limit] if limit > 0 else versions
    names = list(metrics or sorted({k for v in shown for k in v.metrics})[:6])
    return StatusView(model, shown, aliases, names)


def run_history(
    model: str, registry: str | None, *, alias: str | None, verify: bool, limit: int
) -> HistoryView:
    with _opened(resolve_registry(registry, None)) as session:
        records, verification = history(session, model, alias)
    newest_first = list(reversed(records))
    return HistoryView(model, newest_first[:limit] if limit > 0 else newest_first, verification, verify)


def run_report(
    model: str,
    registry: str | None,
    *,
    metric: str | None,
    alias: str | None,
    candidate: str | None,
    limit: int,
) -> ReportView:
    from aliasgate import report

    with _opened(resolve_registry(registry, None)) as session:
        rep = report.build(
            session.registry, model, metric=metric, limit=limit, alias=alias, candidate=candidate
        )
    return ReportView(rep)


def run_rollback(
    model: str,
    alias: str,
    registry: str | None,
    *,
    to: str | None,
    reason: str | None,
    dry_run: bool,
    reports: bool,
) -> RollbackRun:
    from aliasgate import model_reports

    with _opened(resolve_registry(registry, None)) as session:
        rb, record = rollback(session, model, alias, to=to, reason=reason, dry_run=dry_run)
        shown = (
            model_reports.for_rollback(
                session.registry, model, alias, rb.current, rb.target, record is not None
            )
            if reports
            else []
        )
        return RollbackRun(model, alias, rb, dry_run, record, session.registry.uri, shown)


def run_models(session: Session) -> ModelsView:
    """``promote registry list`` on an open embedded registry (closed here)."""
    try:
        reg = session.registry
        return ModelsView([(m, reg.latest(m), dict(reg.aliases(m))) for m in reg.models()])
    finally:
        session.close()


def run_whoami(registry: str | None) -> WhoamiView:
    with _opened(resolve_registry(registry, None)) as session:
        return WhoamiView(session.registry.uri, session.principal)


def run_cleanup(
    policy_path: Path | None,
    registry: str | None,
    *,
    dry_run: bool,
    max_deletions: int,
    parallel: int,
    model_glob: str | None,
    native_ttl: bool,
    on_plan: Callable[[CleanupPlan, TtlPlan | None], None],
    on_outcome: Callable[[Outcome], None],
) -> CleanupRun:
    """``promote cleanup``: plan, show the plan (``on_plan``), delete, report each deletion."""
    pol = load(policy_path)
    with _opened(resolve_registry(registry, pol)) as session:
        if native_ttl:
            require_native_ttl(session)
        p = cleanup_plan(pol, session, model_glob=model_glob)
        ttl_plan = native_ttl_plan(session, p) if native_ttl else None
        on_plan(p, ttl_plan)
        result = cleanup(
            session,
            p,
            dry_run=dry_run,
            max_deletions=max_deletions,
            parallel=parallel,
            on_outcome=on_outcome,
            native_ttl=ttl_plan,
        )
        return CleanupRun(p, result, ttl_plan)
