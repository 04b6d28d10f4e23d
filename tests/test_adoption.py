"""From a clone to a team's pipeline: the MLflow and W&B examples run as their READMEs say (MLflow against a
real `mlflow server` seeded by the shipped script, W&B against the double), the shortest-path workflow of
docs/github-actions.md passes the same linters as the ready workflows, and the docs describe the action and
the repository as they are."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES, PROMOTE, ROOT, clean_env
from tests.servers.mlflow_server import MlflowServer, ensure_mlflow
from tests.servers.wandb_double import CI_KEY, VIEWER_KEY
from tests.wandb_fixtures import WandbWorld

DOCS = ROOT / "docs" / "github-actions.md"
SEED_SCRIPT = EXAMPLES / "mlflow" / "seed_demo.py"


def bash_block(markdown: Path, heading: str, lang: str = "bash") -> list[str]:
    """The lines of the first ``lang`` block under ``heading``, comments removed."""
    text = markdown.read_text(encoding="utf-8").split(heading, 1)[1]
    block = re.search(rf"```{lang}\n(.+?)\n```", text, re.S)
    assert block, f"no {lang} block under {heading} in {markdown}"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]


def exports(steps: list[str]) -> dict[str, str]:
    """The variables a walkthrough exports (`export NAME=VALUE` lines)."""
    return dict(s.removeprefix("export ").split("=", 1) for s in steps if s.startswith("export "))


def run(
    *cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=300
    )


# -- MLflow: the README's walkthrough against a real server ---------------------------------------------------


@pytest.fixture(scope="module")
def fresh_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A `mlflow server` of its own: the walkthrough creates the demo's real model names, which other
    tests' shared server may hold already."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-example"), python=ensure_mlflow())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.mlflow
@pytest.mark.slow
def test_mlflow_walkthrough_seeds_plans_applies_and_cleans_up(
    fresh_mlflow: MlflowServer, tmp_path: Path
) -> None:
    readme = EXAMPLES / "mlflow" / "README.md"
    steps = bash_block(readme, "## Try it locally")
    policy = yaml.safe_load((EXAMPLES / "mlflow" / "aliasgate.yaml").read_text(encoding="utf-8"))
    # the README's server, the script's default and the policy's registry are the same address
    assert (
        ".mlflow/bin/mlflow server --backend-store-uri sqlite:///mlflow-demo.db --host 127.0.0.1 --port 5000 &"
        in steps
    )
    assert ".venv/bin/python examples/mlflow/seed_demo.py http://127.0.0.1:5000" in steps
    assert policy["registry"] == "mlflow+http://127.0.0.1:5000"
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    exported = exports(steps)
    assert exported == {"PROMOTE_REGISTRY": "mlflow+http://127.0.0.1:5000"}
    env = clean_env(HOME=str(tmp_path), PROMOTE_REGISTRY=f"mlflow+{fresh_mlflow.url}")  # the test's server

    seeded = run(sys.executable, work / "mlflow" / "seed_demo.py", fresh_mlflow.url, env=env)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "seeded bert-classifier: 4 versions (production -> v2, staging -> v4)" in seeded.stdout

    outputs = []
    promote_steps = steps[steps.index("cd examples/mlflow") + 1 :]
    for step in promote_steps:
        argv = shlex.split(step)
        assert argv[0] == "../../.venv/bin/promote", step
        done = run(PROMOTE, *argv[1:], cwd=work / "mlflow", env=env)
        assert done.returncode == 0, (step, done.stdout, done.stderr)
        outputs.append(done.stdout)
    plan, apply, history, cleanup = outputs
    # `promote --dry-run` in the example's folder plans its default policy (aliasgate.yaml), no -p
    again = run(PROMOTE, "--dry-run", cwd=work / "mlflow", env=env)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr
    assert "PASS derived from bert-tokenizer:production" in plan
    assert "move bert-classifier:production v2 -> v4" in plan
    assert "applied ship-classifier" in apply
    assert "intact" in history
    assert "would delete 0 version(s); nothing sent" in cleanup  # every seeded version is new

    # the models the README says appear in the list, and no lock left after the move
    names = [
        m["name"]
        for m in fresh_mlflow.api("GET", "registered-models/search", params={"max_results": "1000"})[
            "registered_models"
        ]
    ]
    assert any(n.startswith("aliasgate-audit.bert-classifier.") for n in names), names
    assert not [n for n in names if n.startswith("aliasgate-lock.")], names
    text = readme.read_text(encoding="utf-8")
    assert (
        "`aliasgate-audit.<model>.<account>.<page>`" in text
        and "`aliasgate-lock.<model>.<generation>`" in text
    )


@pytest.mark.mlflow
def test_seed_script_refuses_existing_models_and_takes_a_prefix(
    fresh_mlflow: MlflowServer, tmp_path: Path
) -> None:
    env = clean_env(HOME=str(tmp_path))
    first = run(sys.executable, SEED_SCRIPT, fresh_mlflow.url, "--prefix", "seedtest-", env=env)
    assert first.returncode == 0, first.stderr
    before = fresh_mlflow.api("GET", "registered-models/get", params={"name": "seedtest-bert-classifier"})
    again = run(sys.executable, SEED_SCRIPT, fresh_mlflow.url, "--prefix", "seedtest-", env=env)
    assert again.returncode == 2
    assert "seedtest-bert-tokenizer, seedtest-bert-classifier already exist(s)" in again.stderr
    assert "nothing was changed" in again.stderr and "--prefix" in again.stderr
    after = fresh_mlflow.api("GET", "registered-models/get", params={"name": "seedtest-bert-classifier"})
    assert after == before
    # the policy's `mlflow+` form of the address is accepted; anything but http(s) is refused
    other = run(sys.executable, SEED_SCRIPT, f"mlflow+{fresh_mlflow.url}", "--prefix", "seedtest2-", env=env)
    assert other.returncode == 0, other.stderr
    assert "seeded seedtest2-bert-classifier" in other.stdout
    bad = run(sys.executable, SEED_SCRIPT, "sqlite:///mlflow.db", env=env)
    assert bad.returncode == 2 and "is not an http(s):// MLflow server" in bad.stderr


# -- W&B: the README's read-only walkthrough against the double ----------------------------------------------


def test_wandb_example_runs_unchanged_against_the_double(
    wandb_world: WandbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's registry (`wandb://acme-org/wandb-registry-model`) is the double's registry, so the
    policy runs as shipped: the README's read-only steps with the viewer's key (a Viewer is enough for
    plan, as the README says), then apply with the service account's."""
    steps = bash_block(EXAMPLES / "wandb" / "README.md", "## Try it against your registry")
    work = tmp_path / "wandb"
    shutil.copytree(EXAMPLES / "wandb", work)
    commands = [shlex.split(s) for s in steps[steps.index("cd examples/wandb") + 1 :]]
    assert [c[:2] for c in commands] == [
        ["promote", "whoami"],
        ["promote", "status"],
        ["promote", "plan"],
        ["promote", "apply"],
        ["promote", "cleanup"],
    ]
    exported = exports(steps)
    assert set(exported) == {"WANDB_API_KEY", "PROMOTE_REGISTRY"}
    policy = yaml.safe_load((work / "aliasgate.yaml").read_text(encoding="utf-8"))
    assert exported["PROMOTE_REGISTRY"] == policy["registry"] == "wandb://acme-org/wandb-registry-model"
    registry = wandb_world.demo.registry
    for key in (VIEWER_KEY, CI_KEY):
        env = clean_env(
            HOME=str(tmp_path), PROMOTE_REGISTRY=exported["PROMOTE_REGISTRY"], **wandb_world.env(key)
        )
        for argv in commands:
            done = run(PROMOTE, *argv[1:], cwd=work, env=env)
            assert done.returncode == 0, (key, argv, done.stdout, done.stderr)
        assert not wandb_world.journal.mutations()  # every step of the walkthrough is read-only
    assert wandb_world.state.holder(registry, "bert-classifier", "production") == 2
    applied = run(PROMOTE, "apply", cwd=work, env=clean_env(HOME=str(tmp_path), **wandb_world.env(CI_KEY)))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert wandb_world.state.holder(registry, "bert-classifier", "production") == 4
    # `promote --dry-run` in the example's folder plans its default policy (aliasgate.yaml), no -p
    again = run(PROMOTE, "--dry-run", cwd=work, env=clean_env(HOME=str(tmp_path), **wandb_world.env(CI_KEY)))
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr


