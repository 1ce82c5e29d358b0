"""A relay in front of the live server that loses answers: what a timeout or a dropped connection does to a
tracking library in production, after the server has stored the batch."""

from __future__ import annotations

import socket
import threading


def _read_request(conn: socket.socket) -> bytes | None:
    """One HTTP request (headers and a Content-Length body), or None when the client closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in lines[1:] if line.lower().startswith(b"content-length:")),
                  0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    # One request per upstream connection: the server closes it after answering, so the answer ends at EOF.
    kept = [line for line in lines if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n" + body


class LossyProxy:
    """Passes every request to the server; for the first `lose` of them, drops the client's connection instead
    of relaying the answer. `requests` counts what reached the server."""

    def __init__(self, *, upstream_port: int, lose: int = 1) -> None:
        self.upstream_port = upstream_port
        self.lose = lose
        self.requests = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as upstream:
                upstream.sendall(request)
                answer = b""
                while chunk := upstream.recv(65536):
                    answer += chunk
            with self._lock:
                self.requests += 1
                lost = self.requests <= self.lose
            if not lost:
                conn.sendall(answer)

    def close(self) -> None:
        self._server.close()
