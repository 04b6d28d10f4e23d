"""The release: the licence, one version everywhere, a wheel and an sdist from `python -m build` that
`twine check` accepts and that carry the policy schema, the built wheel's quick start from a fresh
virtualenv, the README's install-from-a-tag command, and the action running exactly its own code."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import aliasgate
from tests.conftest import EXAMPLES, ROOT, Demo, clean_env
from tests.github_runner import run_action
from tests.test_readme import _bash_blocks, empty_home_env, fresh_clone

PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # tomllib is 3.11+; the suite runs on 3.10
VERSION = re.search(r'^version = "([^"]+)"$', PYPROJECT, re.M).group(1)  # type: ignore[union-attr]
SCHEMA = ROOT / "src" / "aliasgate" / "policy" / "schema.json"


def run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def fresh_venv(path: Path) -> Path:
    """A virtualenv with nothing but pip: what a user's `python3 -m venv` gives."""
    made = run(sys.executable, "-m", "venv", path)
    assert made.returncode == 0, made.stderr
    return path / "bin"


# -- metadata ---------------------------------------------------------------------------------------------


def test_license_is_the_full_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    sections = re.findall(r"^\s+(\d)\. ([A-Z][A-Za-z ]+)\.", text, re.M)
    assert [n for n, _ in sections] == [str(i) for i in range(1, 10)], sections
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    assert re.search(r'^license = "Apache-2.0"$', PYPROJECT, re.M)
    assert re.search(r'^license-files = \["LICENSE"\]$', PYPROJECT, re.M)


def test_one_version_everywhere() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    assert aliasgate.__version__ == VERSION
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", changelog, re.M)
    # Unreleased on top (what is merged since the tag), then the release, dated
    assert sections[0] == ("Unreleased", "")
    assert sections[1][0] == VERSION and sections[1][1], sections[:2]
    assert f"[{VERSION}]: https://github.com/aliasgate/aliasgate/releases/tag/v{VERSION}" in changelog
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("## Install a release", 1)[1].split("\n## ", 1)[0]
    assert f"@v{VERSION}" in install and f"aliasgate=={VERSION}" in install


