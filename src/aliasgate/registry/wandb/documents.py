"""The GraphQL documents the W&B backend sends, and nothing else.

Each document selects only types, fields and arguments that the wandb SDK 0.31
itself selects on the same types (reference wandb.md §3: ``Viewer``,
``ServerFeaturesQuery``, ``FetchOrgInfoFromEntity``, ``FetchOrganization``,
``ArtifactMembershipByName``, ``ArtifactCreatedBy``, ``Run``,
``RunInputArtifacts``, ``FetchLinkedArtifacts``, ``ProjectArtifacts``,
``ProjectArtifactCollections``, ``ArtifactMembershipFiles``,
``ArtifactCollectionAliases``, ``IsProjectReadOnly`` and the mutations), so any
server the SDK works with accepts them. Several reads are folded into one
document with field aliases, which is plain GraphQL; there is no introspection.
"""

from __future__ import annotations

COMMITTED = '{"state":"COMMITTED"}'

_PROJECT = "project { name entity { name } }"

# Everything a Version needs: metadata, the producing run's summary metrics and inputs.
ARTIFACT_FRAGMENT = f"""
fragment AliasgateArtifact on Artifact {{
  id
  versionIndex
  state
  createdAt
  updatedAt
  description
  metadata
  ttlDurationSeconds
  ttlIsInherited
  artifactType {{ name }}
  artifactSequence {{ name {_PROJECT} }}
  aliases {{ alias artifactCollection {{ __typename name {_PROJECT} }} }}
  createdBy {{
    __typename
    ... on Run {{
      name
      commit
      summaryMetrics
      user {{ username }}
      {_PROJECT}
      inputArtifacts(first: 100) {{
        totalCount
        edges {{
          node {{
            versionIndex
            artifactSequence {{ name {_PROJECT} }}
            artifactMemberships {{
              edges {{ node {{ versionIndex artifactCollection {{ name {_PROJECT} }} }} }}
            }}
          }}
        }}
      }}
    }}
  }}
}}
"""

MEMBERSHIP_FRAGMENT = """
fragment AliasgateMembership on ArtifactCollectionMembership {
  id
  versionIndex
  createdAt
  aliases { alias }
  artifact { ...AliasgateArtifact }
}
"""

# What a write needs to know about a version: where it lives, its metadata, who may write it.
TARGET_FRAGMENT = f"""
fragment AliasgateTarget on ArtifactCollectionMembership {{
  id
  versionIndex
  aliases {{ alias }}
  artifact {{
    id
    state
    metadata
    artifactSequence {{ name project {{ name readOnly entity {{ name }} }} }}
    aliases {{ alias artifactCollection {{ __typename name {_PROJECT} }} }}
    artifactMemberships {{ edges {{ node {{ versionIndex artifactCollection {{ __typename name {_PROJECT} }} }} }} }}
  }}
}}
"""

COLLECTION_FIELDS = "__typename id name description"

_VIEWER = "viewer { id username entity teams { edges { node { name } } } }"
_FEATURES = "serverInfo { features { name isEnabled } }"
# A team entity's organization, or a personal entity's organizations (as the SDK resolves them).
_ORGS = "name orgEntity { name }"
_ORG_BY_ENTITY = f"byEntity: entity(name: $entity) {{ name organization {{ {_ORGS} }} user {{ organizations {{ {_ORGS} }} }} }}"
_ORG_BY_NAME = f"byName: organization(name: $entity) {{ {_ORGS} }}"
# The project as W&B names it (it resolves names case-insensitively and may answer with others).
_NAMES = "here: project(name: $project, entityName: $entity) { name entity { name } }"


def bootstrap(*, features: bool, org_of: bool, names: bool = False) -> str:
    """Who we are, what the server supports, (for a registry) the organization and (when the
    entity is known) the project's own names, in one request."""
    params = [p for p, on in (("$entity: String!", org_of or names), ("$project: String!", names)) if on]
    parts = [_VIEWER]
    if features:
        parts.append(_FEATURES)
    if org_of:
        parts += [_ORG_BY_ENTITY, _ORG_BY_NAME]
    if names:
        parts.append(_NAMES)
    signature = f"({', '.join(params)})" if params else ""
    return f"query AliasgateBootstrap{signature} {{ {' '.join(parts)} }}"


ORG_OF_ENTITY = f"query AliasgateOrganization($entity: String!) {{ {_ORG_BY_ENTITY} {_ORG_BY_NAME} }}"

PROJECT_NAMES = f"query AliasgateProject($entity: String!, $project: String!) {{ {_NAMES} }}"


