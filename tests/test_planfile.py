"""The saved-plan format on its own: round trip, signatures, and which registries are the same."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aliasgate import planfile
from aliasgate.planconfirm import normalize_registry
from aliasgate.policy import load_text
from aliasgate.registry.local import LocalRegistry

KEY = b"0123456789abcdef0123"


def _plan(demo: Any) -> Any:
    from aliasgate import planner
    from aliasgate.model import Principal, utcnow

    policy = load_text(demo.policy().read_bytes(), str(demo.policy()))
    registry: LocalRegistry = demo.registry()
    return planner.plan(policy, registry, now=utcnow(), principal=Principal("t", False, "test"))


def test_an_unsigned_plan_round_trips_and_carries_no_policy(demo: Any) -> None:
    plan = _plan(demo)
    doc = planfile.document(plan)
    assert "signature" not in doc and "text" not in doc["policy"]
    saved = planfile.parse(json.dumps(doc).encode(), "p.json", key=None)
    assert saved.plan.id == plan.id and not saved.signed and saved.policy_text is None
    assert [m.as_dict() for m in saved.plan.moves] == [m.as_dict() for m in plan.moves]


def test_a_signed_plan_carries_its_policy_and_verifies_only_with_its_key(demo: Any) -> None:
    plan = _plan(demo)
    doc = planfile.document(plan, key=KEY)
    assert doc["policy"]["text"] == demo.policy().read_text() and doc["signature"].startswith("hmac-sha256:")
    raw = json.dumps(doc).encode()
    assert planfile.parse(raw, "p.json", key=KEY).signed
    assert not planfile.parse(raw, "p.json", key=None).signed  # readable without the key, not trusted
    with pytest.raises(planfile.Tampered, match="does not verify"):
        planfile.parse(raw, "p.json", key=b"another key of enough length")


def test_the_signature_covers_the_whole_file_in_any_key_order(demo: Any) -> None:
    doc = planfile.document(_plan(demo), key=KEY)
    reordered = dict(reversed(list(doc.items())))
    assert planfile.parse(json.dumps(reordered, indent=1).encode(), "p.json", key=KEY).signed
    doc["created_at"] = doc["created_at"].replace("Z", "+00:00")
    with pytest.raises(planfile.Tampered):
        planfile.parse(json.dumps(doc).encode(), "p.json", key=KEY)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("local:x.db", "local://x.db", True),
        ("local:x.db", "local:y.db", False),
        ("mlflow+http://h:5000", "mlflow+http://user:pw@h:5000/", True),
        ("mlflow+http://h:5000", "mlflow+https://h:5000", False),
        ("mlflow+http://h:5000", "mlflow", True),
        ("wandb://e/p", "wandb://e/q", False),
    ],
)
def test_which_registry_uris_name_the_same_registry(
    a: str, b: str, same: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://h:5000")
    assert (normalize_registry(a) == normalize_registry(b)) is same


def test_the_plan_key_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from aliasgate import secrets

    monkeypatch.setenv("PROMOTE_PLAN_KEY", "a-key-long-enough-to-use")
    assert planfile.plan_key() == b"a-key-long-enough-to-use"
    assert "a-key-long-enough-to-use" in secrets.registered()
