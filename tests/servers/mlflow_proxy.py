"""A recording pass-through proxy in front of a real MLflow server (loopback only).

Tests point ``--registry`` at the proxy to see exactly which requests a command sent
(``plan`` and ``apply --dry-run`` must send no mutating request), to pause a request so a
process can be killed in the middle of a move, or to answer one request with a response the
real server is known to give under a race (the 400 ``UNIQUE constraint failed`` of concurrent
first alias creation), or to let a request land and then lose its reply (``lose``: the
connection closes with no answer, or a 5xx replaces the real one). Everything else is
forwarded unchanged to the real server.

Several proxies may share one ``order`` lock: the lock and audit requests they forward then
reach MLflow one at a time, each numbered (``Recorded.index``) in the order MLflow saw them,
so a test running one proxy per job can tell which job did what, and when.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query string
    query: str
    status: int
    body: bytes = b""
    index: int = -1  # order among the requests of proxies sharing an ``order`` lock
    lost: bool = False  # forwarded, and its reply then withheld or replaced

    @property
    def mutating(self) -> bool:
        return self.method not in READ_METHODS


@dataclass
class _Rule:
    match: Callable[[str, str], bool]
    times: int
    status: int = 0
    body: bytes = b""
    gate: threading.Event | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    dropped: bool = False
    after: int = 0  # matching requests to let through before the rule applies
    lose: bool = False  # forward, then close without answering (or answer ``status``)


@dataclass
class Held:
    """A paused request: ``reached`` is set once one arrives; ``release`` or ``drop`` ends the pause."""

    rule: _Rule

    @property
    def reached(self) -> threading.Event:
        return self.rule.reached

    def release(self) -> None:
        """Forward the paused request to the server."""
        assert self.rule.gate is not None
        self.rule.gate.set()

    def drop(self) -> None:
        """Close the paused request's connection without forwarding it (it never reached MLflow)."""
        self.rule.dropped = True
        self.release()


class RecordingProxy:
    """``with RecordingProxy(server.url) as proxy: ... proxy.requests``"""

    def __init__(
        self,
        upstream: str,
        *,
        order: threading.Lock | None = None,
        counter: itertools.count[int] | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        self._order = order
        self._counter = counter if counter is not None else itertools.count()
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.requests: list[Recorded] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _handle(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="mlflow-proxy", daemon=True)

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> RecordingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            for rule in self._rules:
                if rule.gate is not None and not rule.gate.is_set():
                    rule.dropped = True
                    rule.gate.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def registry_uri(self) -> str:
        return f"mlflow+{self.url}"

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def mutating(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.mutating]

    def calls(self) -> list[str]:
        """``["GET registered-models/get", ...]`` with the API prefix cut, for readable asserts."""
        with self._lock:
            return [f"{r.method} {_short(r.path)}" for r in self.requests]

    def hold(self, method: str, path_suffix: str, *, times: int = 1) -> Held:
        """Pause the next ``times`` matching requests before they reach the server (stop drops them)."""
        rule = _Rule(_matcher(method, path_suffix), times, gate=threading.Event())
        with self._lock:
            self._rules.append(rule)
        return Held(rule)

    def answer(
        self, method: str, path_suffix: str, status: int, body: str, *, times: int = 1, after: int = 0
    ) -> threading.Event:
        """Answer the next ``times`` matching requests (after letting ``after`` of them through)
        with ``status``/``body`` instead of forwarding."""
        rule = _Rule(_matcher(method, path_suffix), times, status=status, body=body.encode(), after=after)
        with self._lock:
            self._rules.append(rule)
        return rule.reached

    def lose(
        self, method: str, path_suffix: str, *, status: int = 0, times: int = 1, after: int = 0
    ) -> threading.Event:
        """Forward the next ``times`` matching requests (after ``after`` of them), then lose the
        reply: close the connection unanswered, or answer ``status`` instead of the real one."""
        rule = _Rule(_matcher(method, path_suffix), times, status=status, after=after, lose=True)
        with self._lock:
            self._rules.append(rule)
        return rule.reached

    # -- forwarding ------------------------------------------------------------------------------

    def _take_rule(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.times > 0 and rule.match(method, path):
                    if rule.after > 0:
                        rule.after -= 1
                        return None
                    rule.times -= 1
                    return rule
        return None

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path, _, query = h.path.partition("?")
        rule = self._take_rule(h.command, path)
        if rule is not None:
            rule.reached.set()
            if rule.gate is not None:
                rule.gate.wait()
                if rule.dropped:
                    self._record(Recorded(h.command, path, query, 0, body))
                    h.close_connection = True
                    return
            elif rule.status and not rule.lose:
                self._record(Recorded(h.command, path, query, rule.status, body))
                self._reply(h, rule.status, [("Content-Type", "application/json")], rule.body)
                return
        ordered = self._order is not None and b"aliasgate-" in body and h.command != "GET"
        if ordered:
            assert self._order is not None
            with self._order:
                status, out_headers, data = self._upstream(h, body)
                index = next(self._counter)
        else:
            status, out_headers, data = self._upstream(h, body)
            index = -1
        lose = rule is not None and rule.lose
        self._record(Recorded(h.command, path, query, status, body, index=index, lost=lose))
        if rule is not None and rule.lose:
            if not rule.status:
                h.close_connection = True  # landed; the client hears nothing
                return
            status, out_headers, data = rule.status, [("Content-Type", "text/plain")], b"injected"
        self._reply(h, status, out_headers, data)

    def _upstream(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Host"] = f"{self.upstream_host}:{self.upstream_port}"
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            conn.request(h.command, h.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
            return resp.status, out_headers, data
        except OSError as exc:
            return 502, [("Content-Type", "text/plain")], f"proxy: {exc}".encode()
        finally:
            conn.close()

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        try:
            h.send_response(status)
            for k, v in headers:
                if k.lower() not in ("content-length", "server", "date"):
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.send_header("Connection", "close")
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
            h.close_connection = True
        except OSError:  # the client went away (a killed process)
            pass


def _matcher(method: str, suffix: str) -> Callable[[str, str], bool]:
    return lambda m, p: m == method and p.endswith(suffix)


def _short(path: str) -> str:
    for prefix in ("/api/2.0/mlflow/", "/api/3.0/mlflow/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path