def memberships(count: int, *, target: bool = False) -> str:
    """The collection (with its description, where the audit head lives) and ``count``
    memberships by name (``coll:alias``, ``coll:vN``, ``coll:latest``), in one request."""
    names = "".join(f", $n{i}: String!" for i in range(count))
    fragment = "AliasgateTarget" if target else "AliasgateMembership"
    fields = "\n    ".join(
        f"m{i}: artifactCollectionMembership(name: $n{i}) {{ ...{fragment} }}" for i in range(count)
    )
    op = "AliasgateTargets" if target else "AliasgateMemberships"
    doc = f"""
query {op}($entity: String!, $project: String!, $collection: String!{names}) {{
  project(name: $project, entityName: $entity) {{
    artifactCollection(name: $collection) {{ {COLLECTION_FIELDS} }}
    {fields}
  }}
}}
"""
    return doc + (TARGET_FRAGMENT if target else MEMBERSHIP_FRAGMENT + ARTIFACT_FRAGMENT)


# Alias names of a collection plus its newest versions with their aliases: usually enough to
# know every holder in one request (the rest are fetched by name).
ALIASES = f"""
query AliasgateAliases($entity: String!, $project: String!, $collection: String!, $first: Int!, $filters: JSONString) {{
  project(name: $project, entityName: $entity) {{
    artifactCollection(name: $collection) {{
      {COLLECTION_FIELDS}
      aliases(first: 1000) {{ pageInfo {{ endCursor hasNextPage }} edges {{ node {{ alias }} }} }}
      artifacts(first: $first, order: "-createdAt", filters: $filters) {{
        edges {{ version node {{ ...AliasgateArtifact }} }}
      }}
    }}
  }}
}}
{ARTIFACT_FRAGMENT}
"""

MORE_ALIASES = """
query AliasgateMoreAliases($id: ID!, $cursor: String) {
  artifactCollection(id: $id) {
    __typename
    aliases(after: $cursor, first: 1000) { pageInfo { endCursor hasNextPage } edges { node { alias } } }
  }
}
"""


def _artifacts_page(operation: str, fields: str, node: str) -> str:
    """One page of a collection's versions (with the collection, whose description is the head)."""
    return f"""
query {operation}($entity: String!, $project: String!, $collection: String!, $cursor: String, $first: Int!, $filters: JSONString) {{
  project(name: $project, entityName: $entity) {{
    artifactCollection(name: $collection) {{
      {COLLECTION_FIELDS}
      artifacts(after: $cursor, first: $first, filters: $filters) {{
        {fields}pageInfo {{ endCursor hasNextPage }}
        edges {{ version node {{ {node} }} }}
      }}
    }}
  }}
}}
"""


VERSIONS = _artifacts_page("AliasgateVersions", "totalCount ", "...AliasgateArtifact") + ARTIFACT_FRAGMENT

# The audit trail: each live version's metadata, and the collection description (the head).
AUDIT = _artifacts_page("AliasgateAudit", "", "id metadata")

# Carriers for the records of a version about to be deleted: the newest live versions.
NEWEST = f"""
query AliasgateNewest($entity: String!, $project: String!, $collection: String!, $first: Int!, $filters: JSONString) {{
  project(name: $project, entityName: $entity) {{
    artifactCollection(name: $collection) {{
      {COLLECTION_FIELDS}
      artifacts(first: $first, order: "-createdAt", filters: $filters) {{
        edges {{ version node {{ id metadata }} }}
      }}
    }}
  }}
}}
"""

MODELS = """
query AliasgateModels($entity: String!, $project: String!, $cursor: String, $first: Int!) {
  project(name: $project, entityName: $entity) {
    artifactCollections(after: $cursor, first: $first) {
      pageInfo { endCursor hasNextPage }
      edges { node { __typename name } }
    }
  }
}
"""

ADD_ALIASES = """
mutation AliasgateAddAlias($input: AddAliasesInput!) {
  result: addAliases(input: $input) { success }
}
"""

DELETE_ALIASES = """
mutation AliasgateDeleteAlias($input: DeleteAliasesInput!) {
  result: deleteAliases(input: $input) { success }
}
"""

_RECORD_ARTIFACT = f"""
  record: updateArtifact(input: $artifact) {{
    artifact {{ id metadata aliases {{ alias artifactCollection {{ __typename name {_PROJECT} }} }} }}
  }}"""


def record(collection_typename: str | None) -> str:
    """Store an audit record in a version's metadata and, in the same request, the chain head in
    the collection's description. ``None``: metadata only (moving records before a delete)."""
    if collection_typename is None:
        return f"mutation AliasgateRelocate($artifact: UpdateArtifactInput!) {{{_RECORD_ARTIFACT}\n}}"
    kind = "Portfolio" if collection_typename == "ArtifactPortfolio" else "Sequence"
    return f"""
mutation AliasgateRecord($artifact: UpdateArtifactInput!, $collection: UpdateArtifact{kind}Input!) {{{_RECORD_ARTIFACT}
  head: updateArtifact{kind}(input: $collection) {{ artifactCollection {{ {COLLECTION_FIELDS} }} }}
}}
"""