# -- docs/github-actions.md ----------------------------------------------------------------------------------


def _shortest_path_workflow() -> str:
    text = DOCS.read_text(encoding="utf-8").split("## The shortest path", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.+?)\n```", text, re.S)
    return block + "\n"


def test_shortest_path_says_local_cannot_work_on_a_fresh_runner() -> None:
    section = DOCS.read_text(encoding="utf-8").split("## The shortest path", 1)[1].split("\n## ", 1)[0]
    assert "`local:` registry" in section and "cannot work on a fresh CI\nrunner" in section
    # one environment, one secret, one file: nothing else to set up
    workflow = yaml.safe_load(_shortest_path_workflow())
    (job,) = workflow["jobs"].values()
    assert job["environment"] == "model-registry"
    assert re.findall(r"secrets\.(\w+)", _shortest_path_workflow()) == ["ALIASGATE_TOKEN"]
    assert "vars." not in _shortest_path_workflow()


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def test_shortest_path_workflow_passes_actionlint_and_zizmor(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    text = _shortest_path_workflow()
    (workflows / "aliasgate.yml").write_text(text, encoding="utf-8")
    env = clean_env(PATH=f"{Path(sys.executable).parent}:{clean_env().get('PATH', '')}", NO_COLOR="1")
    audited = run(
        _tool("zizmor"), "--offline", "--persona", "auditor", "--no-ignores", "--format", "plain",
        workflows / "aliasgate.yml", env=env,
    )  # fmt: skip
    assert audited.returncode == 0 and "No findings" in audited.stdout + audited.stderr, audited.stdout
    # actionlint, with the action wired in locally so every `with:` is checked against action.yml
    shutil.copy2(ROOT / "action.yml", tmp_path / "action.yml")
    local = text.replace("aliasgate/aliasgate@0000000000000000000000000000000000000000", "./")
    assert "uses: ./ #" in local
    (workflows / "aliasgate.yml").write_text(local, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=clean_env())
    linted = run(_tool("actionlint"), "-no-color", cwd=tmp_path, env=env)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_docs_give_each_action_input_its_real_default() -> None:
    inputs = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"]
    table = DOCS.read_text(encoding="utf-8").split("#### Inputs", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            for name in re.findall(r"`([a-z-]+)`", cells[0]):
                rows[name] = cells[1]
    assert set(rows) == set(inputs)
    for name, spec in inputs.items():
        default = str(spec.get("default", ""))
        assert rows[name] == (f"`{default}`" if default else rows[name]), name
        if not default:
            assert "`" not in rows[name], f"{name}: action.yml has no default, the docs give {rows[name]}"


