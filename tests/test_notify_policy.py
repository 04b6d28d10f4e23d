"""The policy's `notify:` key: every mistake named at file:line with its JSON path, a URL or
secret written in the policy refused without being echoed, `on:` read as the key it looks like;
and the pieces of delivery that need no receiver (Retry-After, Slack escaping, the signature)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from aliasgate.errors import PolicyError
from aliasgate.notify import Event, send, slack
from aliasgate.notify.targets import signing_key
from aliasgate.policy import load_text

HEAD = "version: 1\nnotify:\n"
URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"


def issues(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(PolicyError) as exc:
        load_text(HEAD + text, "p.yaml")
    return [(i.line, i.path, i.message) for i in exc.value.issues]


def test_targets_load_with_their_events_and_defaults() -> None:
    pol = load_text(
        HEAD
        + "  - {url_env: PROMOTE_WEBHOOK_URL, secret_env: PROMOTE_WEBHOOK_SECRET, on: [moved, cleanup], required: true}\n"
        + "  - slack_env: SLACK_WEBHOOK_URL\n",
        "p.yaml",
    )
    hook, chat = pol.notify
    assert (hook.kind, hook.url_env, hook.secret_env, hook.on, hook.required) == (
        "webhook",
        "PROMOTE_WEBHOOK_URL",
        "PROMOTE_WEBHOOK_SECRET",
        ("moved", "cleanup"),
        True,
    )
    assert (chat.kind, chat.on, chat.required, chat.loc.line) == (
        "slack",
        ("moved", "blocked", "rolled_back", "cleanup"),
        False,
        4,
    )


@pytest.mark.parametrize(
    ("text", "line", "path", "message"),
    [
        (
            f"  - {{url_env: '{URL}', secret_env: S}}\n",
            3,
            "$.notify[0].url_env",
            "name the environment variable",
        ),
        (f"  - {{slack_env: '{URL}'}}\n", 3, "$.notify[0].slack_env", "would be committed with it"),
        (
            f"  - {{url: '{URL}', secret_env: S}}\n",
            3,
            "$.notify[0]",
            "needs exactly one of: url_env, slack_env",
        ),
        (
            "  - {url_env: U, secret_env: S, url: x}\n",
            3,
            "$.notify[0].url",
            "unknown key 'url' in a webhook target",
        ),
        ("  - {url_env: U}\n", 3, "$.notify[0]", "missing required key 'secret_env'"),
        (
            "  - {url_env: U, slack_env: V, secret_env: S}\n",
            3,
            "$.notify[0]",
            "split it into separate targets",
        ),
        ("  - {slack_env: V, on: [moved, deployed]}\n", 3, "$.notify[0].on[1]", "an event is one of moved"),
        ("  - {slack_env: V, on: []}\n", 3, "$.notify[0].on", "needs at least 1 item"),
        ("  - {slack_env: V, required: maybe}\n", 3, "$.notify[0].required", "expected true or false"),
        ("  - {url_env: U, secret_env: U}\n", 3, "$.notify[0].secret_env", "must be two variables"),
        (
            "  - {slack_env: V}\n  - {slack_env: V, on: [moved]}\n",
            4,
            "$.notify[1].slack_env",
            "already a target",
        ),
        ("  {slack_env: V}\n", 3, "$.notify", "expected a list"),
    ],
)
def test_every_mistake_is_named_at_its_line(text: str, line: int, path: str, message: str) -> None:
    found = issues(text)
    assert any(ln == line and p == path and message in m for ln, p, m in found), found


def test_a_url_in_the_policy_is_never_echoed() -> None:
    found = issues(f"  - {{slack_env: '{URL}'}}\n")
    assert all("XXXXsecretXXXX" not in m and "hooks.slack.com" not in m for _, _, m in found), found


def test_on_is_the_key_on_not_yaml_true() -> None:
    pol = load_text(HEAD + "  - slack_env: V\n    on: [rolled_back]\n", "p.yaml")
    assert pol.notify[0].on == ("rolled_back",)


def test_check_command_reports_notify_problems(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "p.yaml"
    p.write_text(HEAD + f"  - {{url_env: '{URL}', secret_env: S}}\n", encoding="utf-8")
    run = cli("check", str(p))
    assert run.code == 2
    assert f"{p}:3:" in run.stderr and "$.notify[0].url_env" in run.stderr
    assert "XXXXsecretXXXX" not in run.output


def test_schema_describes_notify(cli) -> None:  # type: ignore[no-untyped-def]
    assert '"notifyTarget"' in cli("schema").stdout


# -- delivery pieces ------------------------------------------------------------------------------


def test_signature_is_the_reference_librarys() -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    key = signing_key(secret)
    assert key is not None
    body = b'{"type":"aliasgate.test"}'
    now = int(datetime.now(timezone.utc).timestamp())
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, timezone.utc), body.decode())
    assert send.sign(key, "msg_1", now, body) == expected


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "0123456789abcdef0123456789abcdef",
        "whsec_!!notbase64!!",
        "whsec_" + base64.b64encode(b"short").decode(),
    ],
)
def test_secrets_that_are_not_standard_webhooks_secrets(secret: str) -> None:
    assert signing_key(secret) is None


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    assert send.retry_after("7") == 7.0
    assert send.retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now) == 30.0
    assert send.retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0.0
    assert send.retry_after("soon") is None and send.retry_after(None) is None


def test_time_limit_from_the_environment() -> None:
    assert send.time_limit({"PROMOTE_NOTIFY_TIMEOUT": "2.5"}) == 2.5
    assert send.time_limit({"PROMOTE_NOTIFY_TIMEOUT": "-1"}) == send.DEFAULT_TIME_LIMIT
    assert send.time_limit({}) == send.DEFAULT_TIME_LIMIT


def test_slack_escapes_registry_text() -> None:
    """Whoever names a model or writes a gate's detail cannot ping @channel or add a link."""
    event = Event(
        "blocked",
        "msg_1",
        (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat(),
        {
            "model": "m<!channel>",
            "alias": "prod",
            "rule": "r&<http://evil|click>",
            "reason": "gate failed",
            "gates": [{"gate": "g", "passed": False, "detail": "<@U123> look"}],
            "ci_run_url": "javascript:alert(1)",
        },
    )
    msg = slack.message(event)
    text = msg["text"] + str(msg["blocks"])
    assert "<!channel>" not in text and "<http://evil" not in text and "<@U123>" not in text
    assert "m&lt;!channel&gt;" in msg["text"]
    assert "javascript:" not in text
