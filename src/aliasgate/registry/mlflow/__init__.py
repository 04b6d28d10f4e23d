"""MLflow Model Registry over its REST API (``requests`` only; mlflow is never imported).

URIs: ``mlflow+http://HOST:PORT[/PREFIX]``, ``mlflow+https://...``, or ``mlflow`` to take
``MLFLOW_TRACKING_URI``. Credentials come from the environment like MLflow's own client:
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic), else ``MLFLOW_TRACKING_TOKEN``
(bearer, for servers behind a proxy), else ``~/.mlflow/credentials``; TLS from
``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_TRACKING_SERVER_CERT_PATH`` and
``MLFLOW_TRACKING_CLIENT_CERT_PATH``. Every secret is registered for redaction.

The package, one concept a module:

- ``settings``: the URI, credentials and TLS, lock lease settings;
- ``client``: the REST client, the status -> error map, guarded writes under a lease;
- ``reads``: the current user, models, aliases, versions and metrics;
- ``lock``: the model lock (create, wait, take over a stale one, release);
- ``records`` and ``audit_store``: audit records in segments, the head tag, write-ahead and settling;
- ``deletes``: deleting one version, or several in a batch;
- ``backend``: :class:`MlflowRegistry`, composing the above, and moving aliases.

How a move is guarded (MLflow has no compare-and-swap)
    1. lock: create the registered model ``aliasgate-lock.<model>.<gen>``. Creation is atomic:
       a second creator gets ``RESOURCE_ALREADY_EXISTS`` and waits. The lock carries its owner,
       a token and a lease (``PROMOTE_MLFLOW_LOCK_TTL``, default 60 s).
    2. re-read the model under the lock (one ``registered-models/get``: aliases, audit head);
       the alias must still be on the expected version, else :class:`Conflict`, nothing written.
    3. write the sealed audit record (write-ahead) into an audit segment: a registered model
       ``aliasgate-audit.<model>.<account>.<page>`` of at most 100 records, because MLflow reads
       every tag of a model it touches and records on the model would slow every request on it,
    4. move or remove the alias (the 400 ``UNIQUE constraint failed`` of a concurrent first
       creation is retried),
    5. write the chain head ``aliasgate.audit.head`` (the commit point), 6. delete the lock.
    Six requests per move. A record whose head was never written (a crash between 3 and 5) is
    settled by whoever takes the dead job's lock over: kept if the alias is where it says, else
    left off the chain (the head names the record that belongs to each seq).

    Cleanup deletes in batches (``delete_versions``, up to BATCH_SIZE versions of one model):
    under the lock, one re-read, every record sealed in order and written ahead in one new
    segment, then one version after another (re-read its aliases, delete it), stopping at the
    first that does not go, then one head write at the last deletion that happened. In order,
    so the deletions that happened are always a prefix of the records: a batch cut short or
    killed is settled by moving the head, never by re-sealing (the settler finds the segment by
    its name, ``.b<head+1>-``). A holder that cannot commit leaves its lock to expire, so the
    next holder settles what it did.

    Stale locks: a lock whose lease ran out (judged on the server's clock: its
    ``creation_timestamp`` against the ``Date`` of the answer) is not deleted in place; the next
    job takes ``<gen+1>``, records the generation in the model tag ``aliasgate.lock.gen``, and
    only then removes the stale lock (if its account may). A holder sends no write once its
    lease is within one request timeout of its end, and then leaves its lock to expire rather
    than delete what may be another's.

Guaranteed, between aliasgate processes sharing a server: one move per model at a time; every
move starts from the holder the previous one left (or fails with exit 4, changing nothing);
every move has its audit record, and an alias is never left on nothing. Not guaranteed: writes
by clients that bypass aliasgate (MlflowClient, the UI) take no lock and can still race; a
holder stalled longer than its lease (a paused VM) can be overtaken; the server's clock must
not jump. See docs/backends/mlflow.md.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from aliasgate.registry.mlflow.backend import MlflowRegistry
from aliasgate.registry.mlflow.lock import GEN_TAG, lock_name
from aliasgate.registry.mlflow.records import AUDIT_PREFIX, HEAD_TAG, TAG_LIMIT
from aliasgate.registry.mlflow.settings import Credentials, Settings, base_url

__all__ = [
    "AUDIT_PREFIX",
    "GEN_TAG",
    "HEAD_TAG",
    "TAG_LIMIT",
    "Credentials",
    "MlflowRegistry",
    "Settings",
    "base_url",
    "lock_name",
    "open",
]


def open(uri: str, options: Mapping[str, Any]) -> MlflowRegistry:
    base, userinfo = base_url(uri)
    creds = Credentials.from_env(userinfo)
    settings = Settings.from_env(base)
    if settings.verify is False and base.startswith("https://"):
        print(
            f"warning: MLFLOW_TRACKING_INSECURE_TLS is set: the TLS certificate of {base} is not verified",
            file=sys.stderr,
        )
    return MlflowRegistry(base, creds, settings=settings, session=options.get("session"))
