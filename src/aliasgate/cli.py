"""The `promote` command line: parse, call one core function, render. Nothing else.

Start-up stays light: only Typer and the standard library are imported here;
the core, jsonschema, GitPython, requests and backends load inside commands.
Every AliasgateError goes through one funnel that prints it (secrets
redacted) and exits with its documented code.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from aliasgate import __version__
from aliasgate.cli_registry import registry_app
from aliasgate.cli_support import (
    DEFAULT_POLICY,
    JsonOpt,
    PolicyOpt,
    RegistryOpt,
    RuleOpt,
    err,
    funnel,
    on_github,
    open_session,
    out,
    state,
    terminal_style,
)

app = typer.Typer(
    name="promote",
    help="Declarative, gated, atomic and audited model promotion.\n\n"
    "Exit codes: 0 done or nothing to do; 1 registry, auth or network error; 2 invalid input; "
    "3 gates blocked a promotion; 4 conflict (an alias moved under us).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(registry_app, name="registry")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aliasgate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the Python traceback of an error (for bug reports).")
    ] = False,
) -> None:
    if traceback:
        state["traceback"] = True


# -- promotion ---------------------------------------------------------------------------------------


@app.command()
@funnel
def plan(
    policy: PolicyOpt = Path(DEFAULT_POLICY),
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Save the plan as JSON for `promote apply PLAN`.")
    ] = None,
    rule: RuleOpt = None,
) -> None:
    """Show what would move and why: every gate with its observed value. Changes nothing.

    Exits 3 when a gate blocks a rule, so CI can tell 'not promoted' from 'broken'."""
    from aliasgate import api, render

    pol = api.load(policy)
    session = open_session(api.resolve_registry(registry, pol))
    try:
        p = api.make_plan(pol, session, rules=rule)
        if output:
            api.save_plan(p, output)
        gh = on_github()
        if gh:
            gh.report_plan(p, None, registry=session.registry, saved=str(output) if output else None)
    finally:
        session.close()
    out(render.to_json(p.as_dict()) if as_json else render.plan_text(p, terminal_style()))
    if output and not as_json:
        out(f"saved plan {p.id} to {output}")
    raise typer.Exit(3 if p.blocked else 0)


@app.command()
@funnel
def apply(
    plan_file: Annotated[
        Path | None,
        typer.Argument(
            help="A plan saved with `promote plan -o`, re-checked against its policy (-p) and the registry: "
            "applied only if both still yield it (exit 4 if an alias moved since, 3 if a gate fails now).",
            show_default=False,
        ),
    ] = None,
    policy: PolicyOpt = Path(DEFAULT_POLICY),
    registry: RegistryOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan only; send nothing that changes the registry.")
    ] = False,
    as_json: JsonOpt = False,
    rule: RuleOpt = None,
) -> None:
    """Move aliases with compare-and-swap on the holder seen at planning time, and audit each move."""
    from aliasgate import api, render

    if plan_file is not None:
        saved = api.read_plan(plan_file, policy)
        session = open_session(saved.registry(registry))
        exact = True
    else:
        pol = api.load(policy)
        session = open_session(api.resolve_registry(registry, pol))
        exact = False
    try:
        if plan_file is None:
            prov = None if dry_run else api.provenance_later(session, str(policy), pol.sha256)
            p = api.make_plan(pol, session, rules=rule)
        else:
            prov = None
            p = api.confirm_plan(session, saved)
        result = api.apply_plan(session, p, exact=exact, dry_run=dry_run, prov=prov)
        gh = on_github()
        if gh:
            gh.report_plan(p, result, registry=session.registry)
    finally:
        session.close()
    if as_json:
        out(render.to_json({"plan": p.as_dict(), "result": result.as_dict()}))
    else:
        style = terminal_style()
        if not exact:
            out(render.plan_text(p, style))
            out("")
        out(render.apply_text(result, style))
    raise typer.Exit(int(result.exit_code))


@app.command()
@funnel
def check(
    policies: Annotated[list[Path], typer.Argument(help="Policy files to validate.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Validate policy files (schema and meaning) without touching a registry; exit 2 on any problem."""
    from aliasgate import api, render

    results = api.check(policies)
    bad = [issue for _, _, issues in results for issue in issues]
    gh = on_github()
    if gh:
        gh.policy_errors(bad)
        gh.report_check(results)
    if as_json:
        out(
            render.to_json(
                [
                    {
                        "file": f,
                        "ok": not issues,
                        "rules": len(p.promotions) if p else None,
                        "retention": len(p.retention) if p else None,
                        "issues": [i.__dict__ for i in issues],
                    }
                    for f, p, issues in results
                ]
            )
        )
    else:
        for f, p, issues in results:
            if p is not None:
                out(f"ok: {f} ({len(p.promotions)} promotion rule(s), {len(p.retention)} retention rule(s))")
            for issue in issues:
                err(str(issue))
        if bad:
            err(f"error: {len(bad)} problem(s) in {sum(1 for _, _, i in results if i)} file(s)")
    raise typer.Exit(2 if bad else 0)


