"""The W&B double on 127.0.0.1: ``POST /graphql`` with HTTP basic ``api:<key>``.

Each request is parsed, validated against ``schema.graphql`` and executed by
graphql-core under the state lock, so one request is one atomic step, as one
database transaction is on the real server. Around that sit the test hooks:

* a journal of every request (document, variables, operation type, account,
  HTTP status), so a test can assert that a dry run sent no mutation;
* faults matched by operation name or root field: 429, 500, 403, a 500 or a
  hang *after* the operation ran (the response is lost, the change is not),
  and a hang before it ran;
* hooks run under the lock before or after a matching operation: a rival
  writer moving an alias between two of our requests;
* a controllable clock (``state.clock``) that drives TTL expiry and ages.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import graphql

from . import resolvers
from .state import GraphQLFault, State


@dataclass
class Entry:
    """One received request, as the journal keeps it."""

    operation_name: str | None
    operation: str | None  # query | mutation (from the parsed document, not the name)
    fields: list[str]  # root fields, e.g. ["addAliases"]
    query: str
    variables: dict[str, Any]
    account: str | None
    status: int = 200
    fault: str | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Fault:
    """Answer a matching request with ``kind`` instead of (or after) executing it.

    kinds: ``429`` (with Retry-After), ``500``, ``502``, ``403`` (refused, nothing done);
    ``500-after`` (executed, then 500: the response is lost); ``hang`` (sleep ``delay``
    then 504, nothing done); ``hang-after`` (executed, then sleep ``delay``)."""

    match: str  # operation name or root field name; "*" matches everything
    kind: str
    times: int = 1
    delay: float = 0.0
    retry_after: float = 0.0


Hook = Callable[[State], None]


def _js_quotes(message: str) -> str:
    return re.sub(r"'([^'\s]*)'", r'"\1"', message)


class Journal:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        with self._lock:
            self.entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def mutations(self) -> list[Entry]:
        return [e for e in self.entries if e.operation == "mutation"]

    def names(self) -> list[str | None]:
        return [e.operation_name for e in self.entries]

    def fields(self) -> list[str]:
        return [f for e in self.entries for f in e.fields]

    def __len__(self) -> int:
        return len(self.entries)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (our own timeout tests) is not an error of the double.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class WandbDouble:
    """Start with :meth:`start`; ``url`` is the base URL to hand to clients."""

    def __init__(self, state: State | None = None, *, port: int = 0) -> None:
        self.state = state or State()
        self.journal = Journal()
        self.faults: list[Fault] = []
        self.before: list[tuple[str, Hook]] = []
        self.after: list[tuple[str, Hook]] = []
        self._cache: dict[str, tuple[graphql.DocumentNode, list[graphql.GraphQLError]]] = {}
        self._cache_lock = threading.Lock()
        self.internal_errors: list[str] = []  # bugs in the double; fixtures fail the test on any
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WandbDouble:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="wandb-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WandbDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------------

    def fault(self, match: str, kind: str, **kwargs: Any) -> Fault:
        f = Fault(match, kind, **kwargs)
        self.faults.append(f)
        return f

    def on(self, match: str, hook: Hook, *, when: str = "before") -> None:
        """Run ``hook(state)`` under the lock, once, before/after the next matching request."""
        (self.before if when == "before" else self.after).append((match, hook))

    # -- request handling --------------------------------------------------------------------------

    def _take(self, items: list[Any], names: set[str], key: Callable[[Any], str]) -> Any:
        for item in items:
            if key(item) == "*" or key(item) in names:
                return item
        return None

    def handle(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {}, {"errors": [{"message": "request body is not JSON"}]}
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return 400, {}, {"errors": [{"message": "expected a JSON object with a query"}]}
        query: str = payload["query"]
        variables = payload.get("variables") or {}
        operation_name = payload.get("operationName") or None  # the SDK sends "" for "none"
        try:
            document, errors = self._parsed(query)
        except graphql.GraphQLError as exc:
            entry = Entry(operation_name, None, [], query, variables, None, 400, errors=[exc.message])
            self.journal.add(entry)
            return 400, {}, {"errors": [{"message": exc.message}]}
        operation = graphql.get_operation_ast(document, operation_name)
        op_type = operation.operation.value if operation is not None else None
        root_fields = []
        if operation is not None:
            root_fields = [
                s.name.value for s in operation.selection_set.selections if isinstance(s, graphql.FieldNode)
            ]
        doc_name = operation.name.value if operation is not None and operation.name else None
        names = {n for n in [operation_name, doc_name, *root_fields] if n}

        with self.state.lock:
            account = self._authenticate(headers)
        entry = Entry(
            operation_name, op_type, root_fields, query, variables, account.username if account else None
        )
        self.journal.add(entry)
        if account is None:
            entry.status = 401
            return (
                401,
                {"WWW-Authenticate": 'Basic realm="wandb"'},
                {"errors": [{"message": "user is not logged in"}]},
            )

        with self.state.lock:
            fault = self._take(self.faults, names, lambda f: f.match)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        if fault is not None:
            entry.fault = fault.kind
            if fault.kind in ("429", "500", "502", "403"):
                entry.status = int(fault.kind)
                extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.kind == "429" else {}
                return entry.status, extra, {"errors": [{"message": f"injected {fault.kind}"}]}
            if fault.kind == "hang":
                time.sleep(fault.delay)
                entry.status = 504
                return 504, {}, {"errors": [{"message": "injected hang"}]}

        if errors:
            # W&B's server quotes names as graphql-js does ("X"), and the SDK matches on that
            # (`Cannot query field "features" on type "ServerInfo".`); graphql-core 3.3 uses 'X'.
            formatted = [{**e.formatted, "message": _js_quotes(e.message)} for e in errors]
            entry.status = 400
            entry.errors = [f["message"] for f in formatted]
            return 400, {}, {"errors": formatted, "data": None}

        with self.state.lock:
            try:
                self._run_hook(self.before, names)
                self.state.expire()
                result = resolvers.execute(self.state, account, document, variables, operation_name)
                self._run_hook(self.after, names)
            except Exception as exc:  # a hook or the double itself failed: never a wrong answer
                self.internal_errors.append("".join(traceback.format_exception(exc)))
                entry.status = 500
                return 500, {}, {"errors": [{"message": f"double bug: {exc!r}"}]}
        body_out: dict[str, Any] = {"data": result.data}
        if result.errors:
            for err in result.errors:
                original = err.original_error
                if original is not None and not isinstance(original, GraphQLFault):
                    # A bug in the double: answer 500 and remember it, never a wrong answer.
                    text = "".join(traceback.format_exception(original))
                    self.internal_errors.append(text)
                    entry.status = 500
                    return 500, {}, {"errors": [{"message": f"double bug: {original!r}"}]}
            body_out["errors"] = [e.formatted for e in result.errors]
            entry.errors = [e.message for e in result.errors]
        if fault is not None and fault.kind == "500-after":
            entry.status = 500
            return 500, {}, {"errors": [{"message": "injected 500 after the operation ran"}]}
        if fault is not None and fault.kind == "hang-after":
            time.sleep(fault.delay)
        return 200, {}, body_out

    def _run_hook(self, hooks: list[tuple[str, Hook]], names: set[str]) -> None:
        hook = self._take(hooks, names, lambda h: h[0])
        if hook is not None:
            hooks.remove(hook)
            hook[1](self.state)

    def _parsed(self, query: str) -> tuple[graphql.DocumentNode, list[graphql.GraphQLError]]:
        """Parse and validate once per document text, as W&B's server (gqlgen) caches queries."""
        with self._cache_lock:
            hit = self._cache.get(query)
        if hit is None:
            document = graphql.parse(query)
            hit = (document, graphql.validate(resolvers.schema(), document))
            with self._cache_lock:
                if len(self._cache) > 256:
                    self._cache.clear()
                self._cache[query] = hit
        return hit

    def _authenticate(self, headers: Any) -> Any:
        auth = headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, key = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if user != "api":
            return None
        return self.state.account_for_key(key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # http.server writes headers and body separately; with Nagle on, a keep-alive client
            # waits ~40 ms for the delayed ACK on every request. W&B's servers do not stall so.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.rstrip("/") != "/graphql":
                    self._send(404, {}, {"errors": [{"message": f"no route {self.path}"}]})
                    return
                status, headers, payload = double.handle(self.headers, body)
                self._send(status, headers, payload)

            def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
