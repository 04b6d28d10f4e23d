"""The README's two quick-start commands: the test command is what CI runs, and the promotion
command's steps work against the demo (run here with the installed `promote`)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, PROMOTE, ROOT, clean_env


def _bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick, re.S)


def test_quick_start_has_two_commands() -> None:
    blocks = _bash_blocks()
    assert len(blocks) == 2 and all("\n" not in b for b in blocks)


def test_ci_runs_the_readme_test_command() -> None:
    assert _bash_blocks()[1] in (ROOT / ".ci" / "run").read_text()
    assert _bash_blocks()[1] in (ROOT / "CONTRIBUTING.md").read_text()


def test_quick_start_promotion_runs(tmp_path: Path) -> None:
    first = _bash_blocks()[0]
    steps = [s.strip() for s in first.split("&&")]
    assert steps[0].startswith("python3 -m venv") and "pip install" in steps[1] and steps[2] == "cd examples"
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    outputs = []
    for step in steps[3:]:
        argv = shlex.split(step)
        assert argv[0] == "../.venv/bin/promote"
        proc = subprocess.run(
            [PROMOTE, *argv[1:]],
            cwd=work,
            env=clean_env(HOME=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, (step, proc.stdout, proc.stderr)
        outputs.append(proc.stdout)
    assert "would delete 2 version(s)" in outputs[1]  # cleanup --dry-run
    assert "move bert-classifier:production v2 -> v4" in outputs[2]  # promote --dry-run
    assert "applied ship-classifier" in outputs[3]
    assert "intact" in outputs[4]


# -- the two commands verbatim, from a fresh clone with an empty HOME (as CI runs them) ---------------------


def fresh_clone(dest: Path) -> Path:
    """What `git clone` of this checkout gives: every tracked file, as it is in the working tree (so a
    change under test is included), and nothing else: no .venv, no registry, no caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, env=clean_env(), check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: nothing to clone")
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is not part of the clone
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def empty_home_env(home: Path, **extra: str) -> dict[str, str]:
    """CI's environment: a HOME with nothing in it (no pip cache, no aliasgate cache, no git config),
    no virtualenv activated, nothing from the outer pytest."""
    home.mkdir()
    env = clean_env(HOME=str(home), **extra)
    for key in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS", "PYTHONHOME", "ALIASGATE_TEST_CACHE"):
        env.pop(key, None)
    env.update(extra)
    return env


@pytest.mark.slow
def test_first_command_verbatim_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path / "aliasgate")
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail; " + _bash_blocks()[0]],
        cwd=clone,
        env=empty_home_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "move bert-classifier:production v2 -> v4" in proc.stdout
    assert "applied ship-classifier" in proc.stdout
    assert "intact" in proc.stdout
    # it ran the clone's own install, not this checkout's
    assert (clone / ".venv" / "bin" / "promote").exists()
    assert (clone / "examples" / ".aliasgate" / "registry.db").exists()


@pytest.mark.slow
def test_second_command_verbatim_from_a_fresh_clone(tmp_path: Path) -> None:
    """The test command, verbatim: venv, the editable install with the test extra, pytest. The inner
    pytest is narrowed through PYTEST_ADDOPTS to the server-free README tests (not the slow ones, which
    would recurse into this test), so this checks the command and the install, not the suite twice."""
    clone = fresh_clone(tmp_path / "aliasgate")
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail; " + _bash_blocks()[1]],
        cwd=clone,
        env=empty_home_env(
            tmp_path / "home", PYTEST_ADDOPTS="-p no:cacheprovider -m 'not slow' tests/test_readme.py"
        ),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b[1-9]\d* passed\b", proc.stdout), proc.stdout
    assert " failed" not in proc.stdout and " error" not in proc.stdout
    assert f"rootdir: {clone}" in proc.stdout  # the clone's suite, not this checkout's


# -- the test command talks: first-use installs show progress through pytest's capture ------------------------

_INNER_TEST = '''
import base64, hashlib, sys, venv, zipfile
from pathlib import Path

import pytest

from tests.servers import progress


def wheel(where: Path) -> Path:
    """A one-file wheel, so the install needs no index."""
    files = {
        "tinypkg/__init__.py": b"VALUE = 1\\n",
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: tinypkg\\nVersion: 1.0\\n",
        "tinypkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    path = where / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("tinypkg-1.0.dist-info/RECORD", "\\n".join(record) + "\\n")
    return path


def test_install(tmp_path):
    progress.HEARTBEAT_SECONDS = 0.001
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    progress.pip_install(env / "bin" / "python", [str(wheel(tmp_path))], label="tiny", venv=env)
    print("CAPTURED-PRINT")


def test_failed_install(tmp_path):
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    with pytest.raises(RuntimeError, match="pip install .*missing.whl failed"):
        progress.pip_install(env / "bin" / "python", [str(tmp_path / "missing.whl")], label="tiny", venv=env)
'''


@pytest.mark.slow
def test_first_use_install_progress_is_not_swallowed_by_pytest(tmp_path: Path) -> None:
    """An inner pytest run, with capture on (the default): a plain print stays hidden, the install's
    progress lines reach the terminal, and a failed install says so before its error."""
    (tmp_path / "test_inner.py").write_text(_INNER_TEST, encoding="utf-8")
    env = clean_env(PYTHONPATH=str(ROOT), HOME=str(tmp_path))
    env.pop("PYTEST_ADDOPTS", None)
    plugins = ["-p", "no:cacheprovider", "-p", "tests.servers.progress", "--noconftest"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            *plugins,
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "CAPTURED-PRINT" not in out  # capture is on: only what goes past it shows
    assert re.search(r"\[tiny\] first use: installing \S+tinypkg-1.0-py3-none-any.whl into ", out), out
    assert "[tiny] still installing" in out, out
    assert re.search(r"\[tiny\] installed \S+ in \d+ s; [\d,]+ MB in ", out), out
    assert re.search(r"\[tiny\] pip install \S+missing.whl failed after \d+ s", out), out


# -- what the README says about files outside the working directory -----------------------------------------


def test_parsed_policy_cache_lives_where_the_readme_says(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`~/.cache/aliasgate/policies/`" in readme and "PROMOTE_NO_CACHE=1" in readme
    policy = EXAMPLES / "aliasgate.yaml"

    def check(home: Path, **extra: str) -> list[Path]:
        """`promote plan` of the quick-start policy with this HOME: the JSON files it left there."""
        home.mkdir()
        registry = f"local:{home / 'registry.db'}"
        for args in (
            ["registry", "import", str(EXAMPLES / "demo-registry.yaml")],
            ["plan", "-p", str(policy)],
        ):
            proc = subprocess.run(
                [PROMOTE, *args, "--registry", registry],
                env=clean_env(HOME=str(home), **extra),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
        return sorted(home.rglob("*.json"))

    (cached,) = check(tmp_path / "a")
    assert cached.parent == tmp_path / "a" / ".cache" / "aliasgate" / "policies"
    assert check(tmp_path / "b", PROMOTE_NO_CACHE="1") == []
    (moved,) = check(tmp_path / "c", XDG_CACHE_HOME=str(tmp_path / "c" / "xdg"))
    assert moved.parent == tmp_path / "c" / "xdg" / "aliasgate" / "policies"
