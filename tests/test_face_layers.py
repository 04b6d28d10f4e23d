"""The face stays a face: the core (api and results) imports no renderer, reporter or Typer, and the
CLI modules build no JSON and branch on no output format or GitHub themselves."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "aliasgate"
FACE = (
    "render",
    "reporters",
    "github",
    "github_observer",
    "summary",
    "markdown",
    "cli",
    "cli_support",
    "cli_registry",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "aliasgate":
                found |= {f"aliasgate.{a.name}" for a in node.names}
    return found


def test_core_imports_no_renderer_and_no_typer() -> None:
    # the funnel may use the log-line escaping (aliasgate.github.neutralize) for its one-line messages
    allowed = {"api.py": set(), "commands.py": set(), "results.py": set(), "funnel.py": {"github"}}
    for name, ok in allowed.items():
        imported = _imports(SRC / name)
        bad = {m for m in imported if m == "typer" or m.removeprefix("aliasgate.") in set(FACE) - ok}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_cli_modules_are_wiring_only() -> None:
    for name in ("cli.py", "cli_support.py", "cli_registry.py"):
        text = (SRC / name).read_text(encoding="utf-8")
        for forbidden in ("to_json", "json.dumps", "if as_json:", "on_github(", "github."):
            assert forbidden not in text, f"{name} holds {forbidden!r}"
