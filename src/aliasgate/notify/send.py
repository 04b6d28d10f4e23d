"""Delivery: sign (Standard Webhooks), post, retry with backoff, all within one time limit.

Targets are served in parallel (one thread each), a target's events in order. Each
attempt is re-signed with its own ``webhook-timestamp`` and keeps the event's
``webhook-id``, so a receiver that got an earlier attempt (its answer lost) can tell it
is the same message. Retried: no connection, a reset, no answer, 408, 425, 429 and 5xx;
``Retry-After`` (seconds or an HTTP date) is honoured when it fits in the time left.
Not retried: any other answer, redirects included (never followed: the signed body goes
only where the policy's variable says). A server's answer body is never read or shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from aliasgate import __version__
from aliasgate.notify import Delivery, Event
from aliasgate.notify.targets import Endpoint

DEFAULT_TIME_LIMIT = 30.0  # seconds for every delivery of one command together
TIME_LIMIT_ENV = "PROMOTE_NOTIFY_TIMEOUT"
MAX_ATTEMPTS = 5
FIRST_BACKOFF = 0.5  # seconds; doubles after each attempt
MAX_BACKOFF = 8.0
ATTEMPT_TIMEOUT = 10.0  # connect and answer, per attempt (never past the time limit)
RETRY_STATUS = frozenset({408, 425, 429})

Work = Sequence[tuple[Endpoint, Sequence[Event]]]


def time_limit(env: dict[str, str] | None = None) -> float:
    """The total time delivery may take: ``PROMOTE_NOTIFY_TIMEOUT`` seconds (default 30)."""
    raw = (os.environ if env is None else env).get(TIME_LIMIT_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIME_LIMIT
    return value if 0 < value <= 3600 else DEFAULT_TIME_LIMIT


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` (Standard Webhooks, symmetric)."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def deliver(work: Work, *, limit: float | None = None) -> list[Delivery]:
    """Every event to its target; returns by the time limit even if a receiver never answers."""
    seconds = time_limit() if limit is None else limit
    deadline = time.monotonic() + seconds
    done: list[list[Delivery]] = [[] for _ in work]
    threads = []
    for i, (ep, events) in enumerate(work):
        if ep.problem:
            done[i] = [_failed(ep, e, ep.problem) for e in events]
            continue
        thread = threading.Thread(
            target=_serve, args=(ep, events, deadline, done[i]), name=f"aliasgate-notify-{i}", daemon=True
        )
        thread.start()
        threads.append((i, thread))
    for _, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 0.2)
    out: list[Delivery] = []
    for i, (ep, events) in enumerate(work):
        got = list(done[i])
        late = [_failed(ep, e, f"no answer within the {seconds:g}s time limit") for e in events[len(got) :]]
        out += got + late
    return out


def _failed(ep: Endpoint, event: Event, why: str, attempts: int = 0) -> Delivery:
    return Delivery(ep.label, event.type, event.id, False, attempts, error=why, required=ep.target.required)


def _serve(ep: Endpoint, events: Sequence[Event], deadline: float, into: list[Delivery]) -> None:
    import requests

    with requests.Session() as session:
        for event in events:
            try:
                into.append(post(session.post, ep, event, deadline))
            except Exception as exc:  # a bug here must not pass for a receiver's silence
                into.append(_failed(ep, event, f"not sent: internal error ({type(exc).__name__})"))


def payload(ep: Endpoint, event: Event) -> bytes:
    from aliasgate.notify import slack

    data = slack.message(event) if ep.target.kind == "slack" else event.body()
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8")


def headers(ep: Endpoint, event: Event, body: bytes, now: float) -> dict[str, str]:
    out = {"Content-Type": "application/json", "User-Agent": f"aliasgate/{__version__}"}
    if ep.key is not None:
        ts = int(now)
        out.update(
            {
                "webhook-id": event.id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(ep.key, event.id, ts, body),
            }
        )
    return out


def post(send: Callable[..., Any], ep: Endpoint, event: Event, deadline: float) -> Delivery:
    """One event to one target: attempts until it is taken, refused, or time is up."""
    import requests

    body, started = payload(ep, event), time.monotonic()
    attempts, status, error = 0, None, ""
    while attempts < MAX_ATTEMPTS:
        left = deadline - time.monotonic()
        if left <= 0.05:
            error = error or "no time left"
            break
        attempts += 1
        wait_hint: float | None = None
        try:
            resp = send(
                ep.url,
                data=body,
                headers=headers(ep, event, body, time.time()),
                timeout=(min(left, ATTEMPT_TIMEOUT), min(left, ATTEMPT_TIMEOUT)),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.Timeout:
            error = "no answer in time"
        except requests.exceptions.ConnectionError:
            error = "connection failed (refused, reset or closed)"
        except requests.exceptions.RequestException as exc:
            error = f"request failed ({type(exc).__name__})"
        else:
            status = resp.status_code
            wait_hint = retry_after(resp.headers.get("Retry-After"))
            resp.close()
            if 200 <= status < 300:
                return Delivery(
                    ep.label,
                    event.type,
                    event.id,
                    True,
                    attempts,
                    status,
                    "",
                    ep.target.required,
                    time.monotonic() - started,
                )
            error = f"answered HTTP {status}"
            if not (status in RETRY_STATUS or status >= 500):
                error += " (redirects are not followed)" if 300 <= status < 400 else ""
                break
        if attempts >= MAX_ATTEMPTS:
            break
        wait = max(min(FIRST_BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF), wait_hint or 0.0)
        if time.monotonic() + wait >= deadline:
            if wait_hint is not None and wait_hint >= wait:
                error += f"; Retry-After {wait_hint:g}s is past the time limit"
            break
        time.sleep(wait)
    return Delivery(
        ep.label,
        event.type,
        event.id,
        False,
        attempts,
        status,
        error,
        ep.target.required,
        time.monotonic() - started,
    )


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