def head_only(collection_typename: str) -> str:
    kind = "Portfolio" if collection_typename == "ArtifactPortfolio" else "Sequence"
    return f"""
mutation AliasgateHead($collection: UpdateArtifact{kind}Input!) {{
  head: updateArtifact{kind}(input: $collection) {{ artifactCollection {{ {COLLECTION_FIELDS} }} }}
}}
"""


DELETE_ARTIFACT = """
mutation AliasgateDeleteArtifact($input: DeleteArtifactInput!) {
  result: deleteArtifact(input: $input) { artifact { id } }
}
"""

UNLINK_ARTIFACT = """
mutation AliasgateUnlinkArtifact($input: UnlinkArtifactInput!) {
  result: unlinkArtifact(input: $input) { success }
}
"""


# A version's TTL, its type, and where else it is linked (W&B allows no TTL on a registry link).
TTL_FRAGMENT = f"""
fragment AliasgateTtl on ArtifactCollectionMembership {{
  versionIndex
  artifact {{
    id
    state
    ttlDurationSeconds
    ttlIsInherited
    artifactType {{ name }}
    artifactMemberships {{ edges {{ node {{ artifactCollection {{ __typename name {_PROJECT} }} }} }} }}
  }}
}}
"""


def ttl_states(count: int) -> str:
    """The TTL of ``count`` versions by name (``coll:vN``), in one request."""
    names = "".join(f", $n{i}: String!" for i in range(count))
    fields = "\n    ".join(
        f"m{i}: artifactCollectionMembership(name: $n{i}) {{ ...AliasgateTtl }}" for i in range(count)
    )
    return f"""
query AliasgateTtl($entity: String!, $project: String!, $collection: String!{names}) {{
  project(name: $project, entityName: $entity) {{
    artifactCollection(name: $collection) {{ __typename id name }}
    {fields}
  }}
}}
{TTL_FRAGMENT}"""


# `updateArtifact` with `ttlDurationSeconds` only: metadata, description and tags stay as they are.
SET_TTL = """
mutation AliasgateSetTtl($input: UpdateArtifactInput!) {
  result: updateArtifact(input: $input) { artifact { id ttlDurationSeconds ttlIsInherited } }
}
"""


# A version and every collection it is a member of (with its number there): where it was linked.
PUBLISHED = f"""
query AliasgatePublished($entity: String!, $project: String!, $name: String!) {{
  project(name: $project, entityName: $entity) {{
    artifactCollectionMembership(name: $name) {{
      versionIndex
      artifact {{
        id
        state
        digest
        artifactMemberships {{ edges {{ node {{ versionIndex artifactCollection {{ __typename name {_PROJECT} }} }} }} }}
      }}
    }}
  }}
}}
"""

# A field subset of the SDK's LINK_ARTIFACT_GQL (wandb/sdk/artifacts/_generated/operations.py),
# same input: `Artifact.link()` sends this to link into a Registry collection
# or a legacy portfolio. The membership's number in the destination is `versionIndex`.
LINK_ARTIFACT = """
mutation AliasgateLinkArtifact($input: LinkArtifactInput!) {
  result: linkArtifact(input: $input) { versionIndex }
}
"""


def all_documents() -> dict[str, str]:
    """Every document this module can produce (tests validate each against the W&B schema)."""
    docs = {
        "bootstrap": bootstrap(features=True, org_of=True, names=True),
        "bootstrap-names": bootstrap(features=True, org_of=False, names=True),
        "project-names": PROJECT_NAMES,
        "bootstrap-plain": bootstrap(features=False, org_of=False),
        "organization": ORG_OF_ENTITY,
        "memberships": memberships(3),
        "targets": memberships(2, target=True),
        "aliases": ALIASES,
        "more-aliases": MORE_ALIASES,
        "versions": VERSIONS,
        "audit": AUDIT,
        "newest": NEWEST,
        "models": MODELS,
        "add-aliases": ADD_ALIASES,
        "delete-aliases": DELETE_ALIASES,
        "record-portfolio": record("ArtifactPortfolio"),
        "record-sequence": record("ArtifactSequence"),
        "relocate": record(None),
        "head-portfolio": head_only("ArtifactPortfolio"),
        "head-sequence": head_only("ArtifactSequence"),
        "delete-artifact": DELETE_ARTIFACT,
        "unlink-artifact": UNLINK_ARTIFACT,
        "ttl-states": ttl_states(2),
        "set-ttl": SET_TTL,
        "published": PUBLISHED,
        "link-artifact": LINK_ARTIFACT,
    }
    return docs