# -- the build --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` of a fresh clone (only tracked files, as the release workflow's checkout)."""
    base = tmp_path_factory.mktemp("release")
    src = fresh_clone(base / "src")
    out = base / "dist"
    built = run(sys.executable, "-m", "build", "--outdir", out, src, timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def _one(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_build_gives_a_wheel_and_an_sdist_that_twine_accepts(dist: Path) -> None:
    wheel = _one(dist, f"aliasgate-{VERSION}-py3-none-any.whl")
    sdist = _one(dist, f"aliasgate-{VERSION}.tar.gz")
    checked = run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout


def test_twine_check_is_not_a_rubber_stamp(dist: Path, tmp_path: Path) -> None:
    """A wheel whose README metadata is broken reStructuredText fails the same check."""
    wheel = _one(dist, "*.whl")
    bad = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".dist-info/METADATA"):
                text = data.decode().replace("Description-Content-Type: text/markdown", "")
                data = (text + "\n\n.. broken:: directive\n   :unknown:\n`unclosed\n").encode()
            dst.writestr(item, data)
    checked = run(sys.executable, "-m", "twine", "check", "--strict", bad)
    assert checked.returncode != 0


def test_wheel_and_sdist_carry_the_schema_and_the_licence(dist: Path) -> None:
    schema = SCHEMA.read_bytes()
    with zipfile.ZipFile(_one(dist, "*.whl")) as whl:
        names = whl.namelist()
        assert whl.read("aliasgate/policy/schema.json") == schema
        assert "aliasgate/py.typed" in names
        info = f"aliasgate-{VERSION}.dist-info"
        assert whl.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        metadata = whl.read(f"{info}/METADATA").decode()
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
    assert f"Version: {VERSION}\n" in metadata and "License-Expression: Apache-2.0\n" in metadata
    assert "promote = aliasgate.cli:main" in entry_points
    assert not [n for n in names if n.startswith(("tests/", "examples/")) or "__pycache__" in n]
    with tarfile.open(_one(dist, "*.tar.gz")) as sdist:
        root = f"aliasgate-{VERSION}"
        members = set(sdist.getnames())
        assert {f"{root}/LICENSE", f"{root}/README.md", f"{root}/pyproject.toml"} <= members
        extracted = sdist.extractfile(f"{root}/src/aliasgate/policy/schema.json")
        assert extracted is not None and extracted.read() == schema


@pytest.mark.slow
def test_the_wheel_runs_the_quick_start_from_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    """The README's first command with the built wheel in place of the clone: a fresh virtualenv, an
    empty HOME, a copy of examples/, and every promote step after `cd examples` verbatim."""
    bin_ = fresh_venv(tmp_path / "venv")
    env = empty_home_env(tmp_path / "home")
    installed = run(bin_ / "python", "-m", "pip", "install", "-q", _one(dist, "*.whl"), env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    where = run(bin_ / "python", "-c", "import aliasgate; print(aliasgate.__file__)", env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(tmp_path / "venv")), where.stdout  # not this checkout
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    steps = [s.strip() for s in _bash_blocks()[0].split("&&")]
    assert steps[2] == "cd examples"
    outputs = []
    for step in steps[3:]:
        argv = shlex.split(step)
        assert argv[0] == "../.venv/bin/promote"
        done = run(bin_ / "promote", *argv[1:], cwd=work, env=env, timeout=120)
        assert done.returncode == 0, (step, done.stdout, done.stderr)
        outputs.append(done.stdout)
    assert "would delete 2 version(s)" in outputs[1]  # cleanup --dry-run
    assert "move bert-classifier:production v2 -> v4" in outputs[2]  # promote --dry-run
    assert "applied ship-classifier" in outputs[3]
    assert "intact" in outputs[4]
    # the schema the wheel ships is the one the policies are checked against
    shown = run(bin_ / "promote", "schema", env=env, cwd=tmp_path)
    assert json.loads(shown.stdout) == json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert run(bin_ / "promote", "--version", env=env).stdout.strip() == f"aliasgate {VERSION}"


# -- installing from a tag, as the README says ------------------------------------------------------------


def _readme_install_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Install a release", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.+?)\n```", section, re.S)
    return [line.split("  #", 1)[0].strip() for line in block.splitlines()]


def test_readme_installs_from_the_release_tag_with_pipx_and_pip() -> None:
    lines = _readme_install_lines()
    url = f"git+https://github.com/aliasgate/aliasgate@v{VERSION}"
    assert lines == [f'pipx install "{url}"', f'python3 -m pip install "{url}"']


@pytest.mark.slow
def test_pip_install_from_the_tag_gets_the_tagged_release(tmp_path: Path) -> None:
    """The README's pip line against a repository holding the tag and a later commit: the tag wins."""
    repo = fresh_clone(tmp_path / "origin")
    git_env = clean_env(GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path))

    def git(*args: str) -> None:
        done = run("git", *args, cwd=repo, env=git_env)
        assert done.returncode == 0, done.stderr

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "release")
    git("tag", f"v{VERSION}")
    init = repo / "src" / "aliasgate" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{VERSION}"', '"99.0.0.dev0"'), encoding="utf-8")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "after the release")

    line = _readme_install_lines()[1]
    argv = shlex.split(line.replace("https://github.com/aliasgate/aliasgate", repo.as_uri()))
    assert argv[:3] == ["python3", "-m", "pip"]
    bin_ = fresh_venv(tmp_path / "venv")
    env = empty_home_env(tmp_path / "home")
    installed = run(bin_ / "python", *argv[1:], "-q", env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert run(bin_ / "promote", "--version", env=env).stdout.strip() == f"aliasgate {VERSION}"


# -- the action installs exactly the aliasgate of its own ref -----------------------------------------------


@pytest.mark.slow
def test_action_runs_the_code_of_its_own_ref_not_an_earlier_install(demo: Demo, tmp_path: Path) -> None:
    """Two refs of the action in one job, with the same dependencies but different code (a user moving
    from one pinned commit to the next, or `uses: ./` after another checkout): each runs its own code."""
    from tests.test_action import JOB_ENV, _copy_action

    env = empty_home_env(tmp_path / "home")
    first = _copy_action(tmp_path / "ref-a")
    second = _copy_action(tmp_path / "ref-b")
    init = second / "src" / "aliasgate" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{VERSION}"', f'"{VERSION}+ref.b"'), encoding="utf-8")

    def use(action_dir: Path) -> str:
        done = run_action(
            action_dir,
            {"command": "check", "policy": "examples/aliasgate.yaml", "python": sys.executable},
            workspace=demo.path,
            temp=tmp_path / "runner-temp",
            env=env,
            job_env=JOB_ENV,
        )
        assert done.outcome == "success", done.raw
        return done.step("install").stdout

    assert f"aliasgate {VERSION}\n" in use(first)
    assert f"aliasgate {VERSION}+ref.b" in use(second)
    # and back: the first ref's code again, not the second's left behind
    assert f"aliasgate {VERSION}\n" in use(first)
