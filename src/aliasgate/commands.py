"""The command verbs: one typed call per ``promote`` command, opening and closing the registry.

Re-exported by :mod:`aliasgate.api`, which the CLI calls; each returns a result from
:mod:`aliasgate.results` that a reporter renders. None prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aliasgate import secrets
from aliasgate.api import (
    Session,
    apply_plan,
    check,
    cleanup,
    cleanup_plan,
    confirm_plan,
    connect,
    history,
    load,
    make_plan,
    native_ttl_plan,
    provenance,
    provenance_later,
    read_plan,
    require_native_ttl,
    resolve_registry,
    rollback,
    save_plan,
    status,
)
from aliasgate.errors import InvalidInput
from aliasgate.results import (
    ApplyRun,
    ApprovalsView,
    ApproveRun,
    CheckEntry,
    CheckRun,
    CleanupRun,
    HistoryView,
    ModelsView,
    NotifyRun,
    PlanRun,
    ReportView,
    RollbackRun,
    StatusView,
    WhoamiView,
)

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.applier import ApplyResult
    from aliasgate.cleanup import Outcome
    from aliasgate.model_reports import ModelReport
    from aliasgate.native_ttl import TtlPlan
    from aliasgate.planner import Plan
    from aliasgate.retention import CleanupPlan

DEFAULT_POLICY = "aliasgate.yaml"


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
    from aliasgate import notify

    if plan_file is not None:
        saved = read_plan(plan_file, policy_path)
        notify.prepare(saved.policy.notify, dry_run=dry_run)
        with _opened(saved.registry(registry)) as session:
            confirmed = confirm_plan(session, saved)
            result = apply_plan(session, confirmed, exact=True, dry_run=dry_run)
            shown = _reports(session, confirmed, result) if reports else []
            uri, pol = session.registry.uri, saved.policy
            notes = notify.after_apply(
                pol.notify, result, uri, lambda: provenance(session, pol.path, pol.sha256)
            )
            return ApplyRun(confirmed, result, True, uri, shown, notes)
    pol = load(policy_path)
    notify.prepare(pol.notify, dry_run=dry_run)
    with _opened(resolve_registry(registry, pol)) as session:
        prov = None if dry_run else provenance_later(session, str(pol.path), pol.sha256)
        p = make_plan(pol, session, rules=rules)
        result = apply_plan(session, p, exact=False, dry_run=dry_run, prov=prov)
        shown = _reports(session, p, result) if reports else []
        notes = notify.after_apply(pol.notify, result, session.registry.uri, prov or (lambda: None))
        return ApplyRun(p, result, False, session.registry.uri, shown, notes)


def run_approve(
    plan_file: Path,
    policy_path: Path | None,
    registry: str | None,
    *,
    rules: Sequence[str] | None,
    comment: str | None,
    revoke: bool,
) -> ApproveRun:
    """``promote approve PLAN``: record (``revoke``: withdraw) this principal's approval of its moves."""
    from aliasgate import approving
    from aliasgate.model import utcnow

    saved = read_plan(plan_file, policy_path)
    with _opened(saved.registry(registry)) as session:
        return approving.approve(session, saved, rules=rules, comment=comment, revoke=revoke, now=utcnow())


def run_approvals(model: str, registry: str | None) -> ApprovalsView:
    """``promote approvals MODEL``: every approval and revocation in the model's verified chain."""
    from aliasgate import approving

    with _opened(resolve_registry(registry, None)) as session:
        return approving.listing(session, model)


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
    policy_path: Path | None = None,
) -> RollbackRun:
    """``promote rollback``; with a policy, its ``notify:`` targets hear of it."""
    from aliasgate import model_reports, notify

    targets = load(policy_path).notify if policy_path is not None else ()
    notify.prepare(targets, dry_run=dry_run)
    with _opened(resolve_registry(registry, None)) as session:
        rb, record = rollback(session, model, alias, to=to, reason=reason, dry_run=dry_run)
        shown = (
            model_reports.for_rollback(
                session.registry, model, alias, rb.current, rb.target, record is not None
            )
            if reports
            else []
        )
        notes = notify.after_rollback(targets, record, session.registry.uri)
        return RollbackRun(model, alias, rb, dry_run, record, session.registry.uri, shown, notes)


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
    from aliasgate import notify

    pol = load(policy_path)
    notify.prepare(pol.notify, dry_run=dry_run)
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
        notes = notify.after_cleanup(pol.notify, result, session.registry.uri)
        return CleanupRun(p, result, ttl_plan, notes)


def run_notify_test(policy_path: Path | None) -> NotifyRun:
    """``promote notify --test``: a signed test event to every target of the policy."""
    from aliasgate import notify

    pol = load(policy_path)
    if not pol.notify:
        raise InvalidInput(
            f"{pol.path} has no `notify:` targets; nothing to test",
            hint="add one, e.g. `notify: [{url_env: PROMOTE_WEBHOOK_URL, secret_env: PROMOTE_WEBHOOK_SECRET}]`",
        )
    return NotifyRun(pol.path, notify.send_test(pol.notify))
