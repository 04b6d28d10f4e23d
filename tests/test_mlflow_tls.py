"""`promote` over TLS against a real `mlflow server` that serves HTTPS itself (uvicorn's TLS).

Two servers per module, started in parallel: the basic-auth app over TLS, and a plain server that
requires a client certificate (mTLS). Certificates are made at test time (a throwaway CA, a server
certificate for IP 127.0.0.1, a client certificate, and an unrelated CA) by the MLflow venv's
``cryptography``. ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` are removed from every run unless a test
sets them, so the developer's trust store decides nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Run, clean_env, run_promote
from tests.mlflow_fixtures import DEMO_SEED, SeededDemo, unique_prefix
from tests.servers import mlflow_seed
from tests.servers.mlflow_server import ADMIN_PASSWORD, Account, ensure_mlflow
from tests.servers.mlflow_tls import TlsMlflowServer, make_certs
from tests.test_mlflow_cli import policy_for

pytestmark = pytest.mark.mlflow

_TRUST_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass
class TlsServers:
    certs: Path
    auth: TlsMlflowServer  # --app-name basic-auth, HTTPS
    mtls: TlsMlflowServer  # no auth app, HTTPS, client certificate required

    @property
    def ca(self) -> str:
        return str(self.certs / "ca.pem")

    @property
    def client_cert(self) -> str:
        return str(self.certs / "client.pem")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServers]:
    python = ensure_mlflow()
    certs = make_certs(python, tmp_path_factory.mktemp("tls-certs"))
    auth = TlsMlflowServer(tmp_path_factory.mktemp("mlflow-tls-auth"), certs, auth=True, python=python)
    mtls = TlsMlflowServer(
        tmp_path_factory.mktemp("mlflow-mtls"), certs, require_client_cert=True, python=python
    )
    try:
        auth.launch()
        mtls.launch()
        auth.wait_ready()
        mtls.wait_ready()
        yield TlsServers(certs, auth, mtls)
    finally:
        auth.stop()
        mtls.stop()


@pytest.fixture
def auth_demo(tls: TlsServers) -> SeededDemo:
    """The demo on the TLS basic-auth server, with an EDIT service account (seeded over TLS)."""
    prefix = unique_prefix()
    names = mlflow_seed.load(tls.auth, DEMO_SEED, prefix=prefix)
    editor = tls.auth.create_user(f"{prefix}svc-edit")
    for model in names.values():
        tls.auth.grant(editor.username, model, "EDIT")
    return SeededDemo(tls.auth, names, prefix, {"EDIT": editor})


@pytest.fixture
def mtls_demo(tls: TlsServers) -> SeededDemo:
    prefix = unique_prefix()
    return SeededDemo(tls.mtls, mlflow_seed.load(tls.mtls, DEMO_SEED, prefix=prefix), prefix)


def promote(*args: str, cwd: Path, account: Account | None = None, **env: str) -> Run:
    extra = dict(env)
    if account is not None:
        extra.update(account.env())
    base = {k: v for k, v in clean_env(**extra).items() if k not in _TRUST_ENV or k in env}
    return run_promote(*args, cwd=cwd, env=base)


def snapshot(demo: SeededDemo) -> tuple[object, ...]:
    clf = demo.classifier
    return demo.aliases(clf), demo.tags(clf), demo.segments(clf), demo.locks()


def assert_no_secret(run: Run, *secrets: str) -> None:
    for secret in (ADMIN_PASSWORD, *secrets):
        assert secret not in run.output


def assert_unverified(run: Run, url: str) -> None:
    assert run.code == 1, run.output
    assert url in run.stderr
    assert "TLS certificate" in run.stderr and "could not be verified" in run.stderr
    assert "hint: set MLFLOW_TRACKING_SERVER_CERT_PATH" in run.stderr
    assert "Traceback" not in run.output and "internal error" not in run.output


def test_ca_bundle_whoami_plan_apply_history(auth_demo: SeededDemo, tls: TlsServers, tmp_path: Path) -> None:
    policy, clf, uri = policy_for(auth_demo, tmp_path), auth_demo.classifier, auth_demo.uri
    editor = auth_demo.accounts["EDIT"]
    assert uri.startswith("mlflow+https://127.0.0.1:")
    env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": tls.ca}

    who = promote("whoami", "--registry", uri, "--json", cwd=tmp_path, account=editor, **env)
    assert who.code == 0, who.output
    principal = json.loads(who.stdout)
    assert principal["name"] == editor.username and principal["authenticated"] is True

    plan = promote("plan", "-p", str(policy), "--registry", uri, cwd=tmp_path, account=editor, **env)
    assert plan.code == 0, plan.output
    assert f"move {clf}:production v2 -> v4" in plan.stdout

    applied = promote("apply", "-p", str(policy), "--registry", uri, cwd=tmp_path, account=editor, **env)
    assert applied.code == 0, applied.output
    assert auth_demo.aliases(clf)["production"] == 4

    history = promote(
        "history", clf, "--registry", uri, "--verify", "--json", cwd=tmp_path, account=editor, **env
    )
    assert history.code == 0, history.output
    records = json.loads(history.stdout)["records"]
    assert [(r["kind"], r["from"], r["to"]) for r in records] == [("promote", 2, 4)]
    assert records[0]["principal"]["name"] == editor.username
    for run in (who, plan, applied, history):
        assert_no_secret(run, editor.password)
        assert "warning" not in run.stderr


def test_ca_bundle_wins_over_requests_ca_bundle(
    auth_demo: SeededDemo, tls: TlsServers, tmp_path: Path
) -> None:
    """requests lets REQUESTS_CA_BUNDLE override a session's verify; the MLflow setting must win."""
    unrelated = str(tls.certs / "other-ca.pem")
    editor = auth_demo.accounts["EDIT"]
    run = promote(
        "whoami",
        "--registry",
        auth_demo.uri,
        cwd=tmp_path,
        account=editor,
        MLFLOW_TRACKING_SERVER_CERT_PATH=tls.ca,
        REQUESTS_CA_BUNDLE=unrelated,
        CURL_CA_BUNDLE=unrelated,
    )
    assert run.code == 0, run.output
    assert editor.username in run.stdout


