"""The `promote` command line: parse, call one core function, render. Nothing else.

Start-up stays light: only Typer and the standard library are imported here;
the core, jsonschema, GitPython, requests and backends load inside commands.
Every AliasgateError goes through one funnel that prints it (secrets
redacted) and exits with its documented code.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from aliasgate import __version__

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.api import Session
    from aliasgate.render import Style

F = TypeVar("F", bound=Callable[..., Any])

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
registry_app = typer.Typer(
    help="Manage the embedded registry: models, versions, aliases, import and export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(registry_app, name="registry")

_state: dict[str, Any] = {"traceback": bool(os.environ.get("PROMOTE_TRACEBACK"))}

DEFAULT_POLICY = "aliasgate.yaml"

RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        "-r",
        envvar="PROMOTE_REGISTRY",
        help="Registry URI: local:PATH, mlflow+http://HOST:PORT, mlflow, wandb://ENTITY/PROJECT "
        "(default: the policy's `registry:`, else local:.aliasgate/registry.db).",
        show_default=False,
    ),
]
PolicyOpt = Annotated[
    Path,
    typer.Option("--policy", "-p", envvar="PROMOTE_POLICY", help="Policy file.", show_default=True),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]
RuleOpt = Annotated[
    list[str] | None,
    typer.Option("--rule", help="Only this rule (repeatable).", show_default=False),
]


# -- output and the error funnel -----------------------------------------------------------------


def _style(stream: Any = None) -> Style:
    from aliasgate.render import Style

    stream = stream or sys.stdout
    color = stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    return Style(color=bool(color))


def out(text: str) -> None:
    from aliasgate.secrets import redact

    typer.echo(_fence(redact(text)))


def err(text: str) -> None:
    from aliasgate.secrets import redact

    typer.echo(_fence(redact(text)), err=True)


def _fence(text: str) -> str:
    """On GitHub, registry text that starts a line with `::` must not run as a workflow command."""
    gh = _github()
    return gh.neutralize(text) if gh else text


def funnel(fn: F) -> F:
    """Map AliasgateError to its exit code with a readable message; --traceback re-raises."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from aliasgate.errors import AliasgateError, PolicyError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except PolicyError as exc:
            _github_policy_annotations(exc)
            for issue in exc.issues:
                err(str(issue))
            err(f"error: {exc.message}")
            if _state["traceback"]:
                raise
            raise typer.Exit(int(exc.exit_code)) from None
        except AliasgateError as exc:
            if _state["traceback"]:
                raise
            if _github() is not None:
                _github().command("error", exc.message, title=f"aliasgate: {type(exc).__name__}")
            err(f"error: {exc.message}")
            if exc.hint:
                err(f"hint: {exc.hint}")
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            err("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _state["traceback"]:
                raise
            err(f"internal error: {type(exc).__name__}: {exc}")
            err("hint: re-run with --traceback and report it")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _github_policy_annotations(exc: Any) -> None:
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from aliasgate import github

        github.policy_errors(exc.issues)


def _github() -> Any:
    """The GitHub Actions integration when running on GitHub, else None."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    from aliasgate import github

    return github


def _open(uri: str, **options: Any) -> Session:
    from aliasgate import api, secrets

    secrets.register_environment()
    if _github() is not None:
        _github().mask_secrets()
    return api.connect(uri, **options)


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
        _state["traceback"] = True


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
    session = _open(api.resolve_registry(registry, pol))
    try:
        p = api.make_plan(pol, session, rules=rule)
        if output:
            api.save_plan(p, output)
        gh = _github()
        if gh:
            gh.report_plan(p, None, registry=session.registry, saved=str(output) if output else None)
    finally:
        session.close()
    out(render.to_json(p.as_dict()) if as_json else render.plan_text(p, _style()))
    if output and not as_json:
        out(f"saved plan {p.id} to {output}")
    raise typer.Exit(3 if p.blocked else 0)


@app.command()
@funnel
def apply(
    plan_file: Annotated[
        Path | None,
        typer.Argument(
            help="A plan saved with `promote plan -o`: applied exactly, refused (exit 4) if any alias moved since.",
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
        p = api.read_plan(plan_file)
        if registry and registry != p.registry:
            from aliasgate.errors import InvalidInput

            raise InvalidInput(f"the plan was made for {p.registry}; --registry {registry} does not match")
        session = _open(p.registry)
        exact = True
    else:
        pol = api.load(policy)
        session = _open(api.resolve_registry(registry, pol))
        exact = False
    try:
        if plan_file is None:
            prov = None if dry_run else api.provenance_later(session, str(policy), pol.sha256)
            p = api.make_plan(pol, session, rules=rule)
        else:
            prov = None
        result = api.apply_plan(session, p, exact=exact, dry_run=dry_run, prov=prov)
        gh = _github()
        if gh:
            gh.report_plan(p, result, registry=session.registry)
    finally:
        session.close()
    if as_json:
        out(render.to_json({"plan": p.as_dict(), "result": result.as_dict()}))
    else:
        style = _style()
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
    gh = _github()
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

    session = _open(api.resolve_registry(registry, None))
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
    out(render.status_text(model, shown, aliases, names, utcnow(), _style()))


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

    session = _open(api.resolve_registry(registry, None))
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
        out(render.history_text(newest_first, _style()))
        if verify:
            out(render.verification_text(model, verification, _style()))
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

    session = _open(api.resolve_registry(registry, None))
    try:
        rep = report_mod.build(
            session.registry, model, metric=metric, limit=limit, alias=alias, candidate=candidate
        )
    finally:
        session.close()
    text = report_mod.markdown(rep)
    gh = _github()
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

    session = _open(api.resolve_registry(registry, None))
    try:
        rb, record = api.rollback(session, model, alias, to=to, reason=reason, dry_run=dry_run)
        gh = _github()
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
) -> None:
    """Delete versions the policy's `retention:` rules let go: past ttl, beyond keep_last, with no
    alias, no passing keep_if and no kept version derived from them.

    Prints the plan first, then deletes with bounded parallelism; each deletion re-checks the
    version's aliases and is audited. Exit 0 done (versions that gained an alias are skipped and
    reported), 1 registry/auth error, 2 invalid input, 3 aborted by --max-deletions, 130/143
    stopped by SIGINT/SIGTERM after the in-flight deletions finished."""
    from aliasgate import api, render

    pol = api.load(policy)
    session = _open(api.resolve_registry(registry, pol))
    try:
        p = api.cleanup_plan(pol, session, model_glob=model)
        if not as_json:
            out(render.cleanup_plan_text(p, _style()))
            out("")
        progress = _CleanupProgress(len(p.deletions))
        result = api.cleanup(
            session,
            p,
            dry_run=dry_run,
            max_deletions=max_deletions,
            parallel=parallel,
            on_outcome=progress,
        )
        progress.finish()
        gh = _github()
        if gh:
            gh.report_cleanup(
                gh.cleanup_lines(p, result), dry_run=dry_run, exit_code=result.exit_code, file=p.policy_path
            )
    finally:
        session.close()
    if as_json:
        out(render.to_json({"plan": p.as_dict(), "result": result.as_dict()}))
    else:
        out(render.cleanup_result_text(result, _style()))
    raise typer.Exit(result.exit_code)


class _CleanupProgress:
    """Progress on stderr: a bar redrawn in place on a terminal, one plain line per deletion when piped."""

    def __init__(self, total: int) -> None:
        from aliasgate.render import Style

        self.total = total
        self.done = 0
        self.counts: dict[str, int] = {}
        self.tty = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
        self.style = _style(sys.stderr) if self.tty else Style()

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

    session = _open(api.resolve_registry(registry, None))
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


# -- embedded registry management ---------------------------------------------------------------------


def _local(registry: str | None) -> Any:
    from aliasgate import api
    from aliasgate.errors import InvalidInput

    uri = api.resolve_registry(registry, None)
    if not uri.startswith("local:"):
        raise InvalidInput(f"`promote registry` manages the embedded registry only, not {uri}")
    return _open(uri, create=True)


def _pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    import yaml

    from aliasgate.errors import InvalidInput

    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--{what} {item!r}: expected KEY=VALUE")
        result[key] = yaml.safe_load(value) if value else ""
    return result


@registry_app.command("init")
@funnel
def registry_init(registry: RegistryOpt = None) -> None:
    """Create an empty embedded registry (idempotent)."""
    session = _local(registry)
    session.close()
    out(f"embedded registry ready at {session.registry.uri}")


@registry_app.command("create-model")
@funnel
def registry_create_model(
    name: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    description: Annotated[str, typer.Option("--description", help="What the model is.")] = "",
    registry: RegistryOpt = None,
) -> None:
    """Create a model."""
    session = _local(registry)
    try:
        session.registry.create_model(name, description)
    finally:
        session.close()
    out(f"created model {name}")


@registry_app.command("log-version")
@funnel
def registry_log_version(
    model: Annotated[str, typer.Argument(help="Model name (created if missing).", show_default=False)],
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="KEY=NUMBER (repeatable).")
    ] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Metadata KEY=VALUE (repeatable).")] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="JSON or YAML file with `metrics:` and `metadata:` mappings."),
    ] = None,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="Lineage: derived from MODEL:vN (repeatable).")
    ] = None,
    created_by: Annotated[
        str | None, typer.Option("--created-by", help="Who made it (default: whoami).")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Where the artifact lives (URI, run id).")
    ] = None,
    registry: RegistryOpt = None,
) -> None:
    """Log a new version with metrics, metadata and lineage."""
    from aliasgate import registry_admin

    metrics, metadata = registry_admin.read_values(from_file, _pairs(metric, "metric"), _pairs(meta, "meta"))
    session = _local(registry)
    try:
        number = registry_admin.log_version(
            session.registry, model, metrics, metadata, inputs or [], created_by, source
        )
    finally:
        session.close()
    out(f"logged {model}:v{number}")


@registry_app.command("set-alias")
@funnel
def registry_set_alias(
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    alias: Annotated[str, typer.Argument(help="Alias to set.", show_default=False)],
    version: Annotated[str, typer.Argument(help="Version (v3 or 3).", show_default=False)],
    expect: Annotated[
        str | None, typer.Option("--expect", help="Only if the alias is on this version now (v2, or 'none').")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why; recorded in the audit record.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Point an alias at a version by hand (compare-and-swap, audited as a manual move)."""
    from aliasgate import registry_admin

    session = _local(registry)
    try:
        record = registry_admin.set_alias(session, model, alias, version, expect, reason)
    finally:
        session.close()
    out(f"{model}:{alias} -> {version}" + (f" (audit #{record['seq']})" if record else " (already there)"))


