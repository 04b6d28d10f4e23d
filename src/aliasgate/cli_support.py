"""Plumbing shared by the `promote` commands: output, the error funnel, options, sessions.

Only Typer and the standard library load here; everything else loads inside commands.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate.api import Session
    from aliasgate.render import Style

F = TypeVar("F", bound=Callable[..., Any])

state: dict[str, Any] = {"traceback": bool(os.environ.get("PROMOTE_TRACEBACK"))}

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


def terminal_style(stream: Any = None) -> Style:
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
    gh = on_github()
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
            if state["traceback"]:
                raise
            raise typer.Exit(int(exc.exit_code)) from None
        except AliasgateError as exc:
            if state["traceback"]:
                raise
            if on_github() is not None:
                on_github().command("error", exc.message, title=f"aliasgate: {type(exc).__name__}")
            err(f"error: {exc.message}")
            if exc.hint:
                err(f"hint: {exc.hint}")
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            err("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if state["traceback"]:
                raise
            err(f"internal error: {type(exc).__name__}: {exc}")
            err("hint: re-run with --traceback and report it")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _github_policy_annotations(exc: Any) -> None:
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from aliasgate import github

        github.policy_errors(exc.issues)


def on_github() -> Any:
    """The GitHub Actions integration when running on GitHub, else None."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    from aliasgate import github

    return github


def open_session(uri: str, **options: Any) -> Session:
    from aliasgate import api, secrets

    secrets.register_environment()
    if on_github() is not None:
        on_github().mask_secrets()
    return api.connect(uri, **options)