def test_unverified_certificate_exit_1_nothing_changed(
    auth_demo: SeededDemo, tls: TlsServers, tmp_path: Path
) -> None:
    policy, clf, uri = policy_for(auth_demo, tmp_path), auth_demo.classifier, auth_demo.uri
    editor = auth_demo.accounts["EDIT"]
    url = tls.auth.url
    before = snapshot(auth_demo)

    # No CA bundle: the system's trust store (certifi) does not know the test CA.
    applied = promote("apply", "-p", str(policy), "--registry", uri, cwd=tmp_path, account=editor)
    assert_unverified(applied, url)
    assert "unable to get local issuer certificate" in applied.stderr  # the reason, from OpenSSL
    assert_no_secret(applied, editor.password)

    who = promote("whoami", "--registry", uri, cwd=tmp_path, account=editor)
    assert_unverified(who, url)
    assert_no_secret(who, editor.password)

    # A CA bundle that did not sign the server's certificate is no better, and is named.
    unrelated = str(tls.certs / "other-ca.pem")
    wrong = promote(
        "apply",
        "-p",
        str(policy),
        "--registry",
        uri,
        cwd=tmp_path,
        account=editor,
        MLFLOW_TRACKING_SERVER_CERT_PATH=unrelated,
    )
    assert_unverified(wrong, url)
    assert unrelated in wrong.stderr
    assert_no_secret(wrong, editor.password)

    # Credentials in the registry URL are neither printed nor sent anywhere.
    inline = f"mlflow+https://{editor.username}:{editor.password}@127.0.0.1:{tls.auth.port}"
    inline_run = promote("history", clf, "--registry", inline, "--verify", cwd=tmp_path)
    assert_unverified(inline_run, url)
    assert_no_secret(inline_run, editor.password)

    assert snapshot(auth_demo) == before
    assert auth_demo.aliases(clf)["production"] == 2


def test_insecure_tls_works_and_warns(auth_demo: SeededDemo, tls: TlsServers, tmp_path: Path) -> None:
    policy, clf, uri = policy_for(auth_demo, tmp_path), auth_demo.classifier, auth_demo.uri
    editor = auth_demo.accounts["EDIT"]
    applied = promote(
        "apply",
        "-p",
        str(policy),
        "--registry",
        uri,
        cwd=tmp_path,
        account=editor,
        MLFLOW_TRACKING_INSECURE_TLS="true",
    )
    assert applied.code == 0, applied.output
    assert auth_demo.aliases(clf)["production"] == 4
    assert (
        f"warning: MLFLOW_TRACKING_INSECURE_TLS is set: the TLS certificate of {tls.auth.url} is not verified"
        in applied.stderr
    )
    assert "InsecureRequestWarning" not in applied.output  # one line of ours, not one per request
    assert_no_secret(applied, editor.password)

    unrelated = str(tls.certs / "other-ca.pem")  # and REQUESTS_CA_BUNDLE does not undo it
    history = promote(
        "history",
        clf,
        "--registry",
        uri,
        "--verify",
        cwd=tmp_path,
        account=editor,
        MLFLOW_TRACKING_INSECURE_TLS="1",
        REQUESTS_CA_BUNDLE=unrelated,
    )
    assert history.code == 0, history.output
    assert "intact" in history.stdout