@registry_app.command("delete-alias")
@funnel
def registry_delete_alias(
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    alias: Annotated[str, typer.Argument(help="Alias to remove.", show_default=False)],
    reason: Annotated[str | None, typer.Option("--reason", help="Why; recorded in the audit record.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Remove an alias by hand (audited)."""
    from aliasgate import registry_admin

    session = _local(registry)
    try:
        record = registry_admin.set_alias(session, model, alias, None, None, reason)
    finally:
        session.close()
    out(f"removed {model}:{alias}" + (f" (audit #{record['seq']})" if record else " (it was not set)"))


@registry_app.command("list")
@funnel
def registry_list(registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """List models with their version counts and aliases."""
    from aliasgate import render

    session = _local(registry)
    try:
        rows = [
            (m, session.registry.latest(m), session.registry.aliases(m)) for m in session.registry.models()
        ]
    finally:
        session.close()
    if as_json:
        out(render.to_json([{"model": m, "latest": n, "aliases": a} for m, n, a in rows]))
        return
    out(
        render.table(
            ["model", "latest", "aliases"],
            [[m, f"v{n}" if n else "-", ", ".join(f"{k}=v{v}" for k, v in a.items())] for m, n, a in rows],
            _style(),
        )
    )


@registry_app.command("import")
@funnel
def registry_import(
    seed: Annotated[
        Path, typer.Argument(help="Registry YAML (see examples/demo-registry.yaml).", show_default=False)
    ],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Start from an empty registry (deletes the embedded registry file)."),
    ] = False,
    registry: RegistryOpt = None,
) -> None:
    """Load models, versions and aliases from YAML (aliases are set as audited manual moves)."""
    from aliasgate import api, registry_admin

    uri = api.resolve_registry(registry, None)
    if replace:
        registry_admin.remove_local(uri)
    session = _local(registry)
    try:
        counts = registry_admin.import_seed(session, seed)
    finally:
        session.close()
    out(f"imported {counts[0]} model(s), {counts[1]} version(s), {counts[2]} alias(es) into {uri}")


@registry_app.command("export")
@funnel
def registry_export(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Write models, versions and aliases as YAML (the format `import` reads)."""
    from aliasgate import registry_admin

    session = _local(registry)
    try:
        text = registry_admin.export_seed(session)
    finally:
        session.close()
    if output:
        output.write_text(text, encoding="utf-8")
        out(f"exported to {output}")
    else:
        out(text.rstrip())


def main() -> None:
    app(prog_name="promote")


if __name__ == "__main__":  # pragma: no cover
    main()
