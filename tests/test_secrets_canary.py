"""From the attacker's side: a canary secret in every credential variable the backends read and in
unrelated secret-looking variables, through every command, success and failure, plain, `--json`,
GitHub mode and `--traceback`, against the embedded registry and a server that echoes requests.

The canary, its base64 ``user:password`` / ``api:KEY`` forms and its URL-encoded forms must appear
nowhere (stdout, stderr, step summary, step outputs, plan file, registry records), except in
``::add-mask::`` lines on stderr (never stdout, which holds data) for credentials aliasgate sends.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.conftest import Demo, Run, clean_env, run_promote
from tests.echo_server import echoing_server
from tests.github_runner import _unescape_data

CANARY = "cAnArY/p@ss+w0rd%zz"  # a raw '/', '@', '+' and '%': every encoding differs
AT_CANARY = "cAnArY@at+pass%zz"  # what a URL password may hold raw (no '/')


def canaries(secret: str) -> set[str]:
    """The secret as aliasgate may send it: raw, URL-encoded, base64 ``user:secret`` (and that URL-encoded)."""
    forms = {secret}
    for user in ("svc", "api", ""):
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return forms | {enc(f) for f in forms for enc in (lambda v: quote(v, safe=""), quote_plus, quote)}


SECRET_ENV = {
    "MLFLOW_TRACKING_USERNAME": "svc",
    "MLFLOW_TRACKING_PASSWORD": CANARY,
    "MLFLOW_TRACKING_TOKEN": CANARY + "-tok",
    "WANDB_API_KEY": CANARY + "-wandb",
    "PROMOTE_TOKEN": CANARY + "-promote",
    "AWS_ACCESS_KEY_ID": "AKIA" + "CANARY0123456789",
    "AWS_SECRET_ACCESS_KEY": CANARY + "-aws",
    "GITHUB_TOKEN": CANARY + "-gh",
    "SOME_SERVICE_PASSWORD": CANARY + "-other",
}
ALL_FORMS = set().union(*(canaries(v) for v in SECRET_ENV.values() if v != "svc"))


def _files(base: Path) -> dict[str, Path]:
    files = {k: base / k.lower() for k in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for p in files.values():
        p.write_text("")
    return files


def _env(base: Path, *, github: bool, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = clean_env(**SECRET_ENV, PROMOTE_HTTP_RETRIES="0", **(extra or {}))
    if github:
        env.update(GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(base))
        env.update({k: str(v) for k, v in _files(base).items()})
    return env


def assert_no_canary(
    r: Run,
    *,
    where: str,
    extra_text: str = "",
    maskable: set[str] | None = None,
    forms: set[str] | None = None,
) -> None:
    assert "::add-mask::" not in r.stdout, f"{where}: a mask on stdout, the data stream"
    masked = [line for line in r.stderr.splitlines() if line.startswith("::add-mask::")]
    for line in masked:
        value = line.removeprefix("::add-mask::")
        assert _unescape_data(value) in (maskable or set()), (
            f"{where}: masked a value aliasgate does not send: {line}"
        )
    rest = "\n".join(
        [r.stdout, *(ln for ln in r.stderr.splitlines() if not ln.startswith("::add-mask::")), extra_text]
    )
    for form in forms or ALL_FORMS:
        assert form not in rest, f"{where}: the canary ({form!r}) leaked:\n{rest[-2000:]}"


def _github_files(base: Path) -> str:
    return "\n".join(p.read_text() for p in _files_existing(base))


def _files_existing(base: Path) -> list[Path]:
    return [p for p in (base / "github_output", base / "github_step_summary") if p.exists()]


LOCAL_COMMANDS = [
    ["plan", "-p", "examples/promote.yaml", "-o", "plan.json"],
    ["apply", "-p", "examples/promote.yaml", "--dry-run"],
    ["apply", "plan.json"],
    ["check", "examples/promote.yaml", "examples/invalid/unknown-comparison.yaml"],
    ["status", "bert-classifier"],
    ["history", "bert-classifier", "--verify"],
    ["report", "bert-classifier"],
    ["rollback", "bert-classifier", "production", "--reason", "canary"],
    ["cleanup", "-p", "cleanup.yaml"],
    ["whoami"],
    ["status", "no-such-model"],  # a failure path
    ["registry", "list"],
    ["registry", "export"],
]


@pytest.mark.parametrize("mode", ["plain", "json", "github", "github-json"])
def test_canary_never_leaks_from_the_embedded_registry(demo: Demo, mode: str) -> None:
    demo.write(
        "cleanup.yaml", "version: 1\nretention:\n  - {model: bert-classifier, ttl: 1d, keep_last: 1}\n"
    )
    github = mode.startswith("github")
    for args in LOCAL_COMMANDS:
        json_ok = args[0] not in ("schema",) and args[:2] != ["registry", "export"]
        argv = [*args, "--json"] if mode.endswith("json") and json_ok else args
        r = run_promote(*argv, cwd=demo.path, env=_env(demo.path, github=github))
        assert r.code in (0, 1, 2, 3), (argv, r.output)
        # the embedded registry is sent no credential: nothing may be masked at all
        assert_no_canary(r, where=" ".join(argv), extra_text=_github_files(demo.path) if github else "")
        if "--json" in argv and r.code in (0, 3) and args[0] != "report":
            json.loads(r.stdout)  # the data stream still parses
    records = run_promote(
        "history", "bert-classifier", "--json", cwd=demo.path, env=_env(demo.path, github=False)
    )
    plan_file = (demo.path / "plan.json").read_text()
    for form in ALL_FORMS:
        assert form not in records.stdout and form not in plan_file


@pytest.mark.parametrize("mode", ["plain", "github-json", "traceback"])
@pytest.mark.parametrize("auth", ["basic-env", "basic-url", "basic-url-at", "bearer", "wandb"])
def test_canary_never_leaks_through_an_echoing_server(tmp_path: Path, mode: str, auth: str) -> None:
    with echoing_server() as url:
        extra: dict[str, str] = {}
        env_secrets = dict(SECRET_ENV)
        host = url.removeprefix("http://")
        if auth == "basic-env":
            registry, sent = f"mlflow+{url}", canaries(CANARY)
        elif auth == "basic-url":  # raw '/' and '@' in the URL's password: an invalid URL, nothing sent
            registry, sent = f"mlflow+http://svc:{CANARY}-url@{host}", set()
        elif auth == "basic-url-at":  # raw '@' and '+' in the URL's password: valid, and sent
            registry, sent = f"mlflow+http://svc:{AT_CANARY}@{host}", canaries(AT_CANARY)
        elif auth == "bearer":
            registry, sent = f"mlflow+{url}", canaries(CANARY + "-tok")
        else:
            registry, sent = "wandb://team/proj", canaries(CANARY + "-wandb")
            extra["WANDB_BASE_URL"] = url
        if auth in ("basic-url", "basic-url-at", "bearer"):  # basic auth from the environment would win
            env_secrets.pop("MLFLOW_TRACKING_USERNAME")
            env_secrets.pop("MLFLOW_TRACKING_PASSWORD")
        github = mode.startswith("github")
        env = clean_env(**env_secrets, PROMOTE_HTTP_RETRIES="0", **extra)
        if github:
            env.update(GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(tmp_path))
            env.update({k: str(v) for k, v in _files(tmp_path).items()})
        forms = set(ALL_FORMS) | canaries(CANARY + "-url")
        for args in (
            ["whoami"],
            ["status", "m"],
            ["history", "m"],
            ["rollback", "m", "production", "--to", "v1"],
        ):
            argv = (
                ["--traceback", *args]
                if mode == "traceback"
                else [*args, *(["--json"] if "json" in mode else [])]
            )
            r = run_promote(*argv, "--registry", registry, cwd=tmp_path, env=env, timeout=60)
            assert r.code in (1, 2), (argv, r.output)
            assert "Traceback" not in r.stderr or mode == "traceback"
            assert_no_canary(
                r,
                where=f"{auth} {mode} {' '.join(argv)}",
                extra_text=_github_files(tmp_path) if github else "",
                maskable=sent if github else set(),
                forms=forms,
            )
            if github:
                masked = {
                    _unescape_data(ln.removeprefix("::add-mask::"))
                    for ln in r.stderr.splitlines()
                    if ln.startswith("::add-mask::")
                }
                raw = {
                    "basic-env": CANARY,
                    "basic-url-at": AT_CANARY,
                    "bearer": CANARY + "-tok",
                    "wandb": CANARY + "-wandb",
                }.get(auth)
                assert raw is None or raw in masked  # the credential it sends is masked


def test_redaction_happens_before_truncation() -> None:
    """A long error body cut in the middle of a secret must not leave the secret's prefix."""
    import requests

    from aliasgate import secrets
    from aliasgate.registry.mlflow.client import mlflow_error as _mlflow_error

    secret = "Zx9" * 40  # 120 characters
    secrets.register(secret)
    response = requests.models.Response()
    response.status_code = 500
    response._content = ("x" * 280 + secret).encode()
    _, message = _mlflow_error(response)
    assert "Zx9Zx9" not in message and message.endswith("***")