def test_insecure_and_ca_bundle_together_exit_2(
    auth_demo: SeededDemo, tls: TlsServers, tmp_path: Path
) -> None:
    policy, uri = policy_for(auth_demo, tmp_path), auth_demo.uri
    before = snapshot(auth_demo)
    both = promote(
        "apply",
        "-p",
        str(policy),
        "--registry",
        uri,
        cwd=tmp_path,
        account=auth_demo.accounts["EDIT"],
        MLFLOW_TRACKING_INSECURE_TLS="true",
        MLFLOW_TRACKING_SERVER_CERT_PATH=tls.ca,
    )
    assert both.code == 2, both.output
    assert (
        "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH are both set; choose one"
        in both.stderr
    )
    missing = promote(
        "whoami",
        "--registry",
        uri,
        cwd=tmp_path,
        MLFLOW_TRACKING_SERVER_CERT_PATH=str(tmp_path / "missing-ca.pem"),
    )
    assert missing.code == 2, missing.output
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in missing.stderr and "no such file" in missing.stderr
    assert snapshot(auth_demo) == before


def test_mtls_needs_the_client_certificate(mtls_demo: SeededDemo, tls: TlsServers, tmp_path: Path) -> None:
    policy, clf, uri = policy_for(mtls_demo, tmp_path), mtls_demo.classifier, mtls_demo.uri
    before = snapshot(mtls_demo)

    # TLS 1.3: the server checks the client certificate after the handshake and just closes the
    # connection, so the client cannot know for sure; the hint says what it most likely means.
    without = promote(
        "apply",
        "-p",
        str(policy),
        "--registry",
        uri,
        cwd=tmp_path,
        MLFLOW_TRACKING_SERVER_CERT_PATH=tls.ca,
        PROMOTE_HTTP_RETRIES="0",  # the same answer, without three backed-off retries of the read
    )
    assert without.code == 1, without.output
    # Usually the connection just closes; should OpenSSL read the server's alert first, it says so.
    assert tls.mtls.url in without.stderr
    assert (
        "hint: a server that requires a TLS client certificate does this when none is sent: "
        "set MLFLOW_TRACKING_CLIENT_CERT_PATH"
        in without.stderr
        or "requires a TLS client certificate and refused the connection without one\n"
        "hint: set MLFLOW_TRACKING_CLIENT_CERT_PATH"
        in without.stderr
    ), without.stderr
    assert "Traceback" not in without.output and "internal error" not in without.output
    assert snapshot(mtls_demo) == before

    missing = promote(
        "plan",
        "-p",
        str(policy),
        "--registry",
        uri,
        cwd=tmp_path,
        MLFLOW_TRACKING_SERVER_CERT_PATH=tls.ca,
        MLFLOW_TRACKING_CLIENT_CERT_PATH=str(tmp_path / "missing-client.pem"),
    )
    assert missing.code == 2, missing.output
    assert "MLFLOW_TRACKING_CLIENT_CERT_PATH" in missing.stderr and "no such file" in missing.stderr

    env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": tls.ca, "MLFLOW_TRACKING_CLIENT_CERT_PATH": tls.client_cert}
    applied = promote("apply", "-p", str(policy), "--registry", uri, cwd=tmp_path, **env)
    assert applied.code == 0, applied.output
    assert mtls_demo.aliases(clf)["production"] == 4
    history = promote("history", clf, "--registry", uri, "--verify", "--json", cwd=tmp_path, **env)
    assert history.code == 0, history.output
    assert [(r["from"], r["to"]) for r in json.loads(history.stdout)["records"]] == [(2, 4)]
    key = Path(tls.client_cert).read_text().split("-----BEGIN PRIVATE KEY-----")[1][:40]
    for run in (without, missing, applied, history):
        assert key not in run.output


def test_wrong_password_over_tls_is_never_printed(
    auth_demo: SeededDemo, tls: TlsServers, tmp_path: Path
) -> None:
    editor = auth_demo.accounts["EDIT"]
    wrong = Account(editor.username, f"not-{editor.password}")
    before = snapshot(auth_demo)
    policy = policy_for(auth_demo, tmp_path)
    env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": tls.ca}
    who = promote("whoami", "--registry", auth_demo.uri, cwd=tmp_path, account=wrong, **env)
    applied = promote(
        "apply", "-p", str(policy), "--registry", auth_demo.uri, cwd=tmp_path, account=wrong, **env
    )
    for run in (who, applied):
        assert run.code == 1, run.output
        assert "401" in run.stderr or "authent" in run.stderr.lower(), run.output
        assert_no_secret(run, wrong.password, editor.password)
    token = os.urandom(8).hex()
    bearer = promote("whoami", "--registry", auth_demo.uri, cwd=tmp_path, MLFLOW_TRACKING_TOKEN=token, **env)
    assert bearer.code == 1, bearer.output
    assert token not in bearer.output
    assert snapshot(auth_demo) == before