@app.command()
@funnel
def status(
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    registry: RegistryOpt = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Metric column to show (repeatable; default: up to 6)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Show at most this many versions, newest first.")
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Versions, aliases and key metrics of a model."""
    from aliasgate import api, render
    from aliasgate.model import utcnow

    session = open_session(api.resolve_registry(registry, None))
    try:
        versions, aliases = api.status(session, model)
    finally:
        session.close()
    shown = versions[:limit] if limit > 0 else versions
    if as_json:
        out(
            render.to_json(
                {
                    "model": model,
                    "aliases": aliases,
                    "versions": [
                        {
                            "version": v.number,
                            "created_at": v.created_at.isoformat(),
                            "created_by": v.created_by,
                            "aliases": list(v.aliases),
                            "metrics": dict(v.metrics),
                            "metadata": dict(v.metadata),
                            "lineage": [str(i) for i in v.lineage],
                            "source": v.source,
                        }
                        for v in shown
                    ],
                }
            )
        )
        return
    names = metric or sorted({k for v in shown for k in v.metrics})[:6]
    out(render.status_text(model, shown, aliases, names, utcnow(), terminal_style()))


@app.command()
@funnel
def history(
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    alias: Annotated[str | None, typer.Option("--alias", "-a", help="Only moves of this alias.")] = None,
    registry: RegistryOpt = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="Check the hash chain; exit 1 naming the first edited or missing record."
        ),
    ] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most this many records (0: all).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Every audited move of a model, newest first, from the registry itself."""
    from aliasgate import api, render

    session = open_session(api.resolve_registry(registry, None))
    try:
        records, verification = api.history(session, model, alias)
    finally:
        session.close()
    newest_first = list(reversed(records))
    if limit > 0:
        newest_first = newest_first[:limit]
    if as_json:
        payload: dict[str, Any] = {"model": model, "records": newest_first}
        if verify:
            payload["verification"] = verification.as_dict()
        out(render.to_json(payload))
    else:
        out(render.history_text(newest_first, terminal_style()))
        if verify:
            out(render.verification_text(model, verification, terminal_style()))
    if verify and not verification.ok:
        if not as_json:
            err(
                f"error: audit chain of {model} broken at record #{verification.first_bad}: {verification.problem}"
            )
        raise typer.Exit(1)


class ReportFormat(str, Enum):
    md = "md"
    json = "json"


@app.command()
@funnel
def report(
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    registry: RegistryOpt = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Markdown (as in the GitHub step summary) or JSON.")
    ] = ReportFormat.md,
    metric: Annotated[
        str | None,
        typer.Option("--metric", "-m", help="Metric to chart (default: the one most versions carry)."),
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option("--alias", "-a", help="Mark this alias's holder in the chart (e.g. production)."),
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option("--candidate", help="Mark this version or alias as the new holder (v4, staging)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Recent versions and history records shown.")
    ] = 10,
) -> None:
    """Markdown report of a model: versions, aliases, alias history and a Mermaid chart of a metric."""
    from aliasgate import api, render
    from aliasgate import report as report_mod

    session = open_session(api.resolve_registry(registry, None))
    try:
        rep = report_mod.build(
            session.registry, model, metric=metric, limit=limit, alias=alias, candidate=candidate
        )
    finally:
        session.close()
    text = report_mod.markdown(rep)
    gh = on_github()
    if gh:
        gh.append_summary(text)
    if fmt is ReportFormat.json:
        out(render.to_json(report_mod.as_dict(rep)))
    else:
        out(text.rstrip())


