"""The layering rules of ARCHITECTURE.md, held over every import in ``src/aliasgate``.

Every ``import`` and ``from ... import`` is read with ``ast`` (including the lazy ones inside
functions and under ``TYPE_CHECKING``), resolved to the module it names, and each module is put
in one layer:

- **face**: ``cli*``, ``__main__``, ``action`` — the Typer commands and the Action entry point;
- **renderer**: ``render*``, ``report*``, ``reporters*``, ``github*`` — text, JSON and GitHub output;
- **backend**: ``registry/<name>`` (a module or a package) — one registry implementation each;
- **protocol**: ``registry`` (the ``Registry`` protocol), ``registry/http``, ``registry/_conformance``;
- **core**: everything else (policy, planner, gates, applier, audit, retention, api, ...).

The rules are the table ``RULES`` below; the imports that break them today and are being removed
are listed, each with the reason, in ``KNOWN_EXCEPTIONS`` (empty it as they go: a listed import
that no longer exists fails the test, so the list cannot go stale).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "aliasgate"

# Modules of the core that every backend may import: plain values and the protocol they implement.
SHARED_VALUE_MODULES = frozenset(
    {
        "aliasgate",  # the package itself: __version__
        "aliasgate.model",
        "aliasgate.errors",
        "aliasgate.audit",
        "aliasgate.secrets",
        "aliasgate.interrupt",  # stop requests: a backend's lock wait wakes on them (no handlers installed)
        "aliasgate.durations",  # formatting ages and TTLs in messages
        "aliasgate.registry",
        "aliasgate.registry.http",
    }
)
# The registry package's own modules that are not a backend.
PROTOCOL_MODULES = frozenset(
    {"aliasgate.registry", "aliasgate.registry.http", "aliasgate.registry._conformance"}
)
# Third-party modules only the face may import (Typer vendors its own Click: never import click).
FACE_ONLY_LIBRARIES = ("typer", "click")


def layer(module: str) -> str:
    """The layer of an ``aliasgate`` module: face, renderer, protocol, backend:<name> or core."""
    parts = module.split(".")
    if module in PROTOCOL_MODULES:
        return "protocol"
    if parts[:2] == ["aliasgate", "registry"] and len(parts) > 2:
        # registry/wandb/ and today's registry/wandb_gql.py are one backend: wandb
        return "backend:" + parts[2].split("_")[0]
    top = parts[1] if len(parts) > 1 else ""
    if top.startswith("cli") or top in ("__main__", "action"):
        return "face"
    if top.startswith(("render", "report", "github")):
        return "renderer"
    return "core"


@dataclass(frozen=True)
class Rule:
    name: str
    applies: Callable[[str], bool]  # to the importing module
    forbids: Callable[[str, str], bool]  # (importer, imported) -> broken


def _is_backend(module: str) -> bool:
    return layer(module).startswith("backend:")


def _library(module: str) -> str:
    return module.split(".")[0]


RULES: tuple[Rule, ...] = (
    Rule(
        "the core never imports the face (cli*, action)",
        lambda m: layer(m) == "core",
        lambda m, imp: layer(imp) == "face",
    ),
    Rule(
        "the core never imports a specific backend (it opens one by URI scheme)",
        lambda m: layer(m) == "core",
        lambda m, imp: _is_backend(imp),
    ),
    Rule(
        "only the face imports Typer (and nothing imports click)",
        lambda m: layer(m) != "face",
        lambda m, imp: _library(imp) in FACE_ONLY_LIBRARIES,
    ),
    Rule(
        "the face never imports click",
        lambda m: layer(m) == "face",
        lambda m, imp: _library(imp) == "click",
    ),
    Rule(
        "backends never import each other",
        _is_backend,
        lambda m, imp: _is_backend(imp) and layer(imp) != layer(m),
    ),
    Rule(
        "backends import from the core only the shared value modules and the protocol",
        _is_backend,
        lambda m, imp: (
            imp.split(".")[0] == PACKAGE and not _is_backend(imp) and imp not in SHARED_VALUE_MODULES
        ),
    ),
    Rule(
        "api.py never imports a renderer (the face picks the reporter)",
        lambda m: m == "aliasgate.api",
        lambda m, imp: layer(imp) == "renderer",
    ),
)

# (importer, imported): today's imports that break a rule, to be removed as the layering is completed.
# The lead empties this list at merge; an entry whose import is gone fails the test.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("aliasgate.registry_admin", "aliasgate.registry.local_file"): (
        "import --replace checks the embedded file: moves behind the embedded admin protocol"
    ),
}


# -- reading the imports ---------------------------------------------------------------------------


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _known_modules() -> set[str]:
    return {module_name(p) for p in (SRC / PACKAGE).rglob("*.py")}


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Every module ``source`` imports, anywhere in it; ``from a import b`` counts as ``a.b``
    when ``a.b`` is a module, else as ``a``."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found


def import_graph() -> dict[str, set[str]]:
    known = _known_modules()
    graph: dict[str, set[str]] = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        name = module_name(path)
        graph[name] = imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", known)
    return graph


def violations(graph: dict[str, set[str]], rules: Iterable[Rule] = RULES) -> dict[tuple[str, str], str]:
    """(importer, imported) -> the first rule it breaks."""
    out: dict[tuple[str, str], str] = {}
    for rule in rules:
        for module, imported in graph.items():
            if not rule.applies(module):
                continue
            for imp in sorted(imported):
                if rule.forbids(module, imp):
                    out.setdefault((module, imp), rule.name)
    return out


# -- the tests ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_import_keeps_to_the_layering_rules(graph: dict[str, set[str]]) -> None:
    broken = {edge: rule for edge, rule in violations(graph).items() if edge not in KNOWN_EXCEPTIONS}
    assert not broken, "imports that break the layering rules (see ARCHITECTURE.md):\n" + "\n".join(
        f"  {a} imports {b}: {rule}" for (a, b), rule in sorted(broken.items())
    )


def test_every_known_exception_still_exists(graph: dict[str, set[str]]) -> None:
    found = violations(graph)
    stale = [edge for edge in KNOWN_EXCEPTIONS if edge not in found]
    assert not stale, "fixed, remove from KNOWN_EXCEPTIONS in tests/test_imports.py: " + ", ".join(
        f"{a} -> {b}" for a, b in stale
    )


def test_every_layer_is_found(graph: dict[str, set[str]]) -> None:
    """The classification sees the house as it is (a rename that empties a layer fails here)."""
    layers = {layer(m) for m in graph}
    assert {
        "face",
        "renderer",
        "protocol",
        "core",
        "backend:local",
        "backend:mlflow",
        "backend:wandb",
    } <= layers
    assert layer("aliasgate.api") == "core"
    assert layer("aliasgate.registry.mlflow.client") == "backend:mlflow"
    assert layer("aliasgate.registry.wandb_gql") == "backend:wandb"


def test_the_rules_catch_each_kind_of_back_door() -> None:
    """The checker itself, on made-up modules: each rule fires on the import it forbids."""
    known = {"aliasgate.registry.mlflow", "aliasgate.registry.mlflow.client", "aliasgate.cli"}
    lazy = "def f():\n    from aliasgate.cli import app\n    import typer\n"
    assert imports_of(lazy, "aliasgate.planner", False, known) == {"aliasgate.cli", "typer"}
    relative = "from . import client\nfrom ..wandb import reads\n"
    assert imports_of(
        relative, "aliasgate.registry.mlflow", True, known | {"aliasgate.registry.mlflow.client"}
    ) == {
        "aliasgate.registry.mlflow.client",
        "aliasgate.registry.wandb",
    }
    made_up = {
        "aliasgate.planner": {"aliasgate.cli", "aliasgate.registry.local", "typer"},
        "aliasgate.registry.mlflow.client": {
            "aliasgate.registry.wandb",
            "aliasgate.retention",
            "aliasgate.audit",
            "aliasgate.registry.mlflow.reads",
        },
        "aliasgate.api": {"aliasgate.render"},
        "aliasgate.cli": {"click", "typer", "aliasgate.render", "aliasgate.registry.local"},
    }
    assert set(violations(made_up)) == {
        ("aliasgate.planner", "aliasgate.cli"),
        ("aliasgate.planner", "aliasgate.registry.local"),
        ("aliasgate.planner", "typer"),
        ("aliasgate.registry.mlflow.client", "aliasgate.registry.wandb"),
        ("aliasgate.registry.mlflow.client", "aliasgate.retention"),
        ("aliasgate.api", "aliasgate.render"),
        ("aliasgate.cli", "click"),
    }
