"""Outbound HTTP to a URL a tenant chose (webhooks): parsed once by one strict parser, its host resolved once,
every address it resolves to checked, and the connection made to an address that was checked.

Why each step exists (each one closed a way to reach an internal service, docs/security.md section 11):
- One parser, strict: `http://127.0.0.1:8797\\@example.com/` passed Django's URLValidator, `urlsplit` read its
  host as `example.com` and `requests` connected to 127.0.0.1. Characters on which URL parsers disagree
  (backslash, whitespace, control characters, anything not ASCII), credentials in the authority and IPv4
  addresses spelled other than as four decimal numbers are refused, so every parser reads the same host; the
  HTTP client is handed the URL rebuilt from the parsed parts and checked to read that host again.
- Resolve once, fail closed: a name that does not resolve is refused, never waved through.
- Pin: the socket connects to the checked addresses themselves, so a second DNS answer (rebinding) is never
  asked for. The host name still goes in the Host header, the TLS server name (SNI) and the certificate check.
- Every spelling of a non-public address is refused, including IPv6 forms that embed an IPv4 address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import time
from dataclasses import dataclass, replace

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import SSL_KEYWORDS
from urllib3.util import connection as urllib3_connection

DEFAULT_PORTS = {"http": 80, "https": 443}
# A host with many addresses is tried on a few only: each failed try costs the whole connect timeout.
CONNECT_ATTEMPTS = 3
# RFC 3986's characters (unreserved, reserved and '%'); parsers agree on what these mean.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_SCHEME = re.compile(r"(?i)(https?)://")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# WHATWG URL: a host whose last label is a number (decimal, 0x hex, or octal with a leading 0) is an IPv4
# address, in any of inet_aton's spellings (2130706433, 0x7f.1, 0177.0.0.1, 127.1).
_NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0x[0-9a-f]*)")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


class OutboundRefused(ValueError):
    """This URL or address may not be called; the message says why, in words an admin can act on."""


@dataclass(frozen=True)
class Destination:
    """Where an outbound request goes: the parts of its URL and, once resolved, the addresses it may use."""

    scheme: str
    host: str  # a lower-case name, or an IP address without brackets
    port: int
    target: str  # path and query, from "/"
    addresses: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The URL rebuilt from its parsed parts: what the HTTP client is given."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.target}"


def destination_parse(url: str) -> Destination:
    """The URL's scheme, host, port and target, or OutboundRefused for anything two parsers could read apart."""
    stray = next((character for character in url if not _URL_CHARACTERS.fullmatch(character)), None)
    if stray is not None:
        raise OutboundRefused(f"The URL contains {stray!r}; URLs may only carry ASCII letters, digits and "
                              "RFC 3986 punctuation (percent-encode anything else, use the xn-- form of a name).")
    scheme = _SCHEME.match(url)
    if not scheme:
        raise OutboundRefused("The URL must start with http:// or https://.")
    rest = url[scheme.end():]
    end = next((index for index, character in enumerate(rest) if character in "/?#"), len(rest))
    authority, target = rest[:end], rest[end:].split("#", 1)[0]
    if "@" in authority:
        raise OutboundRefused("The URL may not carry credentials (user:password@host); receivers check the "
                              "signature instead.")
    host, port = _authority_split(authority)
    scheme_name = scheme.group(1).lower()
    return Destination(scheme=scheme_name, host=host, port=port or DEFAULT_PORTS[scheme_name],
                       target=target if target.startswith("/") else "/" + target)