@app.command()
@funnel
def rollback(
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    alias: Annotated[str, typer.Argument(help="Alias to move back.", show_default=False)],
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Move to this version or alias instead of the previous holder (v3, staging)."
        ),
    ] = None,
    registry: RegistryOpt = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why; recorded in the audit record.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show where the alias would go; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move an alias back to its holder before the last audited move (compare-and-swap, audited).

    Rolling back twice steps back twice."""
    from aliasgate import api, render

    session = open_session(api.resolve_registry(registry, None))
    try:
        rb, record = api.rollback(session, model, alias, to=to, reason=reason, dry_run=dry_run)
        gh = on_github()
        if gh:
            gh.report_rollback(
                model, alias, rb.current, rb.target, dry_run=dry_run, record=record, registry=session.registry
            )
    finally:
        session.close()
    if as_json:
        out(
            render.to_json(
                {
                    "model": model,
                    "alias": alias,
                    "from": rb.current,
                    "to": rb.target,
                    "dry_run": dry_run,
                    "record": record,
                }
            )
        )
    elif rb.current == rb.target:
        out(f"{model}:{alias} is already on v{rb.target}; nothing to do")
    elif dry_run:
        out(f"would move {model}:{alias} v{rb.current} -> v{rb.target} (dry run: nothing sent)")
    else:
        assert record is not None
        out(f"rolled back {model}:{alias} v{rb.current} -> v{rb.target} (audit #{record['seq']})")


@app.command()
@funnel
def cleanup(
    policy: PolicyOpt = Path(DEFAULT_POLICY),
    registry: RegistryOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show the plan (every version, verdict, reason); delete nothing."),
    ] = False,
    as_json: JsonOpt = False,
    max_deletions: Annotated[
        int,
        typer.Option(
            "--max-deletions",
            help="Abort before deleting anything (exit 3) when the plan deletes more than this.",
        ),
    ] = 100,
    parallel: Annotated[int, typer.Option("--parallel", help="Deletions in flight at once (1-32).")] = 4,
    model: Annotated[
        str | None, typer.Option("--model", help="Only models matching this glob (and a retention rule).")
    ] = None,
    native_ttl: Annotated[
        bool,
        typer.Option(
            "--native-ttl",
            help="W&B only: after deleting, disable W&B's own TTL on every version the policy keeps "
            "(re-read; exit 1 if W&B ignored it).",
        ),
    ] = False,
) -> None:
    """Delete versions the policy's `retention:` rules let go: past ttl, beyond keep_last, with no
    alias, no passing keep_if and no kept version derived from them.

    Prints the plan first, then deletes with bounded parallelism; each deletion re-checks the
    version's aliases and is audited. Exit 0 done (versions that gained an alias are skipped and
    reported), 1 registry/auth error (or W&B ignored a --native-ttl write), 2 invalid input,
    3 aborted by --max-deletions, 130/143 stopped by SIGINT/SIGTERM after the in-flight deletions
    finished."""
    from aliasgate import api, render

    pol = api.load(policy)
    session = open_session(api.resolve_registry(registry, pol))
    try:
        if native_ttl:
            api.require_native_ttl(session)
        p = api.cleanup_plan(pol, session, model_glob=model)
        ttl_plan = api.native_ttl_plan(session, p) if native_ttl else None
        if not as_json:
            out(render.cleanup_plan_text(p, terminal_style()))
            if ttl_plan is not None:
                out("")
                out(render.native_ttl_plan_text(ttl_plan, terminal_style()))
            out("")
        progress = _CleanupProgress(len(p.deletions))
        result = api.cleanup(
            session,
            p,
            dry_run=dry_run,
            max_deletions=max_deletions,
            parallel=parallel,
            on_outcome=progress,
            native_ttl=ttl_plan,
        )
        progress.finish()
        gh = on_github()
        if gh:
            gh.report_cleanup(
                gh.cleanup_lines(p, result),
                dry_run=dry_run,
                exit_code=result.exit_code,
                file=p.policy_path,
                native_ttl=result.native_ttl,
            )
    finally:
        session.close()
    if as_json:
        out(render.to_json({"plan": p.as_dict(), "result": result.as_dict()}))
    else:
        out(render.cleanup_result_text(result, terminal_style()))
        if result.native_ttl is not None:
            out(render.native_ttl_result_text(result.native_ttl, terminal_style()))
    raise typer.Exit(result.exit_code)


class _CleanupProgress:
    """Progress on stderr: a bar redrawn in place on a terminal, one plain line per deletion when piped."""

    def __init__(self, total: int) -> None:
        from aliasgate.render import Style

        self.total = total
        self.done = 0
        self.counts: dict[str, int] = {}
        self.tty = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
        self.style = terminal_style(sys.stderr) if self.tty else Style()

    def __call__(self, outcome: Any) -> None:
        from aliasgate import render

        self.done += 1
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if self.tty:
            bar = render.cleanup_progress_bar(self.done, self.total, self.counts)
            sys.stderr.write("\r" + bar)
            sys.stderr.flush()
        else:
            err(render.cleanup_progress_line(outcome, self.style))

    def finish(self) -> None:
        if self.tty and self.done:
            sys.stderr.write("\n")
            sys.stderr.flush()


@app.command()
@funnel
def whoami(registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """The account the registry authenticates (never the token)."""
    from aliasgate import api, render

    session = open_session(api.resolve_registry(registry, None))
    session.close()
    if as_json:
        out(render.to_json({"registry": session.registry.uri, **session.principal.as_dict()}))
    else:
        out(f"{render.principal_line(session.principal)} on {session.registry.uri}")


@app.command()
def schema() -> None:
    """Print the policy JSON Schema (draft 2020-12) for editors and validators."""
    from aliasgate.policy.load import schema_text

    typer.echo(schema_text().rstrip())


def main() -> None:
    app(prog_name="promote")


if __name__ == "__main__":  # pragma: no cover
    main()
