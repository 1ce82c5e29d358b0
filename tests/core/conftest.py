"""The edges we do not own, faked: DNS (names under .example.test answer what a test queues) and the network
(where HTTP clients connect)."""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from dataclasses import dataclass, field

import pytest
from urllib3.util import connection as urllib3_connection

_REAL_GETADDRINFO = socket.getaddrinfo
_REAL_CREATE_CONNECTION = urllib3_connection.create_connection


@dataclass
class FakeResolver:
    """Each name answers its queued answers in turn, the last one again and again; an answer is a list of
    addresses or an exception to raise. Names not under .example.test go to the system's resolver."""

    queued: dict[str, list] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)

    def answer(self, name: str, *answers) -> None:
        self.queued[name] = list(answers)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.endswith(".example.test"):
            return _REAL_GETADDRINFO(host, port, family, type, proto, flags)
        self.calls[name] += 1
        queue = self.queued.get(name) or [socket.gaierror(socket.EAI_NONAME, "Name or service not known")]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0, 0, 0))
                 if ":" in address else
                 (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))
                 for address in answer]


@pytest.fixture
def resolver(monkeypatch) -> FakeResolver:
    fake = FakeResolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@dataclass
class FakeNetwork:
    """The sockets HTTP clients open: where each went (an address, or a name the client resolved itself).
    Loopback connections go through; any other is refused, so no test reaches beyond this machine."""

    connections: list[str] = field(default_factory=list)

    def __call__(self, address, *args, **kwargs):
        host, _ = address
        self.connections.append(host)
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = True  # a name: the client resolves it (through the fake resolver) and connects
        if not loopback:
            raise ConnectionRefusedError(f"the test network refuses {host}")
        return _REAL_CREATE_CONNECTION(address, *args, **kwargs)


@pytest.fixture
def network(monkeypatch) -> FakeNetwork:
    fake = FakeNetwork()
    monkeypatch.setattr(urllib3_connection, "create_connection", fake)
    return fake
