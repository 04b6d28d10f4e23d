"""The W&B double answers as W&B does (reference wandb.md §4, §5.2, §8.3).

These pin the rules the backend tests lean on: real GraphQL validation, HTTP basic
auth, aliases unique per collection, automatic ``latest``, version indexes never
reused, protected aliases, TTL values and policy, delete and unlink rules, the
journal and the faults. The SDK conformance test checks the same double against
the real wandb client.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from tests.servers.wandb_double import ALICE_KEY, CI_KEY, VIEWER_KEY, State, WandbDouble, demo
from tests.servers.wandb_double.state import TTL_DISABLED, GraphQLFault, PermissionDenied, gql_id
from tests.wandb_fixtures import WandbWorld

MEMBERSHIP = """
query M($entity: String!, $project: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    artifactCollectionMembership(name: $name) { versionIndex aliases { alias } artifact { id ttlDurationSeconds } }
  }
}
"""
ADD = "mutation A($input: AddAliasesInput!) { result: addAliases(input: $input) { success } }"
UPDATE = """
mutation U($input: UpdateArtifactInput!) {
  result: updateArtifact(input: $input) { artifact { id metadata ttlDurationSeconds ttlIsInherited } }
}
"""
DELETE = (
    "mutation D($input: DeleteArtifactInput!) { result: deleteArtifact(input: $input) { artifact { id } } }"
)


def post(
    world: WandbWorld, query: str, variables: dict[str, Any] | None = None, *, key: str = CI_KEY
) -> requests.Response:
    token = base64.b64encode(f"api:{key}".encode()).decode()
    return requests.post(
        f"{world.url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Basic {token}"},
        timeout=10,
    )


def data(world: WandbWorld, query: str, variables: dict[str, Any] | None = None, *, key: str = CI_KEY) -> Any:
    response = post(world, query, variables, key=key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def errors(world: WandbWorld, query: str, variables: dict[str, Any], *, key: str = CI_KEY) -> str:
    body = post(world, query, variables, key=key).json()
    assert body.get("errors"), body
    return "; ".join(e["message"] for e in body["errors"])


def alias_input(project: str, coll: str, alias: str, entity: str = "ml") -> dict[str, str]:
    return {"entityName": entity, "projectName": project, "artifactCollectionName": coll, "alias": alias}


def art_id(world: WandbWorld, coll: str, number: int, *, registry: bool = False) -> str:
    project = world.demo.registry if registry else world.demo.project
    return gql_id("Artifact", world.state.version_of(project, coll, number)[2].id)


def test_basic_auth_api_key_and_401(wandb_world: WandbWorld) -> None:
    assert data(wandb_world, "{ viewer { username entity } }") == {
        "viewer": {"username": "ci-bot", "entity": "ml"}
    }
    assert post(wandb_world, "{ viewer { username } }", key="x" * 40).status_code == 401
    no_auth = requests.post(f"{wandb_world.url}/graphql", json={"query": "{ viewer { id } }"}, timeout=10)
    assert no_auth.status_code == 401
    assert [e.status for e in wandb_world.journal.entries] == [200, 401, 401]


def test_real_graphql_validation_rejects_unknown_fields(wandb_world: WandbWorld) -> None:
    response = post(wandb_world, "{ viewer { username notAField } }")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == 'Cannot query field "notAField" on type "User".'
    # Fragments, field aliases, @include and the Run union work.
    doc = """
    query Q($id: ID!, $yes: Boolean = true) {
      a: artifact(id: $id) { ...F createdBy { __typename ... on Run { name } } }
    }
    fragment F on Artifact { versionIndex state @include(if: $yes) }
    """
    got = data(wandb_world, doc, {"id": art_id(wandb_world, "bert-classifier", 4)})
    assert got["a"] == {
        "versionIndex": 4,
        "state": "COMMITTED",
        "createdBy": {"__typename": "Run", "name": "train-bert-classifier-v4"},
    }


def test_membership_by_alias_version_and_latest(wandb_world: WandbWorld) -> None:
    def get(name: str) -> Any:
        got = data(wandb_world, MEMBERSHIP, {"entity": "ml", "project": "demo", "name": name})
        return got["project"]["artifactCollectionMembership"]

    assert get("bert-classifier:staging")["versionIndex"] == 4
    assert get("bert-classifier:v2")["aliases"] == [{"alias": "production"}]
    assert get("bert-classifier:latest")["versionIndex"] == 4
    assert get("bert-classifier")["versionIndex"] == 4
    assert get("bert-classifier:nope") is None
    none = data(wandb_world, MEMBERSHIP, {"entity": "ml", "project": "nope", "name": "x:v1"})
    assert none == {"project": None}


def test_add_aliases_reassigns_within_the_collection_and_is_idempotent(wandb_world: WandbWorld) -> None:
    state, project = wandb_world.state, wandb_world.demo.project
    variables = {
        "input": {
            "artifactID": art_id(wandb_world, "bert-classifier", 3),
            "aliases": [alias_input("demo", "bert-classifier", "production")],
        }
    }
    assert data(wandb_world, ADD, variables) == {"result": {"success": True}}
    assert data(wandb_world, ADD, variables) == {"result": {"success": True}}
    assert state.holder(project, "bert-classifier", "production") == 3
    coll = state.find_collection(project, "bert-classifier")
    assert coll is not None and sum(1 for a in coll.aliases.values() if a.alias == "production") == 1
    # The registry's collection of the same name is a different collection: untouched.
    assert state.holder(wandb_world.demo.registry, "bert-classifier", "production") == 2
    bad = {"input": {**variables["input"], "aliases": [alias_input("demo", "bert-classifier", "a:b")]}}
    assert "invalid alias" in errors(wandb_world, ADD, bad)


def test_latest_is_automatic_and_indexes_are_never_reused() -> None:
    state = State()
    d = demo(state)
    first = state.log_artifact(d.project, "m")
    second = state.log_artifact(d.project, "m")
    assert (first.version_index, second.version_index) == (0, 1)
    assert state.holder(d.project, "m", "latest") == 1
    state.delete_artifact(state.account("ci-bot"), second.id, delete_aliases=True)
    assert state.holder(d.project, "m", "latest") == 0  # back to the newest live version
    third = state.log_artifact(d.project, "m")
    assert third.version_index == 2
    assert state.holder(d.project, "m", "latest") == 2


def test_protected_aliases_need_registry_admin(wandb_world: WandbWorld) -> None:
    state, registry = wandb_world.state, wandb_world.demo.registry
    variables = {
        "input": {
            "artifactID": art_id(wandb_world, "bert-classifier", 4, registry=True),
            "aliases": [alias_input(registry.name, "bert-classifier", "production", entity="acme-org")],
        }
    }
    message = errors(wandb_world, ADD, variables, key=ALICE_KEY)
    assert "permission denied" in message and "protected alias 'production'" in message
    assert state.holder(registry, "bert-classifier", "production") == 2
    # A non-protected alias is fine for a Member; a Viewer may not touch aliases at all.
    other = {
        "input": {
            **variables["input"],
            "aliases": [alias_input(registry.name, "bert-classifier", "canary", "acme-org")],
        }
    }
    assert data(wandb_world, ADD, other, key=ALICE_KEY) == {"result": {"success": True}}
    assert "permission denied" in errors(wandb_world, ADD, other, key=VIEWER_KEY)
    data(wandb_world, ADD, variables)  # ci-bot is registry Admin
    assert state.holder(registry, "bert-classifier", "production") == 4
    # Holders of a protected alias cannot be deleted by anyone; Members cannot unlink them.
    _, _, art = state.version_of(registry, "bert-classifier", 4)
    with pytest.raises(PermissionDenied):
        state.delete_artifact(state.account("ci-bot"), art.id, delete_aliases=True)
    coll = state.find_collection(registry, "bert-classifier")
    assert coll is not None
    with pytest.raises(PermissionDenied):
        state.unlink_artifact(state.account("alice"), art.id, coll.id)


def test_update_artifact_replaces_metadata_and_ttl_values(wandb_world: WandbWorld) -> None:
    aid = art_id(wandb_world, "bert-classifier", 3)

    def update(**fields: Any) -> Any:
        return data(wandb_world, UPDATE, {"input": {"artifactID": aid, **fields}})["result"]["artifact"]

    got = update(metadata=json.dumps({"only": 1}))
    assert json.loads(got["metadata"]) == {"only": 1}  # the whole JSON string is replaced
    month = 30 * 86400  # v3 is 9 days old: a shorter TTL would expire it at once
    assert update(ttlDurationSeconds=month)["ttlDurationSeconds"] == month
    assert update()["ttlDurationSeconds"] == month  # null leaves it unchanged
    assert update(ttlDurationSeconds=-2)["ttlDurationSeconds"] == TTL_DISABLED
    inherited = update(ttlDurationSeconds=-1)
    assert inherited["ttlIsInherited"] is True and inherited["ttlDurationSeconds"] == TTL_DISABLED
    wandb_world.state.entities["ml"].default_ttl = month
    assert update()["ttlDurationSeconds"] == month
    assert "invalid ttlDurationSeconds" in errors(
        wandb_world, UPDATE, {"input": {"artifactID": aid, "ttlDurationSeconds": 0}}
    )
    assert "valid JSON" in errors(wandb_world, UPDATE, {"input": {"artifactID": aid, "metadata": "{nope"}})


def test_ttl_rules_registry_links_team_policy_and_expiry(wandb_world: WandbWorld) -> None:
    state = wandb_world.state
    # Linked into a registry: TTL switched off and cannot be set.
    registry_art = art_id(wandb_world, "bert-classifier", 4, registry=True)
    assert "linked to a registry" in errors(
        wandb_world, UPDATE, {"input": {"artifactID": registry_art, "ttlDurationSeconds": 60}}
    )
    # The team may reserve TTL to admins: a member's write is then silently ignored.
    state.entities["ml"].members_may_set_ttl = False
    aid = art_id(wandb_world, "bert-classifier", 3)
    got = data(wandb_world, UPDATE, {"input": {"artifactID": aid, "ttlDurationSeconds": 60}})
    assert got["result"]["artifact"]["ttlDurationSeconds"] == TTL_DISABLED
    state.entities["ml"].members_may_set_ttl = True
    data(wandb_world, UPDATE, {"input": {"artifactID": aid, "ttlDurationSeconds": 86400}})
    # TTL counts from createdAt (v3 is 9 days old): it has already expired at the next request.
    membership = data(
        wandb_world, MEMBERSHIP, {"entity": "ml", "project": "demo", "name": "bert-classifier:v3"}
    )
    assert membership["project"]["artifactCollectionMembership"] is None
    # The controllable clock drives expiry too.
    aid1 = art_id(wandb_world, "bert-classifier", 4)
    data(wandb_world, UPDATE, {"input": {"artifactID": aid1, "ttlDurationSeconds": 3 * 86400}})
    state.clock.advance(86400 + 1)
    gone = data(wandb_world, MEMBERSHIP, {"entity": "ml", "project": "demo", "name": "bert-classifier:v4"})
    assert gone["project"]["artifactCollectionMembership"] is None


def test_delete_rules(wandb_world: WandbWorld) -> None:
    state, project = wandb_world.state, wandb_world.demo.project
    held = art_id(wandb_world, "bert-classifier", 2)
    assert "has aliases (production)" in errors(wandb_world, DELETE, {"input": {"artifactID": held}})
    free = art_id(wandb_world, "bert-classifier", 1)
    data(wandb_world, DELETE, {"input": {"artifactID": free}})
    assert [
        m.version_index for m in state.memberships_of(state.find_collection(project, "bert-classifier"))
    ] == [2, 3, 4]  # type: ignore[arg-type]
    assert "already deleted" in errors(wandb_world, DELETE, {"input": {"artifactID": free}})
    data(wandb_world, DELETE, {"input": {"artifactID": held, "deleteAliases": True}})
    assert state.holder(project, "bert-classifier", "production") is None
    with pytest.raises(PermissionDenied):
        state.delete_artifact(
            state.account("vera"), state.version_of(project, "bert-classifier", 3)[2].id, True
        )


def test_unlink_keeps_the_source_and_link_indexes_continue(wandb_world: WandbWorld) -> None:
    state, registry = wandb_world.state, wandb_world.demo.registry
    coll, _, art = state.version_of(registry, "bert-classifier", 1)
    state.unlink_artifact(state.account("alice"), art.id, coll.id)
    assert art.state == "COMMITTED"
    with pytest.raises(KeyError):
        state.version_of(registry, "bert-classifier", 1)
    again = state.link_artifact(
        state.account("alice"),
        {
            "artifactID": gql_id("Artifact", art.id),
            "entityName": "acme-org",
            "projectName": registry.name,
            "artifactPortfolioName": "bert-classifier",
        },
    )
    assert again.version_index == 5  # a new link index; v1 is not reused
    assert state.holder(registry, "bert-classifier", "latest") == 5
    with pytest.raises(GraphQLFault):
        state.unlink_artifact(
            state.account("alice"),
            art.id,
            state.find_collection(wandb_world.demo.project, "bert-classifier").id,
        )  # type: ignore[union-attr]


def test_listing_pages_with_opaque_cursors(wandb_world: WandbWorld) -> None:
    doc = """
    query L($cursor: String) {
      project(entityName: "ml", name: "demo") { artifactType(name: "model") { artifactCollection(name: "bert-classifier") {
        artifacts(after: $cursor, first: 3, filters: "{\\"state\\":\\"COMMITTED\\"}") {
          totalCount pageInfo { endCursor hasNextPage } edges { version node { versionIndex } }
        } } } }
    }
    """
    first = data(wandb_world, doc)["project"]["artifactType"]["artifactCollection"]["artifacts"]
    assert first["totalCount"] == 4 and first["pageInfo"]["hasNextPage"]
    cursor = first["pageInfo"]["endCursor"]
    rest = data(wandb_world, doc, {"cursor": cursor})["project"]["artifactType"]["artifactCollection"][
        "artifacts"
    ]
    versions = [e["version"] for e in first["edges"] + rest["edges"]]
    assert versions == ["v4", "v3", "v2", "v1"] and not rest["pageInfo"]["hasNextPage"]


def test_journal_and_faults(wandb_world: WandbWorld) -> None:
    double: WandbDouble = wandb_world.double
    double.fault("viewer", "429", retry_after=0)
    assert post(wandb_world, "query V { viewer { id } }").status_code == 429
    double.fault("V", "500")
    assert post(wandb_world, "query V { viewer { id } }").status_code == 500
    aid = art_id(wandb_world, "bert-classifier", 3)
    double.fault("addAliases", "500-after")
    variables = {"input": {"artifactID": aid, "aliases": [alias_input("demo", "bert-classifier", "canary")]}}
    assert post(wandb_world, ADD, variables).status_code == 500
    assert wandb_world.state.holder(wandb_world.demo.project, "bert-classifier", "canary") == 3  # it ran
    moved: list[int] = []
    double.on("A", lambda s: moved.append(1), when="before")
    data(wandb_world, ADD, variables)
    assert moved == [1]
    journal = wandb_world.journal
    assert [e.fault for e in journal.entries] == ["429", "500", "500-after", None]
    assert [e.operation for e in journal.mutations()] == ["mutation", "mutation"]
    assert journal.mutations()[0].variables == variables
