"""Notifications against real loopback receivers, from the receiver's and the attacker's side.

A webhook receiver verifies every delivery with the reference ``standardwebhooks`` library
(and refuses it with another secret); retries keep the webhook-id; a receiver that never
answers holds the command no longer than its time limit; a failed delivery leaves the move
done and audited, and turns the exit code to 1 only for a ``required`` target; no URL or
secret reaches any output, the GitHub step summary, annotations or the audit records.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import Demo, Run, clean_env, run_promote
from tests.webhook_receiver import HANG, RESET, Receiver, receiving

SECRET = "whsec_" + base64.b64encode(b"aliasgate-notify-test-key-32byte").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-key-of-thirty-two-bytes!").decode()
SLACK_PATH = "/services/T0SLACKTEAM/B0SLACKHOOK/sLaCkToKeNcAnArY123"
WEBHOOK = "{url_env: HOOK_URL, secret_env: HOOK_SECRET}"
SLACK = "{slack_env: SLACK_URL}"


def policy(demo: Demo, *targets: str, gates: str = "") -> Path:
    """examples/promote.yaml with ``notify:`` targets (and, for a blocked run, a gate that fails)."""
    text = demo.policy().read_text(encoding="utf-8")
    if gates:
        text = text.replace("      - {max_age: 14d}", f"      - {{max_age: 14d}}\n{gates}")
    text += "\nnotify:\n" + "".join(f"  - {t}\n" for t in targets)
    return demo.write("notify.yaml", text)


def holder(demo: Demo, alias: str = "production", model: str = "bert-classifier") -> int | None:
    reg = demo.registry()
    try:
        return reg.aliases(model).get(alias)
    finally:
        reg.close()


def verified(receiver: Receiver, secret: str = SECRET, i: int = -1) -> dict[str, Any]:
    got = receiver.requests[i]
    data: dict[str, Any] = Webhook(secret).verify(got.body, got.headers)
    return data


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_env(**values: str) -> None:
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        for k, v in values.items():
            monkeypatch.setenv(k, v)

    return set_env


def test_moved_event_is_signed_and_verifies_with_the_reference_library(
    demo: Demo, cli: Any, env: Any
) -> None:
    with receiving() as hook:
        env(HOOK_URL=hook.url)
        run: Run = cli("apply", "-p", str(policy(demo, WEBHOOK)), "--json")
    assert run.code == 0, run.output
    assert holder(demo) == 4
    assert len(hook.requests) == 1
    body = verified(hook)
    assert body["type"] == "aliasgate.moved"
    data = body["data"]
    assert (data["model"], data["alias"], data["from"], data["to"]) == ("bert-classifier", "production", 2, 4)
    assert data["rule"] == "ship-classifier" and data["principal"]["name"]
    history = json.loads(cli("history", "bert-classifier", "--json").stdout)["records"][0]
    assert data["audit"] == {"seq": history["seq"], "hash": history["hash"]}
    assert data["policy_sha256"] == history["policy"]["sha256"] and len(data["policy_sha256"]) == 64
    assert {"git_commit", "ci_run_url", "actor", "registry"} <= set(data)
    assert [g["gate"] for g in data["gates"]][:2] == ["val_f1 >= 0.89", "val_loss <= 0.35"]
    assert all(g["passed"] for g in data["gates"])
    with pytest.raises(WebhookVerificationError):
        verified(hook, OTHER_SECRET)
    tampered = dict(hook.requests[0].headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(hook.requests[0].body.replace(b'"to":4', b'"to":3'), tampered)
    (delivery,) = json.loads(run.stdout)["notifications"]
    assert delivery["ok"] and delivery["attempts"] == 1 and delivery["target"] == "webhook $HOOK_URL"
    assert delivery["webhook_id"] == hook.requests[0].headers["webhook-id"]


def test_ci_run_url_and_commit_come_from_the_run(demo: Demo, cli: Any, env: Any) -> None:
    with receiving() as hook:
        env(HOOK_URL=hook.url, GITHUB_RUN_ID="77", GITHUB_REPOSITORY="acme/models")
        assert cli("apply", "-p", str(policy(demo, WEBHOOK))).code == 0
    data = verified(hook)["data"]
    assert data["ci_run_url"] == "https://github.com/acme/models/actions/runs/77"


def test_retries_on_500_429_and_reset_keep_the_webhook_id(demo: Demo, cli: Any, env: Any) -> None:
    with receiving(500, (429, {"Retry-After": "1"}), RESET, 200) as hook:
        env(HOOK_URL=hook.url)
        run = cli("apply", "-p", str(policy(demo, WEBHOOK)), "--json")
    assert run.code == 0, run.output
    assert len(hook.requests) == 4
    assert len({r.headers["webhook-id"] for r in hook.requests}) == 1
    for i in range(4):  # every attempt is signed (with its own timestamp)
        assert verified(hook, i=i)["type"] == "aliasgate.moved"
    assert hook.requests[2].at - hook.requests[1].at >= 0.95  # Retry-After: 1 honoured
    (delivery,) = json.loads(run.stdout)["notifications"]
    assert delivery["ok"] and delivery["attempts"] == 4 and delivery["status"] == 200


def test_a_receiver_that_never_answers_does_not_hold_the_command(demo: Demo, cli: Any, env: Any) -> None:
    with receiving(HANG) as hook:
        env(HOOK_URL=hook.url, PROMOTE_NOTIFY_TIMEOUT="2")
        started = time.monotonic()
        run = cli("apply", "-p", str(policy(demo, WEBHOOK)), "--json")
        elapsed = time.monotonic() - started
    assert elapsed < 6, elapsed  # 2 s limit, plus start-up and the apply itself
    assert run.code == 0, run.output  # not required: a warning
    assert holder(demo) == 4
    (delivery,) = json.loads(run.stdout)["notifications"]
    assert not delivery["ok"] and delivery["attempts"] >= 1


def test_failed_delivery_leaves_the_move_done_and_audited(demo: Demo, cli: Any, env: Any) -> None:
    with receiving(503) as hook:
        env(HOOK_URL=hook.url, PROMOTE_NOTIFY_TIMEOUT="3")
        run = cli("apply", "-p", str(policy(demo, WEBHOOK)))
    assert run.code == 0, run.output
    assert "warning: notification to webhook $HOOK_URL failed: moved" in run.stderr
    assert "answered HTTP 503" in run.stderr
    assert len(hook.requests) >= 2  # retried
    assert holder(demo) == 4
    verify = cli("history", "bert-classifier", "--verify", "--json")
    assert verify.code == 0
    out = json.loads(verify.stdout)
    assert out["verification"]["ok"] and out["records"][0]["to"] == 4


def test_required_target_failing_exits_1_after_the_move(demo: Demo, cli: Any, env: Any) -> None:
    with receiving(404) as hook:
        env(HOOK_URL=hook.url)
        run = cli("apply", "-p", str(policy(demo, WEBHOOK[:-1] + ", required: true}")), "--json")
    assert run.code == 1, run.output
    assert len(hook.requests) == 1  # a 404 is not retried
    assert holder(demo) == 4  # the move stands
    result = json.loads(run.stdout)
    assert result["result"]["outcomes"][0]["status"] == "applied"
    assert result["notifications"][0]["required"] and not result["notifications"][0]["ok"]
    assert cli("history", "bert-classifier", "--verify").code == 0


def test_required_target_with_its_variable_unset_changes_nothing(demo: Demo, cli: Any, env: Any) -> None:
    env()  # HOOK_URL unset
    before = json.loads(cli("history", "bert-classifier", "--json").stdout)["records"]
    run = cli("apply", "-p", str(policy(demo, WEBHOOK[:-1] + ", required: true}")))
    assert run.code == 2, run.output
    assert "required notify target webhook $HOOK_URL" in run.stderr and "$HOOK_URL is not set" in run.stderr
    assert holder(demo) == 2
    assert json.loads(cli("history", "bert-classifier", "--json").stdout)["records"] == before


def test_optional_target_unset_is_a_warning(demo: Demo, cli: Any, env: Any) -> None:
    env()
    run = cli("apply", "-p", str(policy(demo, WEBHOOK)))
    assert run.code == 0, run.output
    assert "warning: notification to webhook $HOOK_URL failed: moved" in run.stderr
    assert holder(demo) == 4


def test_a_weak_or_malformed_secret_is_refused_before_sending(demo: Demo, cli: Any, env: Any) -> None:
    with receiving() as hook:
        env(HOOK_URL=hook.url, HOOK_SECRET="not-a-whsec-secret")
        run = cli("apply", "-p", str(policy(demo, WEBHOOK)))
    assert run.code == 0 and "is not a Standard Webhooks secret" in run.stderr
    assert "not-a-whsec-secret" not in run.output
    assert hook.requests == []


def test_redirects_are_not_followed(demo: Demo, cli: Any, env: Any) -> None:
    with receiving() as elsewhere, receiving((307, {"Location": "LOCATION"})) as hook:
        hook.script[0] = (307, {"Location": elsewhere.url})
        env(HOOK_URL=hook.url)
        run = cli("apply", "-p", str(policy(demo, WEBHOOK)))
    assert "answered HTTP 307 (redirects are not followed)" in run.stderr
    assert elsewhere.requests == []


def test_blocked_event_carries_the_failed_gate(demo: Demo, cli: Any, env: Any) -> None:
    strict = "      - {metric: val_f1, min: 0.99}"
    with receiving() as hook, receiving() as slack:
        env(HOOK_URL=hook.url, SLACK_URL=slack.url)
        run = cli("apply", "-p", str(policy(demo, WEBHOOK, SLACK[:-1] + ", on: [moved]}", gates=strict)))
    assert run.code == 3, run.output
    data = verified(hook)
    assert data["type"] == "aliasgate.blocked"
    failed = [g for g in data["data"]["gates"] if not g["passed"]]
    assert [g["gate"] for g in failed] == ["val_f1 >= 0.99"] and failed[0]["observed"] == 0.912
    assert data["data"]["audit"] is None and data["data"]["principal"]["name"]
    assert slack.requests == []  # it listens for `moved` only


def test_slack_gets_a_message_for_people(demo: Demo, cli: Any, env: Any) -> None:
    with receiving(path=SLACK_PATH) as slack:
        env(SLACK_URL=slack.url)
        run = cli("apply", "-p", str(policy(demo, SLACK)))
    assert run.code == 0, run.output
    msg = json.loads(slack.requests[0].body)
    assert msg["text"] == ":rocket: bert-classifier:production moved v2 → v4"
    assert msg["blocks"][0]["text"]["type"] == "mrkdwn"
    assert "webhook-signature" not in {k.lower() for k in slack.requests[0].headers}


def test_rollback_and_cleanup_notify(demo: Demo, cli: Any, env: Any) -> None:
    with receiving() as hook:
        env(HOOK_URL=hook.url)
        pol = policy(demo, WEBHOOK)
        assert cli("apply", "-p", str(pol)).code == 0
        run = cli("rollback", "bert-classifier", "production", "-p", str(pol), "--json")
        assert run.code == 0, run.output
        rolled = verified(hook)
        assert rolled["type"] == "aliasgate.rolled_back"
        assert (rolled["data"]["from"], rolled["data"]["to"]) == (4, 2)
        assert json.loads(run.stdout)["notifications"][0]["ok"]
        again = cli("rollback", "bert-classifier", "production", "--to", "v4")
        assert again.code == 0, again.output  # no policy: no notification
        assert len(hook.requests) == 2
        text = demo.policy("cleanup.yaml").read_text(encoding="utf-8").replace("ttl: 7d", "ttl: 1s")
        cleanup = demo.write("cleanup-notify.yaml", text + f"\nnotify:\n  - {WEBHOOK}\n")
        run = cli("cleanup", "-p", str(cleanup), "--json")
        assert run.code == 0, run.output
    events = [verified(hook, i=i) for i in range(2, len(hook.requests))]
    assert events and {e["type"] for e in events} == {"aliasgate.cleanup"}
    deleted = {e["data"]["model"]: [d["version"] for d in e["data"]["deleted"]] for e in events}
    outcomes = json.loads(run.stdout)["result"]["outcomes"]
    assert deleted == {
        m: [o["version"] for o in outcomes if o["model"] == m and o["status"] == "deleted"] for m in deleted
    }


def test_notify_test_sends_a_signed_test_event_to_each_target(demo: Demo, cli: Any, env: Any) -> None:
    with receiving() as hook, receiving(path=SLACK_PATH) as slack:
        env(HOOK_URL=hook.url, SLACK_URL=slack.url)
        pol = str(policy(demo, WEBHOOK[:-1] + ", on: [cleanup]}", SLACK))
        run = cli("notify", "--test", "-p", pol)
        assert run.code == 0, run.output
        assert verified(hook)["type"] == "aliasgate.test"
        assert "notification test" in json.loads(slack.requests[0].body)["text"]
        assert (
            "notified webhook $HOOK_URL: test" in run.stdout
            and "notified slack $SLACK_URL: test" in run.stdout
        )
        with receiving(500) as broken:
            env(HOOK_URL=broken.url, PROMOTE_NOTIFY_TIMEOUT="1")
            failed = cli("notify", "--test", "-p", pol, "--json")
    assert failed.code == 1
    assert [d["ok"] for d in json.loads(failed.stdout)["notifications"]] == [False, True]
    assert cli("notify", "--test", "-p", str(demo.policy())).code == 2  # no targets
    assert cli("notify", "-p", pol).code == 2  # nothing asked


def _everything(run: Run, base: Path) -> str:
    files = "".join(p.read_text(encoding="utf-8") for p in base.glob("gh-*"))
    stderr = "\n".join(ln for ln in run.stderr.splitlines() if not ln.startswith("::add-mask::"))
    return run.stdout + stderr + files


def test_no_url_or_secret_in_any_output(demo: Demo, cli: Any, tmp_path: Path) -> None:
    """GitHub mode, plain and --json, success and failure (a server echoing the request back):
    the URL, its secret path and the signing secret appear nowhere but in ::add-mask:: lines."""
    secret_b64 = SECRET.removeprefix("whsec_")
    forbidden = [SECRET, secret_b64, SLACK_PATH, "sLaCkToKeNcAnArY123", "T0SECRETPATH"]
    pol = policy(demo, WEBHOOK, SLACK[:-1] + ", required: true}")
    summary, outputs = tmp_path / "gh-summary", tmp_path / "gh-output"
    with receiving(200) as hook, receiving(500, path=SLACK_PATH) as slack:
        forbidden += [hook.url, slack.url]
        base = clean_env(
            HOOK_URL=hook.url,
            HOOK_SECRET=SECRET,
            SLACK_URL=slack.url,
            NO_PROXY="127.0.0.1",
            PROMOTE_NOTIFY_TIMEOUT="2",
        )
        gh = dict(base, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs))
        runs = [
            run_promote("apply", "-p", str(pol), cwd=demo.path, env=gh),
            run_promote(
                "rollback", "bert-classifier", "production", "-p", str(pol), "--json", cwd=demo.path, env=base
            ),
            run_promote("notify", "--test", "-p", str(pol), cwd=demo.path, env=gh),
            run_promote("history", "bert-classifier", "--json", cwd=demo.path, env=base),
        ]
    apply = runs[0]
    assert apply.code == 1, apply.output  # the required Slack target failed after the move
    assert holder(demo) == 2  # moved, then rolled back
    assert (
        "::error title=aliasgate%3A notification::required notification to slack $SLACK_URL failed"
        in apply.stderr
    )
    assert any(ln.startswith("::add-mask::") for ln in apply.stderr.splitlines())
    assert "exit-code" in outputs.read_text() and "\n1\n" in outputs.read_text()
    written = "".join(_everything(r, tmp_path) for r in runs)
    for value in forbidden:
        assert value not in written, value
    assert len(slack.requests) >= 2 and len(hook.requests) >= 3


def test_wandb_sends_the_same_event_shape(
    wandb_world: Any, demo: Demo, cli: Any, env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events are made from the audit records every backend writes: W&B's carry the same fields,
    its authenticated account as principal."""
    pol = policy(demo, WEBHOOK)
    with receiving() as local_hook:
        env(HOOK_URL=local_hook.url)
        assert cli("apply", "-p", str(pol)).code == 0
    wandb_world.use(monkeypatch)
    with receiving() as hook:
        env(HOOK_URL=hook.url)
        run = cli("apply", "-p", str(pol), "--registry", "wandb://ml/demo", "--json")
    assert run.code == 0, run.output
    local, remote = verified(local_hook), verified(hook)
    assert remote["type"] == local["type"] == "aliasgate.moved"
    assert set(remote["data"]) == set(local["data"])
    assert {k: remote["data"][k] for k in ("model", "alias", "from", "to", "rule")} == {
        k: local["data"][k] for k in ("model", "alias", "from", "to", "rule")
    }
    assert remote["data"]["principal"]["name"] == "ci-bot" and remote["data"]["principal"]["authenticated"]
    assert remote["data"]["registry"] == "wandb://ml/demo"
    assert [g["gate"] for g in remote["data"]["gates"]] == [g["gate"] for g in local["data"]["gates"]]
