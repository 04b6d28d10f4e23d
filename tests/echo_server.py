"""A registry that echoes requests: every answer is an error whose body and reason phrase repeat the
request's headers (as some proxies and debug servers do). Test traffic stays on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        headers = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        body = json.dumps(
            {"error_code": "INTERNAL_ERROR", "message": f"upstream rejected {self.path} with {headers}"}
        ).encode()
        self.send_response(400, f"Bad request ({headers})")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


@contextmanager
def echoing_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server echoing every request back in an error."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