def test_exit_code_output_names_every_code() -> None:
    outputs = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["outputs"]
    described = outputs["exit-code"]["description"]
    docs = DOCS.read_text(encoding="utf-8").split("#### Outputs", 1)[1].split("\n#", 1)[0]
    (row,) = [line for line in docs.splitlines() if line.startswith("| `exit-code`")]
    for text in (described, row):
        for code in ("0", "1", "2", "3", "4", "130", "143"):
            assert re.search(rf"\b{code}\b", text), (code, text)
        assert "cleanup" in text  # 3 also means cleanup stopped at its deletion cap


# -- the repository describes itself ---------------------------------------------------------------------------


def _tracked() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, env=clean_env())
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / n for n in listed.stdout.decode().split("\0") if n and (ROOT / n).is_file()]


def test_project_files_cite_no_notes_outside_the_repository() -> None:
    # written in pieces, so that this file does not match itself
    notes = ["STYLE", "DESIGN"]
    outside = re.compile(
        "|".join([rf"{n}\.md" for n in notes] + ["/wo" + "rk/", "shared/" + "reference", r"\bissue ?1\d\b"])
    )
    found = []
    for path in _tracked():
        if path.suffix in {".png", ".db"} or path.name == "LICENSE":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in outside.finditer(text)]
    assert found == []


def test_files_named_in_the_docs_exist() -> None:
    docs = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
    docs += sorted(EXAMPLES.rglob("README.md"))
    cited = re.compile(r"`((?:tests|benchmarks|examples|docs|workflows|src|action|\.ci)/[\w./-]+)`")
    missing = []
    for doc in docs:
        for name in cited.findall(doc.read_text(encoding="utf-8")):
            if "*" in name or "<" in name:
                continue
            if not (ROOT / name.rstrip("/")).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {name}")
    assert missing == []
