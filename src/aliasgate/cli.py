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
    Arg,
    JsonOpt,
    ModelArg,
    Opt,
    PolicyOpt,
    ReasonOpt,
    RegistryOpt,
    RuleOpt,
    Text,
    Texts,
    api,
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
DryRunOpt = Annotated[bool, Opt("--dry-run", help="Plan only; send nothing that changes the registry.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aliasgate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, Opt("--dry-run", help="Without a command: `promote apply --dry-run` (plan, send nothing).")
    ] = False,
    version: Annotated[
        bool, Opt("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    traceback: Annotated[
        bool, Opt("--traceback", help="Show the Python traceback of an error (for bug reports).")
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
        Path | None, Opt("--out", "-o", help="Save the plan as JSON for `promote apply PLAN`.")
    ] = None,
    rule: RuleOpt = None,
) -> object:
    """Show what would move and why: every gate with its observed value. Changes nothing.

    Exits 3 when a gate blocks a rule, so CI can tell 'not promoted' from 'broken'."""
    return api.run_plan(policy, registry, rules=rule, out=output, reports=face(as_json).github)


@command(app)
def apply(
    plan_file: Annotated[
        Path | None,
        Arg(
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
) -> object:
    """Move aliases with compare-and-swap on the holder seen at planning time, and audit each move."""
    reports = face(as_json).github
    return api.run_apply(plan_file, policy, registry, dry_run=dry_run, rules=rule, reports=reports)


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
) -> object:
    """Approve the moves of a saved plan (four-eyes), as the account the registry authenticates.

    The plan is checked as `apply PLAN` checks it; the approval is an audit record bound to the
    registry, model, alias, from- and to-version, policy hash and rule of each move."""
    return api.run_approve(plan_file, policy, registry, rules=rule, comment=comment, revoke=revoke)


@command(app)
def approvals(model: ModelArg, registry: RegistryOpt = None, as_json: JsonOpt = False) -> object:
    """Approvals and revocations of a model, newest first, with whether each still stands."""
    return api.run_approvals(model, registry)


@command(app)
def check(
    policies: Annotated[list[Path], Arg(help="Policy files to validate.", show_default=False)],
    as_json: JsonOpt = False,
) -> object:
    """Validate policy files (schema and meaning) without touching a registry; exit 2 on any problem."""
    return api.run_check(policies)


@command(app)
def status(
    model: ModelArg,
    registry: RegistryOpt = None,
    metric: Annotated[
        Texts, Opt("--metric", "-m", help="Metric column to show (repeatable; default: up to 6).")
    ] = None,
    limit: Annotated[int, Opt("--limit", "-n", help="Show at most this many versions, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> object:
    """Versions, aliases and key metrics of a model."""
    return api.run_status(model, registry, metrics=metric, limit=limit)


@command(app)
def history(
    model: ModelArg,
    alias: Annotated[Text, Opt("--alias", "-a", help="Only moves of this alias.")] = None,
    registry: RegistryOpt = None,
    verify: Annotated[
        bool, Opt("--verify", help="Check the hash chain; exit 1 naming the first edited or missing record.")
    ] = False,
    limit: Annotated[int, Opt("--limit", "-n", help="Show at most this many records (0: all).")] = 0,
    as_json: JsonOpt = False,
) -> object:
    """Every audited move of a model, newest first, from the registry itself."""
    return api.run_history(model, registry, alias=alias, verify=verify, limit=limit)


class ReportFormat(str, Enum):
    md = "md"
    json = "json"


@command(app)
def report(
    model: ModelArg,
    registry: RegistryOpt = None,
    fmt: Annotated[
        ReportFormat, Opt("--format", "-f", help="Markdown (as in the GitHub step summary) or JSON.")
    ] = ReportFormat.md,
    metric: Annotated[
        Text, Opt("--metric", "-m", help="Metric to chart (default: the one most versions carry).")
    ] = None,
    alias: Annotated[
        Text, Opt("--alias", "-a", help="Mark this alias's holder in the chart (e.g. production).")
    ] = None,
    candidate: Annotated[
        Text, Opt("--candidate", help="Mark this version or alias as the new holder (v4, staging).")
    ] = None,
    limit: Annotated[int, Opt("--limit", "-n", help="Recent versions and history records shown.")] = 10,
) -> object:
    """Markdown report of a model: versions, aliases, alias history and a Mermaid chart of a metric."""
    view = api.run_report(model, registry, metric=metric, alias=alias, candidate=candidate, limit=limit)
    return face(fmt is ReportFormat.json).emit(view)


@command(app)
def rollback(
    model: ModelArg,
    alias: Annotated[str, Arg(help="Alias to move back.", show_default=False)],
    to: Annotated[
        Text, Opt("--to", help="Move to this version or alias instead of the previous holder (v3, staging).")
    ] = None,
    registry: RegistryOpt = None,
    reason: ReasonOpt = None,
    dry_run: Annotated[bool, Opt("--dry-run", help="Show where the alias would go; change nothing.")] = False,
    as_json: JsonOpt = False,
    policy: Annotated[
        Path | None, Opt("--policy", "-p", help="Tell this policy's `notify:` targets of the rollback.")
    ] = None,
) -> object:
    """Move an alias back to its holder before the last audited move (compare-and-swap, audited).

    Rolling back twice steps back twice."""
    reports = face(as_json).github
    return api.run_rollback(
        model, alias, registry, to=to, reason=reason, dry_run=dry_run, reports=reports, policy_path=policy
    )


@command(app)
def cleanup(
    policy: PolicyOpt = None,
    registry: RegistryOpt = None,
    dry_run: Annotated[
        bool, Opt("--dry-run", help="Show the plan (every version, verdict, reason); delete nothing.")
    ] = False,
    as_json: JsonOpt = False,
    max_deletions: Annotated[
        int,
        Opt(
            "--max-deletions",
            help="Abort before deleting anything (exit 3) when the plan deletes more than this.",
        ),
    ] = 100,
    parallel: Annotated[int, Opt("--parallel", help="Deletions in flight at once (1-32).")] = 4,
    model: Annotated[
        Text, Opt("--model", help="Only models matching this glob (and a retention rule).")
    ] = None,
    native_ttl: Annotated[
        bool,
        Opt(
            "--native-ttl",
            help="W&B only: after deleting, disable W&B's own TTL on every version the policy keeps "
            "(re-read; exit 1 if W&B ignored it).",
        ),
    ] = False,
) -> object:
    """Delete versions the policy's `retention:` rules let go: past ttl, beyond keep_last, with no
    alias, no passing keep_if and no kept version derived from them.

    Prints the plan first, then deletes with bounded parallelism; each deletion re-checks the
    version's aliases and is audited. Exit 0 done (versions that gained an alias are skipped and
    reported), 1 registry/auth error (or W&B ignored a --native-ttl write), 2 invalid input,
    3 aborted by --max-deletions, 130/143 stopped by SIGINT/SIGTERM after the in-flight deletions
    finished."""
    f = face(as_json)
    return api.run_cleanup(
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


@command(app)
def notify(
    test: Annotated[
        bool, Opt("--test", help="Send a signed test event to every target and report each.")
    ] = False,
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> object:
    """Check the policy's `notify:` targets: `promote notify --test` delivers a signed test event to each.

    Exit 0 when every target took it, 1 when one did not, 2 when the policy names none."""
    if not test:
        from aliasgate.errors import InvalidInput

        raise InvalidInput("nothing to do", hint="promote notify --test [-p POLICY]")
    return api.run_notify_test(policy)


@command(app)
def whoami(registry: RegistryOpt = None, as_json: JsonOpt = False) -> object:
    """The account the registry authenticates (never the token)."""
    return api.run_whoami(registry)


@command(app)
def schema() -> None:
    """Print the policy JSON Schema (draft 2020-12) for editors and validators."""
    from aliasgate.policy.load import schema_text

    out(schema_text().rstrip())


def main() -> None:
    app(prog_name="promote")


if __name__ == "__main__":  # pragma: no cover
    main()
