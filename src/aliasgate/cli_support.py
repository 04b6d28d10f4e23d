"""Wiring shared by the `promote` commands: options, the funnel around each command, the reporter.

Only Typer and the standard library load here; everything else loads inside commands.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:  # pragma: no cover
    from aliasgate import api as api
    from aliasgate import registry_admin as registry_admin
    from aliasgate.reporters import Face

F = TypeVar("F", bound=Callable[..., Any])

state: dict[str, Any] = {"traceback": bool(os.environ.get("PROMOTE_TRACEBACK"))}

DEFAULT_POLICY = "aliasgate.yaml"

Opt = typer.Option
Arg = typer.Argument
Text = str | None
Texts = list[str] | None

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
    Path | None,
    typer.Option("--policy", "-p", envvar="PROMOTE_POLICY", help="Policy file.", show_default=DEFAULT_POLICY),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]
RuleOpt = Annotated[Texts, Opt("--rule", help="Only this rule (repeatable).", show_default=False)]
ModelArg = Annotated[str, Arg(help="Model name.", show_default=False)]
ReasonOpt = Annotated[Text, Opt("--reason", help="Why; recorded in the audit record.")]


class _Lazy:
    """A core module for the CLI modules, imported on first use (``promote --help`` stays light)."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self._module), name)


if not TYPE_CHECKING:
    api = _Lazy("aliasgate.api")
    registry_admin = _Lazy("aliasgate.registry_admin")


def out(text: str, *, err: bool = False) -> None:
    from aliasgate.reporters import write

    write(text, err=err)


def face(as_json: bool = False) -> Face:
    """The reporter for this command, chosen once (plus the GitHub observer on GitHub)."""
    from aliasgate.reporters import Face

    if state.get("face") is None:
        state["face"] = Face.choose("json" if as_json else "text")
    chosen: Face = state["face"]
    return chosen


def _begin() -> None:
    from aliasgate.reporters import prepare

    prepare()


def _observers() -> tuple[Callable[[BaseException], None], ...]:
    from aliasgate.reporters import error_observers

    return error_observers()


def funneled(fn: Callable[..., Any]) -> Callable[..., None]:
    """Run a command inside the one error funnel. It returns its exit code, or a typed result that
    the command's reporter (``--json`` or text, chosen once) shows and takes the exit code from."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from aliasgate import funnel

        def work() -> int:
            state["face"] = None
            _begin()
            result = fn(*args, **kwargs)
            if result is None or isinstance(result, int):
                return result or 0
            return face(bool(kwargs.get("as_json"))).emit(result)

        code = funnel.guarded(
            work,
            show_traceback=state["traceback"],
            observers=_observers(),
            passthrough=(typer.Exit, typer.Abort),
        )
        if code:
            raise typer.Exit(code)

    return wrapper


def command(app: typer.Typer, name: str | None = None, **options: Any) -> Callable[[F], F]:
    """``@command(app)``: register a Typer command that runs inside the funnel."""

    def register(fn: F) -> F:
        summary = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())
        options.setdefault("short_help", summary)  # listed whole in --help, never cut with "..."
        app.command(name, **options)(funneled(fn))
        return fn

    return register
