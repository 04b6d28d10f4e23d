"""The model lock: a registered model ``aliasgate-lock.<model>.<gen>`` that one job at a time creates.

Creation is atomic: a second creator gets ``RESOURCE_ALREADY_EXISTS`` and waits. The lock carries
its owner, a token and a lease (``PROMOTE_MLFLOW_LOCK_TTL``). A lock whose lease ran out (judged
on the server's clock) is never deleted in place: the next job takes ``<gen+1>``, records the
generation in the model tag ``aliasgate.lock.gen``, and only then removes the stale lock.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aliasgate.errors import AliasgateError, AuthError, Conflict, NotFound, RegistryError
from aliasgate.model import iso
from aliasgate.registry.http import default_timeout
from aliasgate.registry.mlflow.client import RestClient, as_float, int_or_none, server_time, tag_dict
from aliasgate.registry.mlflow.reads import LOCK_PREFIX, ModelState, Reads, os_user
from aliasgate.registry.mlflow.settings import Settings

GEN_TAG = "aliasgate.lock.gen"

#: Called under a newly taken lock with the accounts whose stale locks it stepped over.
Settler = Callable[["Lease", ModelState, Sequence[str]], ModelState]


@dataclass
class Lease:
    model: str
    gen: int
    name: str
    token: str
    ttl: float
    started: float  # local monotonic clock, read before the create request was sent
    abandoned: bool = False  # left to expire: its holder could not commit, the next one settles

    def remaining(self) -> float:
        return self.ttl - (time.monotonic() - self.started)

    def timeout(self) -> tuple[float, float]:
        """A (connect, read) timeout that ends well inside the lease; an error when none is left."""
        connect, read = default_timeout()
        read = min(read, (self.remaining() - 1.0) / 2)
        if read < 0.25:
            raise RegistryError(
                f"the lock on {self.model} ran out before the move finished (lease {self.ttl:g} s); "
                "nothing more was sent",
                model=self.model,
                hint="raise PROMOTE_MLFLOW_LOCK_TTL if the MLflow server is this slow",
            )
        return (min(connect, read), read)

    def safe(self) -> bool:
        return (self.remaining() - 1.0) / 2 >= 0.25


class Locks:
    """The server lock per model, and the queue of this process's threads in front of it."""

    def __init__(
        self,
        client: RestClient,
        reads: Reads,
        settings: Settings,
        account: Callable[[], str],
        settle: Settler,
    ) -> None:
        self.client = client
        self.reads = reads
        self.settings = settings
        self.account = account
        self.settle = settle
        # Threads of one process (parallel cleanup) queue here instead of polling the server's lock.
        self._local_locks: dict[str, threading.Lock] = {}
        self._local_guard = threading.Lock()
        self._waiting: dict[str, int] = {}  # threads queued per model
        self._handed: dict[str, Lease] = {}  # a server lease passed on to the next queued thread

    def close(self) -> None:
        for lease in list(self._handed.values()):
            self.release(lease)
        self._handed.clear()

    def guarded(self, lease: Lease, method: str, endpoint: str, body: Mapping[str, Any], **how: Any) -> None:
        self.client.guarded(lease.timeout, method, endpoint, body, **how)

    @contextmanager
    def locked(self, model: str, *, linger: bool = False) -> Iterator[tuple[Lease, ModelState]]:
        """Hold the model's lock for the body, with the model re-read under it and settled.

        ``linger`` keeps the server lock after the body for the next call on the model (a
        cleanup deletes one version after another), until ``close()`` or half its lease is used.
        """
        with self._local_guard:
            local = self._local_locks.setdefault(model, threading.Lock())
            self._waiting[model] = self._waiting.get(model, 0) + 1
        with local:
            with self._local_guard:
                self._waiting[model] -= 1
            with self._server_lock(model, linger) as held:
                yield held

    @contextmanager
    def _server_lock(self, model: str, linger: bool) -> Iterator[tuple[Lease, ModelState]]:
        known = self.reads.models_seen.get(model)
        gen = (int_or_none(known.tags.get(GEN_TAG)) if known else None) or 0
        while True:
            handed = self._handed.pop(model, None)
            if handed is not None and handed.remaining() > handed.ttl / 2:
                lease, crashed = handed, list[str]()  # the previous thread's lease: no create, no delete
            else:
                if handed is not None:
                    self.release(handed)
                lease, crashed = self._acquire(model, gen)
            try:
                state = self.reads.model(model, fresh=True)
                tag_gen = int_or_none(state.tags.get(GEN_TAG)) or 0
                if tag_gen > lease.gen:
                    # Someone took over a stale lock past ours: join the newest generation.
                    self.release(lease)
                    gen = tag_gen
                    continue
                if crashed:
                    state = self.settle(lease, state, crashed)
            except BaseException:
                self.release(lease)
                raise
            break
        ok = False
        try:
            yield lease, state
            ok = True
        finally:
            with self._local_guard:
                queued = self._waiting.get(model, 0)
            if not lease.abandoned and (queued or (linger and ok)) and lease.remaining() > lease.ttl / 2:
                self._handed[model] = lease  # the next call on this model keeps the lock
            else:
                self.release(lease)

    def _acquire(self, model: str, gen: int) -> tuple[Lease, list[str]]:
        """Our lease, and the accounts whose stale locks we stepped over (their jobs died holding them)."""
        deadline = time.monotonic() + self.settings.lock_wait
        delay = 0.05
        recheck_at = 0.0  # when the holder's lease may have run out, on our clock
        holder = "unknown owner"
        passed: int | None = None  # the stale generation we stepped over, if any
        crashed: list[str] = []
        while True:
            lease = Lease(
                model, gen, lock_name(model, gen), uuid.uuid4().hex, self.settings.lock_ttl, time.monotonic()
            )
            if self._create_lock(lease):
                if passed is not None:
                    self._after_takeover(lease, passed)
                return lease, crashed
            now = time.monotonic()
            if now >= recheck_at:
                info = self._lock_info(lease.name, model)
                if info is None and now < deadline:
                    continue  # released meanwhile: try again at once
                holder, remaining, account = info if info is not None else (holder, 1.0, None)
                if remaining <= 0:
                    # Stale: never delete another's lock; take the next generation instead.
                    passed, gen, recheck_at = gen, gen + 1, 0.0
                    if account:
                        crashed.append(account)
                    continue
                recheck_at = now + remaining
            if now >= deadline:
                raise Conflict(
                    f"{model}: another promotion holds the lock {lease.name!r} ({holder}); "
                    f"gave up after {self.settings.lock_wait:g} s",
                    model=model,
                )
            time.sleep(min(delay, max(0.0, deadline - now)) * (0.5 + random.random()))
            delay = min(delay * 1.6, 1.0)

    def _create_lock(self, lease: Lease) -> bool:
        tags = {
            "aliasgate.lock.model": lease.model,
            "aliasgate.lock.owner": owner(self.client.credentials.username),
            "aliasgate.lock.account": self.account(),
            "aliasgate.lock.token": lease.token,
            "aliasgate.lock.ttl": f"{lease.ttl:g}",
            "aliasgate.lock.since": iso(datetime.now(timezone.utc)),
        }
        body = {
            "name": lease.name,
            "description": f"aliasgate lock for {lease.model!r}, held while one promotion moves an alias. "
            "Its holder deletes it; one left by a crashed job expires after its ttl and is skipped.",
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        created = self.client.create_beside(
            body, timeout=lease.timeout(), model=lease.model, what=f"the lock {lease.name!r}",
            why="aliasgate locks a model by creating a registered model next to it",
        )  # fmt: skip
        if created is None:
            # No answer: the server may have created it. It is ours iff it carries our token.
            info = self._lock_tags(lease.name, lease.model)
            return info is not None and info.get("aliasgate.lock.token") == lease.token
        return created

    def _lock_tags(self, name: str, model: str) -> dict[str, str] | None:
        found = self.client.other_model(name, model, f"read the lock {name!r}")
        return None if found is None else tag_dict(found[1].get("tags"))

    def _lock_info(self, name: str, model: str) -> tuple[str, float, str | None] | None:
        """(owner, seconds of lease left on the server's clock, account key), or None when it is gone."""
        found = self.client.other_model(name, model, f"read the lock {name!r}")
        if found is None:
            return None
        response, rm = found
        tags = tag_dict(rm.get("tags"))
        ttl = as_float(tags.get("aliasgate.lock.ttl")) or self.settings.lock_ttl
        created = (as_float(rm.get("creation_timestamp")) or 0.0) / 1000
        now = server_time(response) or time.time()
        holder = tags.get("aliasgate.lock.owner", "unknown owner")
        return holder, created + ttl - now, tags.get("aliasgate.lock.account")

    def _after_takeover(self, lease: Lease, passed: int) -> None:
        """Record our generation on the model first, then remove the stale lock we passed if we may.

        The order matters: a job that still aims at the old generation and creates it after
        the removal reads the new generation under its lock and steps up (see ``_locked``).
        """
        try:
            self.guarded(
                lease, "POST", "registered-models/set-tag",
                {"name": lease.model, "key": GEN_TAG, "value": str(lease.gen)},
                need="EDIT", action="record the lock generation", model=lease.model,
            )  # fmt: skip
        except NotFound:
            return  # no such model: the caller's re-read reports it
        self.reads.models_seen.pop(lease.model, None)
        stale = lock_name(lease.model, passed)
        with suppress(AuthError, NotFound):  # another account's stale lock stays, skipped by generation
            self.client.call(
                "DELETE", "registered-models/delete", body={"name": stale}, need="MANAGE",
                action=f"delete the stale lock {stale!r}", model=lease.model, idempotent=True,
                timeout=lease.timeout(),
            )  # fmt: skip

    def release(self, lease: Lease) -> None:
        if lease.abandoned or not lease.safe():
            return  # left for a takeover to settle, or maybe another's by now: let it expire
        with suppress(AliasgateError):  # gone already, or it expires on its own; the move is settled
            self.client.call(
                "DELETE", "registered-models/delete", body={"name": lease.name}, need="MANAGE",
                action=f"release the lock {lease.name!r}", model=lease.model, idempotent=True,
                timeout=lease.timeout(),
            )  # fmt: skip


def lock_name(model: str, gen: int) -> str:
    name = f"{LOCK_PREFIX}{model}.{gen}"
    if len(name) <= 256:
        return name
    return f"{LOCK_PREFIX}{hashlib.sha256(model.encode()).hexdigest()[:40]}.{gen}"


def owner(username: str | None) -> str:
    who = username or os.environ.get("PROMOTE_PRINCIPAL") or os_user()
    run = os.environ.get("GITHUB_RUN_ID")
    where = f" (GitHub run {run})" if run else ""
    return f"{who}@{socket.gethostname()} pid {os.getpid()}{where}"
