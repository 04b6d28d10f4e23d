"""The `promote` command line: parse, make one typed call into the core, hand the result to a reporter.

Start-up stays light: only Typer and the standard library are imported here; the core,
jsonschema, GitPython, requests and backends load inside commands. Every command runs
inside one error funnel (:mod:`aliasgate.funnel`), which prints an error (secrets
redacted) and exits with its documented code.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from aliasgate import __version__
from aliasgate.cli_registry import registry_app
from aliasgate.cli_support import (
    JsonOpt,
    PolicyOpt,
    RegistryOpt,
    RuleOpt,
    command,
    face,
    funneled,
    out,
    state,
)

app = typer.Typer(
    name="promote",
    help="Declarative, gated, atomic and audited model promotion.\n\n"
    "Three ways in: `promote plan` / `promote apply` (or `promote --dry-run`) move aliases through "
    "the gates of a policy (default: ./aliasgate.yaml); `promote cleanup` deletes what its retention "
    "rules let go; in CI, the GitHub Action runs either (see docs/github-actions.md).\n\n"
    "Exit codes: 0 done or nothing to do; 1 registry, auth or network error; 2 invalid input; "
    "3 gates blocked a promotion; 4 conflict (an alias moved under us); 70 a bug in aliasgate.",
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(
    registry_app, name="registry", short_help="Manage the embedded registry (models, versions, aliases)."
)
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Plan only; send nothing that changes the registry.")
]
ModelArg = Annotated[str, typer.Argument(help="Model name.", show_default=False)]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aliasgate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Without a command: `promote apply --dry-run` (plan, send nothing)."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the Python traceback of an error (for bug reports).")
    ] = False,
) -> None:
    state["traceback"] = traceback or bool(os.environ.get("PROMOTE_TRACEBACK"))
    if ctx.invoked_subcommand is not None:
        if dry_run:
            typer.echo(
                f"error: put --dry-run after the command: promote {ctx.invoked_subcommand} --dry-run",
                err=True,
            )
            raise typer.Exit(2)
        return
    if not dry_run:  # bare `promote`: the help, naming the ways in
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    funneled(apply)(plan_file=None, policy=None, registry=None, dry_run=True, as_json=False, rule=None)


@command(app)
def plan(
    policy: PolicyOpt = None,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Save the plan as JSON for `promote apply PLAN`.")
    ] = None,
    rule: RuleOpt = None,
) -> int:
    """Show what would move and why: every gate with its observed value. Changes nothing.

    Exits 3 when a gate blocks a rule, so CI can tell 'not promoted' from 'broken'."""
    from aliasgate import api

    f = face(as_json)
    return f.emit(api.run_plan(policy, registry, rules=rule, out=output, reports=f.github))


@command(app)
def apply(
    plan_file: Annotated[
        Path | None,
        typer.Argument(
            help="A plan saved with `promote plan -o`, re-checked against its policy (-p) and the registry: "
            "applied only if both still yield it (exit 4 if an alias moved since, 3 if a gate fails now).",
            show_default=False,
        ),
    ] = None,
    policy: PolicyOpt = None,
    registry: RegistryOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    rule: RuleOpt = None,
) -> int:
    """Move aliases with compare-and-swap on the holder seen at planning time, and audit each move."""
    from aliasgate import api

    f = face(as_json)
    return f.emit(api.run_apply(plan_file, policy, registry, dry_run=dry_run, rules=rule, reports=f.github))


@command(app)
def approve(
    plan_file: Annotated[
        Path, typer.Argument(help="A plan saved with `promote plan -o`.", show_default=False)
    ],
    policy: PolicyOpt = None,
    registry: RegistryOpt = None,
    rule: RuleOpt = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Why; recorded with the approval.")] = None,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Withdraw your approval of the plan's moves.")
    ] = False,
    as_json: JsonOpt = False,
) -> int:
    """Approve the moves of a saved plan (four-eyes), as the account the registry authenticates.

    The plan is checked as `apply PLAN` checks it; the approval is an audit record bound to the
    registry, model, alias, from- and to-version, policy hash and rule of each move."""
    from aliasgate import api

    run = api.run_approve(plan_file, policy, registry, rules=rule, comment=comment, revoke=revoke)
    return face(as_json).emit(run)


@command(app)
def approvals(model: ModelArg, registry: RegistryOpt = None, as_json: JsonOpt = False) -> int:
    """Approvals and revocations of a model, newest first, with whether each still stands."""
    from aliasgate import api

    return face(as_json).emit(api.run_approvals(model, registry))


@command(app)
def check(
    policies: Annotated[list[Path], typer.Argument(help="Policy files to validate.", show_default=False)],
    as_json: JsonOpt = False,
) -> int:
    """Validate policy files (schema and meaning) without touching a registry; exit 2 on any problem."""
    from aliasgate import api

    return face(as_json).emit(api.run_check(policies))


@command(app)
def status(
    model: ModelArg,
    registry: RegistryOpt = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Metric column to show (repeatable; default: up to 6)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Show at most this many versions, newest first.")
    ] = 20,
    as_json: JsonOpt = False,
) -> int:
    """Versions, aliases and key metrics of a model."""
    from aliasgate import api

    return face(as_json).emit(api.run_status(model, registry, metrics=metric, limit=limit))


@command(app)
def history(
    model: ModelArg,
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
) -> int:
    """Every audited move of a model, newest first, from the registry itself."""
    from aliasgate import api

    return face(as_json).emit(api.run_history(model, registry, alias=alias, verify=verify, limit=limit))


class ReportFormat(str, Enum):
    md = "md"
    json = "json"


@command(app)
def report(
    model: ModelArg,
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
) -> int:
    """Markdown report of a model: versions, aliases, alias history and a Mermaid chart of a metric."""
    from aliasgate import api

    view = api.run_report(model, registry, metric=metric, alias=alias, candidate=candidate, limit=limit)
    return face(fmt is ReportFormat.json).emit(view)


@command(app)
def rollback(
    model: ModelArg,
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
    policy: Annotated[
        Path | None,
        typer.Option("--policy", "-p", help="Tell this policy's `notify:` targets of the rollback."),
    ] = None,
) -> int:
    """Move an alias back to its holder before the last audited move (compare-and-swap, audited).

    Rolling back twice steps back twice."""
    from aliasgate import api

    f = face(as_json)
    run = api.run_rollback(
        model, alias, registry, to=to, reason=reason, dry_run=dry_run, reports=f.github, policy_path=policy
    )
    return f.emit(run)


@command(app)
def cleanup(
    policy: PolicyOpt = None,
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
) -> int:
    """Delete versions the policy's `retention:` rules let go: past ttl, beyond keep_last, with no
    alias, no passing keep_if and no kept version derived from them.

    Prints the plan first, then deletes with bounded parallelism; each deletion re-checks the
    version's aliases and is audited. Exit 0 done (versions that gained an alias are skipped and
    reported), 1 registry/auth error (or W&B ignored a --native-ttl write), 2 invalid input,
    3 aborted by --max-deletions, 130/143 stopped by SIGINT/SIGTERM after the in-flight deletions
    finished."""
    from aliasgate import api

    f = face(as_json)
    run = api.run_cleanup(
        policy,
        registry,
        dry_run=dry_run,
        max_deletions=max_deletions,
        parallel=parallel,
        model_glob=model,
        native_ttl=native_ttl,
        on_plan=f.cleanup_progress,
        on_outcome=f.on_outcome,
    )
    return f.emit(run)


@command(app)
def notify(
    test: Annotated[
        bool, typer.Option("--test", help="Send a signed test event to every target and report each.")
    ] = False,
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Check the policy's `notify:` targets: `promote notify --test` delivers a signed test event to each.

    Exit 0 when every target took it, 1 when one did not, 2 when the policy names none."""
    from aliasgate import api
    from aliasgate.errors import InvalidInput

    if not test:
        raise InvalidInput("nothing to do", hint="promote notify --test [-p POLICY]")
    return face(as_json).emit(api.run_notify_test(policy))


@command(app)
def whoami(registry: RegistryOpt = None, as_json: JsonOpt = False) -> int:
    """The account the registry authenticates (never the token)."""
    from aliasgate import api

    return face(as_json).emit(api.run_whoami(registry))


@command(app)
def schema() -> None:
    """Print the policy JSON Schema (draft 2020-12) for editors and validators."""
    from aliasgate.policy.load import schema_text

    out(schema_text().rstrip())


def main() -> None:
    app(prog_name="promote")


if __name__ == "__main__":  # pragma: no cover
    main()
