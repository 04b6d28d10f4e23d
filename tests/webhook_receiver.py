"""A webhook receiver on 127.0.0.1 for notification tests: records every request it gets and
answers from a script (a status, a status with headers, a connection reset, or never)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RESET = "reset"  # read the request, then close the connection with a TCP reset
HANG = "hang"  # read the request and never answer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class Receiver:
    url: str
    script: list[Any]  # answers in order; the last one repeats
    requests: list[Received] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def next_answer(self) -> Any:
        n = len(self.requests) - 1
        return self.script[min(n, len(self.script) - 1)]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return None

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            answer = receiver.next_answer()
            if answer == RESET:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if answer == HANG:
                receiver.stop.wait(120)
                self.close_connection = True
                return
            status, headers = (answer, {}) if isinstance(answer, int) else answer
            payload = b"ok" if status < 300 else b"echo: " + body  # a server that echoes the request
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def receiving(*script: Any, path: str = "/hooks/T0SECRETPATH/B0SECRETTOKEN") -> Iterator[Receiver]:
    """A receiver answering ``script`` (default: 200 to everything)."""
    receiver = Receiver("", list(script) or [200])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stop.set()
        server.shutdown()
        server.server_close()