def _authority_split(authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        literal, bracket, after = authority[1:].partition("]")
        if not bracket or "%" in literal:
            raise OutboundRefused("An IPv6 address in a URL is written in brackets, without a zone: [2001:db8::1].")
        try:
            host = str(ipaddress.IPv6Address(literal))
        except ValueError:
            raise OutboundRefused(f"'{literal}' is not an IPv6 address.") from None
        return host, _port(after)
    name, colon, port = authority.partition(":")
    host = name.lower().removesuffix(".")
    if not host:
        raise OutboundRefused("The URL has no host.")
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        if not _DOTTED_QUAD.fullmatch(host):
            raise OutboundRefused(f"'{name}' is not a host name; write an IPv4 address as four decimal numbers "
                                  "without leading zeros (a.b.c.d).")
    elif len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise OutboundRefused(f"'{name}' is not a valid host name.")
    return host, _port(colon + port)


def _port(text: str) -> int | None:
    if not text:
        return None
    if not re.fullmatch(r":[0-9]{1,5}", text) or not 0 < int(text[1:]) < 65536:
        raise OutboundRefused(f"'{text[1:]}' is not a port (1 to 65535).")
    return int(text[1:])


def address_refusal(address: str) -> str | None:
    """Why this address may not be called (loopback, private, link-local, multicast, reserved, or an IPv6
    address that embeds one of those); None for a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_refusal(str(ip.ipv4_mapped))
        if ip not in _GLOBAL_UNICAST or not ip.is_global:
            return f"{ip} is not a public IPv6 address"
        if ip.sixtofour is not None:
            return address_refusal(str(ip.sixtofour))
        return None
    if not ip.is_global or ip.is_multicast:
        return f"{ip} is not a public address"
    return None


def destination_resolve(destination: Destination, *, allow_private: bool) -> Destination:
    """The destination with the addresses its host resolves to, each checked unless private networks are
    allowed. Resolved once, here; a host that does not resolve is refused (fail closed)."""
    try:
        answers = socket.getaddrinfo(destination.host, destination.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise OutboundRefused(f"'{destination.host}' could not be resolved ({error}); nothing is sent to a host "
                              "whose address is unknown.") from None
    addresses = tuple(dict.fromkeys(answer[4][0].split("%", 1)[0] for answer in answers
                                    if answer[0] in (socket.AF_INET, socket.AF_INET6)))
    if not addresses:
        raise OutboundRefused(f"'{destination.host}' has no IPv4 or IPv6 address.")
    if not allow_private:
        refusals = [reason for reason in map(address_refusal, addresses) if reason]
        if refusals:
            raise OutboundRefused(f"'{destination.host}' is on a private network ({'; '.join(refusals)}); only "
                                  "public addresses may be called here.")
    return replace(destination, addresses=addresses)


def destination_check(url: str, *, allow_private: bool) -> Destination:
    """Parse, resolve and check: the destination a request may be sent to, or OutboundRefused."""
    return destination_resolve(destination_parse(url), allow_private=allow_private)


@dataclass(frozen=True)
class Answer:
    """What the destination answered: its status and the start of its body."""

    status: int
    body: str


def post(destination: Destination, *, body: bytes, headers: dict[str, str], timeout: float, keep: int,
         ca_bundle: str | None = None) -> Answer:
    """POST to a resolved destination over a connection to one of its checked addresses, and read the first
    `keep` characters of the answer. Redirects are not followed, proxies and .netrc from the environment are
    ignored (both would connect elsewhere), and the body is read in chunks until `keep` characters, its end,
    or twice the timeout: an endpoint that trickles bytes cannot hold the worker for longer."""
    if not destination.addresses:
        raise OutboundRefused("Resolve the destination before sending to it.")
    with requests.Session() as session:
        session.trust_env = False
        session.mount(f"{destination.scheme}://", _PinnedAdapter(destination))
        with session.post(destination.url, data=body, headers=headers, timeout=timeout, allow_redirects=False,
                          stream=True, verify=ca_bundle or True) as response:
            deadline = time.monotonic() + 2 * timeout
            return Answer(status=response.status_code, body=_body_start(response, keep, deadline))


def _body_start(response: requests.Response, keep: int, deadline: float) -> str:
    chunks: list[bytes] = []
    wanted = keep * 4  # enough bytes for `keep` characters of UTF-8
    while wanted > 0 and time.monotonic() < deadline:
        chunk = response.raw.read(min(wanted, 4096), decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")[:keep]


class _PinnedAdapter(HTTPAdapter):
    """Hands requests a connection pool for the checked destination only, whose connections open sockets to
    the checked addresses."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        self.pools: list[HTTPConnectionPool] = []
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None) -> HTTPConnectionPool:
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        port = host_params["port"] or DEFAULT_PORTS.get(host_params["scheme"])
        read = (host_params["scheme"], (host_params["host"] or "").lower(), port)
        if read != (self.destination.scheme, self.destination.host, self.destination.port):
            raise OutboundRefused(f"The HTTP client read {read} where {self.destination.url} was checked.")
        if self.destination.scheme == "https":
            pool = _PinnedHTTPSPool(self.destination.host, port, addresses=self.destination.addresses,
                                    **pool_kwargs)
        else:
            pool = _PinnedHTTPPool(self.destination.host, port, addresses=self.destination.addresses,
                                   **{key: value for key, value in pool_kwargs.items() if key not in SSL_KEYWORDS})
        self.pools.append(pool)
        return pool

    def close(self) -> None:
        super().close()
        for pool in self.pools:
            pool.close()


class _Pinned:
    """Opens the socket to the checked addresses instead of resolving the host again."""

    def __init__(self, *args, addresses: tuple[str, ...], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.addresses = addresses

    def _new_conn(self) -> socket.socket:
        failure: Exception | None = None
        for address in self.addresses[:CONNECT_ATTEMPTS]:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except TimeoutError:
                failure = ConnectTimeoutError(self, f"Connection to {self.host} at {address} timed out.")
            except OSError as error:
                failure = NewConnectionError(self, f"Failed to connect to {self.host} at {address}: {error}")
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        raise failure


class _PinnedHTTPConnection(_Pinned, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection
