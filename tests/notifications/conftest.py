"""A real HTTP endpoint on loopback that records what Bellwether POSTs to it and answers as told."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integrations.conftest import read_key  # noqa: F401
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


@pytest.fixture
def receiver():
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/bellwether"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
