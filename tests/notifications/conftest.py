"""A real HTTP endpoint on loopback that records what Bellwether POSTs to it and answers as told."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.core.conftest import network, resolver  # noqa: F401
from tests.metrics.conftest import admin_key  # noqa: F401


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next queued status (200 once the queue is empty)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: deque = field(default_factory=deque)
    arrived: threading.Event = field(default_factory=threading.Event)

    def answer(self, *statuses: int) -> None:
        self.statuses.extend(statuses)


def receiver_start(host: str = "127.0.0.1", port: int = 0, ssl_context=None) -> tuple[Receiver, ThreadingHTTPServer]:
    """A receiver listening on `host` (any loopback address), over TLS when given a server context."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses.popleft() if state.statuses else 200
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if status < 300 else b"nope")
            state.arrived.set()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    scheme = "https" if ssl_context is not None else "http"
    state.url = f"{scheme}://{host}:{server.server_port}/hooks/bellwether"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server


def receiver_stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver():
    state, server = receiver_start()
    yield state
    receiver_stop(server)
