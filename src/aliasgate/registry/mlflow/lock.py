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
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aliasgate import interrupt
from aliasgate.errors import AliasgateError, AuthError, Conflict, NotFound, RegistryError
from aliasgate.model import iso
from aliasgate.registry.http import default_timeout
from aliasgate.registry.mlflow.client import API, RestClient, as_float, int_or_none, server_time, tag_dict
from aliasgate.registry.mlflow.reads import LOCK_PREFIX, ModelState, Reads, os_user
from aliasgate.registry.mlflow.settings import Settings

GEN_TAG = "aliasgate.lock.gen"
GEN_POLL = 2.0  # seconds between a waiter's looks at the model's lock generation

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
        self.held_any = False  # a lock was held and used: this job may have written something

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
        ok = calm = False  # calm: the body ended, or failed with a registry error (not a stop)
        self.held_any = True
        try:
            yield lease, state
            ok = calm = True
        except AliasgateError:
            calm = True
            raise
        finally:
            if lease.abandoned and calm:
                self._settle_now(lease)
            with self._local_guard:
                queued = self._waiting.get(model, 0)
            if not lease.abandoned and (queued or (linger and ok)) and lease.remaining() > lease.ttl / 2:
                self._handed[model] = lease  # the next call on this model keeps the lock
            else:
                self.release(lease)

    def _settle_now(self, lease: Lease) -> None:
        """A holder that left its own records unsettled (an outcome it could not read, a head it
        could not write) settles them itself while its lease lasts, as a takeover would, so the
        next job need not sit out the lease. If that fails too, the lock is left to expire."""
        try:
            state = self.reads.model(lease.model, fresh=True, timeout=lease.timeout())
            self.settle(lease, state, [self.account()])
        except AliasgateError:
            return
        lease.abandoned = False

    def _acquire(self, model: str, gen: int) -> tuple[Lease, list[str]]:
        """Our lease, and the accounts whose stale locks we stepped over (their jobs died holding them)."""
        deadline = time.monotonic() + self.settings.lock_wait
        delay = 0.05
        recheck_at = 0.0  # when the holder's lease may have run out, on our clock
        gen_at = time.monotonic() + GEN_POLL  # when to look for a newer generation next
        holder = "unknown owner"
        passed: int | None = None  # the stale generation we stepped over, if any
        crashed: list[str] = []
        tried: dict[str, Lease] = {}  # creates whose answer was lost: one of them may have landed
        while True:
            lease = Lease(
                model, gen, lock_name(model, gen), uuid.uuid4().hex, self.settings.lock_ttl, time.monotonic()
            )
            if self._create_lock(lease, tried):
                if passed is not None:
                    self._after_takeover(lease, passed)
                return lease, crashed
            now = time.monotonic()
            if now >= recheck_at:
                info = self._lock_info(lease.name, model)
                if info is None and now < deadline:
                    continue  # released meanwhile: try again at once
                holder, remaining, account, token = info if info is not None else (holder, 1.0, None, None)
                if token is not None and token in tried:
                    return tried[token], crashed  # an earlier create of ours landed; its answer was lost
                if remaining <= 0:
                    # Stale: never delete another's lock; take the next generation instead.
                    passed, gen, recheck_at = gen, gen + 1, 0.0
                    if account:
                        crashed.append(account)
                    continue
                recheck_at = now + min(remaining, 1.0) if tried else now + remaining
            if now >= gen_at:
                gen_at = now + GEN_POLL
                newer = self._newer_generation(model, gen)
                if newer is not None:  # the holder could not free its lock (see _swept): move on
                    gen, recheck_at, tried = newer, 0.0, {}
                    continue
            if now >= deadline:
                raise Conflict(
                    f"{model}: another promotion holds the lock {lease.name!r} ({holder}); "
                    f"gave up after {self.settings.lock_wait:g} s",
                    model=model,
                )
            pause = min(delay, max(0.0, deadline - now)) * (0.5 + random.random())
            if self.held_any and interrupt.requested():
                time.sleep(pause)  # this job wrote before: the caller finishes or undoes it, then stops
            elif interrupt.pause(pause):
                raise KeyboardInterrupt  # stopped while only waiting, nothing written: stop at once
            delay = min(delay * 1.6, 1.0)

    def _newer_generation(self, model: str, gen: int) -> int | None:
        try:
            state = self.reads.model(model, fresh=True)
        except AliasgateError:
            return None  # the caller reports a missing model once it holds the lock
        tag_gen = int_or_none(state.tags.get(GEN_TAG)) or 0
        return tag_gen if tag_gen > gen else None

    def _create_lock(self, lease: Lease, tried: dict[str, Lease]) -> bool:
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
            # No answer (or a 5xx): the server may have created it. It is ours iff it carries our
            # token. If even the read-back fails, the token is kept: a later poll that finds the
            # lock held reads its token and knows it for ours.
            tried[lease.token] = lease
            try:
                info = self._lock_tags(lease.name, lease.model)
            except AliasgateError:
                return False
            return info is not None and info.get("aliasgate.lock.token") == lease.token
        return created

    def _lock_tags(self, name: str, model: str) -> dict[str, str] | None:
        found = self.client.other_model(name, model, f"read the lock {name!r}")
        return None if found is None else tag_dict(found[1].get("tags"))

    def _lock_info(self, name: str, model: str) -> tuple[str, float, str | None, str | None] | None:
        """(owner, seconds of lease left on the server's clock, account key, token), or None when it
        is gone. A read that fails counts as a lease of one more second (the poll goes on)."""
        try:
            found = self.client.other_model(name, model, f"read the lock {name!r}")
        except AliasgateError:
            return "unknown owner", 1.0, None, None
        if found is None:
            return None
        response, rm = found
        tags = tag_dict(rm.get("tags"))
        ttl = as_float(tags.get("aliasgate.lock.ttl")) or self.settings.lock_ttl
        created = (as_float(rm.get("creation_timestamp")) or 0.0) / 1000
        now = server_time(response) or time.time()
        holder = tags.get("aliasgate.lock.owner", "unknown owner")
        return (
            holder,
            created + ttl - now,
            tags.get("aliasgate.lock.account"),
            tags.get("aliasgate.lock.token"),
        )

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
        """Delete our lock, once. Deleting by name is not idempotent: by the time a resent DELETE
        arrives, another job may have created the lock anew. So when no answer (or a 5xx) comes,
        the lock is read back and deleted only if it still carries our token; else it is left to
        its lease. A 403 means MLflow took our grants on it (see :meth:`_swept`)."""
        if lease.abandoned or not lease.safe():
            return  # left for a takeover to settle, or maybe another's by now: let it expire
        status = self._delete_lock(lease)
        if status == 403:
            self._swept(lease)
        elif status is None or status >= 500:
            try:
                tags = self._lock_tags(lease.name, lease.model)
            except AliasgateError:
                return  # unreadable: it expires on its own
            mine = tags is not None and tags.get("aliasgate.lock.token") == lease.token
            if mine and lease.safe() and self._delete_lock(lease) == 403:
                self._swept(lease)

    def _delete_lock(self, lease: Lease) -> int | None:
        """One DELETE of our lock, never resent once it may have reached the server: its status,
        or None when no answer came."""
        try:
            response = self.client.transport.request(
                "DELETE", f"{API}/registered-models/delete", json={"name": lease.name},
                idempotent=False, timeout=lease.timeout(),
            )  # fmt: skip
        except AliasgateError:
            return None
        return response.status_code

    def _swept(self, lease: Lease) -> None:
        """We created the lock but may no longer delete it: MLflow's basic-auth app removes a
        deleted model's grants after the delete commits, so a lock re-created in that moment
        loses its creator's MANAGE. Waiters would sit out the lease, and the lock model stays
        until an admin deletes it. So: record the next generation on the model (an EDIT write),
        which waiters watch and move on to, and say which lock was left behind."""
        try:
            state = self.reads.model(lease.model, fresh=True, timeout=lease.timeout())
            if (int_or_none(state.tags.get(GEN_TAG)) or 0) <= lease.gen:
                self.guarded(
                    lease, "POST", "registered-models/set-tag",
                    {"name": lease.model, "key": GEN_TAG, "value": str(lease.gen + 1)},
                    need="EDIT", action="record the lock generation", model=lease.model,
                )  # fmt: skip
            self.reads.models_seen.pop(lease.model, None)
            moved = f"waiters moved on to generation {lease.gen + 1}"
        except AliasgateError:
            moved = "waiters wait for its lease to end"
        print(
            f"warning: {lease.model}: MLflow removed this account's permissions on its own lock "
            f"{lease.name!r} (the basic-auth app's clean-up after a delete raced its re-creation); "
            f"{moved}. Only an MLflow admin can delete that registered model.",
            file=sys.stderr,
        )


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
