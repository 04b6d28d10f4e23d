"""From the attacker's side: registry-controlled text (model and alias names, metadata values,
created_by, the actor, the reason) carrying workflow commands, Markdown and HTML, rendered by every
command in GitHub mode. Read back with the runner's rules, nothing executes, no table breaks, no HTML,
link or image renders, and every data stream still parses."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from tests.conftest import Demo, Run, clean_env, run_promote
from tests.github_runner import _Log, markdown_problems, parse_file_command

# Each payload tries another way out; "pwned" marks what must never become a command's name or property.
CORPUS = (
    "::warning title=pwned::colons\n::error title=pwned::lf\r::notice title=pwned::cr"
    " ##[add-mask]pwned ##[stop-commands]pwned ##[set-output name=pwned]x %0A::error title=pwned::enc"
    " ``code`` ``` | pipe | <img src=x onerror=alert(1)> <b>bold</b> ![img](https://e.invalid/p.png)"
    " [link](https://e.invalid) %%{init: {'theme':'dark'}}%% %% comment"
)
# What the embedded registry lets a model be called (no ':', '/', '\\', LF, TAB); renamed below to the
# full corpus in the database, as registries with free-form names (MLflow) allow.
SEED_NAME = "evil ##[add-mask]pwned ``x`` | <b>b<b> ![i](https e.invalid p.png) %%{init}%%"
EVIL_MODEL = "evil" + CORPUS
EVIL_ALIAS = "prod" + CORPUS


def _seed(demo: Demo) -> None:
    seed = {
        "format": 1,
        "models": [
            {
                "name": SEED_NAME,
                "description": CORPUS,
                "versions": [
                    {
                        "number": 1,
                        "age": "9d",
                        "created_by": CORPUS,
                        "metrics": {"f1": 0.5},
                        "metadata": {"k": CORPUS},
                    },
                    {
                        "number": 2,
                        "age": "8d",
                        "created_by": CORPUS,
                        "metrics": {"f1": 0.6},
                        "metadata": {"k": CORPUS},
                    },
                    {
                        "number": 3,
                        "age": "2d",
                        "created_by": "trainer",
                        "metrics": {"f1": 0.7},
                        "metadata": {"k": "v"},
                    },
                ],
                "aliases": {"production": 1, "staging": 3},
            }
        ],
    }
    demo.write("evil-seed.yaml", json.dumps(seed))
    env = clean_env(GITHUB_ACTIONS="true", GITHUB_ACTOR=CORPUS, PROMOTE_PRINCIPAL=CORPUS)
    r = run_promote("registry", "import", "evil-seed.yaml", cwd=demo.path, env=env)
    assert r.code == 0, r.output
    r = run_promote(
        "registry", "set-alias", SEED_NAME, "production", "v2", "--reason", CORPUS, cwd=demo.path, env=env
    )
    assert r.code == 0, r.output
    with sqlite3.connect(demo.db) as conn:
        conn.execute("UPDATE models SET name = ? WHERE name = ?", (EVIL_MODEL, SEED_NAME))
        (model_id,) = conn.execute("SELECT id FROM models WHERE name = ?", (EVIL_MODEL,)).fetchone()
        conn.execute("INSERT INTO aliases (model_id, alias, number) VALUES (?, ?, 1)", (model_id, EVIL_ALIAS))
    policy = {
        "version": 1,
        "promotions": [
            {
                "name": "ship",
                "model": EVIL_MODEL,
                "from": "staging",
                "to": "production",
                "gates": [{"metric": "f1", "min": 0.65}, {"metadata": {"k": "v"}}],
            },
            {
                "name": "blocked",
                "model": EVIL_MODEL,
                "from": "staging",
                "to": "canary",
                "gates": [{"metadata": {"k": CORPUS}}],
            },
        ],
        "retention": [{"model": EVIL_MODEL, "ttl": "1d", "keep_last": 1}],
    }
    demo.write("evil.yaml", json.dumps(policy))
    demo.write("evil-invalid.yaml", json.dumps({"version": 1, "promotions": [{"name": CORPUS, CORPUS: 1}]}))


def _env(demo: Demo) -> dict[str, str]:
    files = {k: demo.path / k.lower() for k in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for p in files.values():
        p.write_text("")
    return clean_env(
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(demo.path),
        GITHUB_ACTOR=CORPUS,
        **{k: str(v) for k, v in files.items()},
    )


COMMANDS = [
    ["plan", "-p", "evil.yaml", "-o", "plan.json"],
    ["plan", "-p", "evil.yaml", "--json"],
    ["apply", "-p", "evil.yaml", "--dry-run"],
    ["apply", "plan.json", "--json"],
    ["check", "evil.yaml", "evil-invalid.yaml"],
    ["check", "evil-invalid.yaml", "--json"],
    ["status", EVIL_MODEL],
    ["status", EVIL_MODEL, "--json"],
    ["history", EVIL_MODEL, "--verify"],
    ["history", EVIL_MODEL, "--json"],
    ["report", EVIL_MODEL, "--alias", "production", "--candidate", "staging"],
    ["report", EVIL_MODEL, "--format", "json"],
    ["rollback", EVIL_MODEL, "production", "--reason", CORPUS],
    ["cleanup", "-p", "evil.yaml", "--dry-run"],
    ["cleanup", "-p", "evil.yaml", "--json"],
    ["status", "no-such" + CORPUS],
    ["registry", "list"],
    ["registry", "list", "--json"],
    ["registry", "export"],
]


def assert_inert(r: Run, where: str) -> None:
    annotations: list[Any] = []
    masks: list[str] = []
    log: list[str] = []
    reader = _Log(masks, annotations, log)
    reader.feed(r.stdout)
    assert reader.stopped is None, f"{where}: stdout left commands stopped"
    reader.feed(r.stderr)
    assert reader.stopped is None, f"{where}: stderr left commands stopped"
    assert not masks, f"{where}: a mask was registered: {masks}"
    for name, line in reader.executed:
        assert name in ("error", "warning", "notice", "stop-commands") or name.startswith("aliasgate-"), (
            f"{where}: executed {name}: {line!r}"
        )
        assert not line.startswith("##["), f"{where}: a legacy command ran: {line!r}"
    for a in annotations:
        assert "pwned" not in json.dumps(dict(a.properties)), f"{where}: injected annotation {a}"
        assert a.properties.get("title", "").startswith("aliasgate"), f"{where}: annotation not ours: {a}"


def test_registry_text_is_inert_in_every_command(demo: Demo) -> None:
    _seed(demo)
    for args in COMMANDS:
        env = _env(demo)
        r = run_promote(*args, cwd=demo.path, env=env)
        where = " ".join(a[:20] for a in args)
        assert r.code in (0, 1, 2, 3), f"{where}: {r.output}"
        assert "Traceback" not in r.stderr, where
        assert_inert(r, where)
        if ("--json" in args or args[-1] == "json") and r.stdout.strip():
            json.loads(r.stdout)  # the data stream is still one JSON document
        summary = (demo.path / "github_step_summary").read_text()
        assert markdown_problems(summary) == [], f"{where}: {markdown_problems(summary)}"
        if args[0] == "report" and "json" not in args:
            assert markdown_problems(r.stdout) == [], f"{where}: {markdown_problems(r.stdout)}"
        outputs = parse_file_command((demo.path / "github_output").read_text())
        assert set(outputs) <= {"changed", "moves", "exit-code", "plan", "ttl-disabled", "ttl-failed"}, where
        for value in outputs.values():
            assert "##[" not in value, f"{where}: {value!r}"
        if "moves" in outputs:
            json.loads(outputs["moves"])


@pytest.mark.parametrize("text", [CORPUS, "a\u2028::error title=pwned::x", "x\r\n##[add-mask]y", "```"])
def test_neutralize_fences_every_form(text: str) -> None:
    from aliasgate import github

    reader = _Log([], [], [])
    reader.feed(github.neutralize(text))
    assert [
        n for n, _ in reader.executed if n not in ("stop-commands",) and not n.startswith("aliasgate-")
    ] == []
    assert reader.stopped is None


def test_markdown_escapes_hold_any_backtick_run_and_cell() -> None:
    from aliasgate.markdown import md_cell, md_code, mermaid_label

    for text in (CORPUS, "`", "``", "a`b", "x ``` y", "| |", "\r|\n"):
        row = f"| {md_code(text)} | {md_cell(text)} |"
        assert markdown_problems(f"| a | b |\n|---|---|\n{row}") == [], row
    assert "%%" not in mermaid_label(CORPUS) and "\n" not in mermaid_label(CORPUS)
