"""The outbound guard: every spelling of an internal address is refused, a name is resolved once and refused
when it does not resolve, and every URL the guard accepts is read alike by every parser on the way."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from core.outbound import OutboundRefused, address_refusal, destination_check, destination_parse

PUBLIC = "93.184.216.34"

INTERNAL_SPELLINGS = [
    "http://127.0.0.1:8797\\@example.com/internal",  # the reported one: urlsplit read example.com
    "http://127.0.0.1:8797\\\\@example.com/",
    "http://127.0.0.1\\.example.com/",
    "http://example.com@127.0.0.1/",
    "http://user:secret@127.0.0.1:8797/",
    "http://127.0.0.1%2f@example.com/",
    "http://127.0.0.1 @example.com/",
    "http://127.0.0.1\t/",
    "http://127.0.0.1\r\n/",
    "http://127.0.0.1\x00.example.com/",
    "http:/\\127.0.0.1/",
    "http://①②⑦.0.0.1/",
    "http://127.0.0.1/",
    "http://127.0.0.1:8797/internal",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0x7f.0x0.0x0.0x1/",
    "http://0177.0.0.1/",
    "http://0177.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://017700000001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[2001::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
    "http://internal.example.test/",  # a name that resolves to a private address
    "http://mixed.example.test/",  # one public address, one private: refused whole
    "http://metadata.example.test/",
    "http://v6loop.example.test/",
]


@pytest.fixture
def internal_names(resolver):
    resolver.answer("internal.example.test", ["10.1.2.3"])
    resolver.answer("mixed.example.test", [PUBLIC, "127.0.0.1"])
    resolver.answer("metadata.example.test", ["169.254.169.254"])
    resolver.answer("v6loop.example.test", ["::ffff:127.0.0.1"])
    return resolver


@pytest.mark.parametrize("url", INTERNAL_SPELLINGS)
def test_every_spelling_of_an_internal_address_is_refused(internal_names, url):
    with pytest.raises(OutboundRefused):
        destination_check(url, allow_private=False)


def test_what_a_refusal_says():
    with pytest.raises(OutboundRefused, match=r"contains '\\\\'"):
        destination_parse("http://127.0.0.1:8797\\@example.com/internal")
    with pytest.raises(OutboundRefused, match="credentials"):
        destination_parse("http://example.com@127.0.0.1/")
    with pytest.raises(OutboundRefused, match="four decimal numbers"):
        destination_parse("http://0x7f.1/")
    with pytest.raises(OutboundRefused, match=r"private network \(127\.0\.0\.1 is not a public address\)"):
        destination_check("http://127.0.0.1/", allow_private=False)
    with pytest.raises(OutboundRefused, match="not a port"):
        destination_parse("http://example.com:0/")


@pytest.mark.parametrize("address", ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:a9fe:a9fe::1", "64:ff9b::a00:1",
                                     "2001:0:4136:e378:8000:63bf:3fff:fdd2", "ff0e::1", "100.127.255.255"])
def test_addresses_that_embed_or_are_internal_ones_are_not_public(address):
    assert address_refusal(address)


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8",
                                     "2002:5db8:d822::1"])
def test_public_addresses_pass(address):
    assert address_refusal(address) is None


def test_a_name_that_does_not_resolve_is_refused_not_waved_through(resolver):
    resolver.answer("gone.example.test", socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    resolver.answer("flaky.example.test", socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), [PUBLIC])

    with pytest.raises(OutboundRefused, match="could not be resolved"):
        destination_check("https://gone.example.test/hook", allow_private=False)
    with pytest.raises(OutboundRefused, match="could not be resolved"):
        destination_check("https://flaky.example.test/hook", allow_private=False)
    with pytest.raises(OutboundRefused, match="could not be resolved"):  # allowing private networks changes nothing
        destination_check("https://gone.example.test/hook", allow_private=True)


def test_a_public_destination_is_resolved_once_and_rebuilt_from_its_parts(resolver):
    resolver.answer("hooks.example.test", [PUBLIC, "2606:4700:4700::1111"], ["127.0.0.1"])

    destination = destination_check("HTTPS://Hooks.Example.TEST.:8443/in/bound?x=1&y=%20#ignored",
                                    allow_private=False)

    assert (destination.scheme, destination.host, destination.port) == ("https", "hooks.example.test", 8443)
    assert destination.target == "/in/bound?x=1&y=%20"
    assert destination.url == "https://hooks.example.test:8443/in/bound?x=1&y=%20"
    assert destination.addresses == (PUBLIC, "2606:4700:4700::1111")
    assert resolver.calls["hooks.example.test"] == 1
    literal = destination_check("http://[2606:4700:4700:0::1111]", allow_private=False)
    assert (literal.host, literal.port, literal.url) == ("2606:4700:4700::1111", 80, "http://[2606:4700:4700::1111]/")


def test_private_networks_allowed_still_parse_strictly(resolver):
    assert destination_check("http://127.0.0.1:8797/x", allow_private=True).addresses == ("127.0.0.1",)
    with pytest.raises(OutboundRefused):
        destination_check("http://127.0.0.1:8797\\@example.com/", allow_private=True)


def _parsers(url: str) -> set[tuple[str, int | None]]:
    """(host, port) as the standard library, urllib3 and requests read the URL."""
    split = urlsplit(url)
    third = parse_url(url)
    prepared = requests.Request("POST", url).prepare()
    fourth = urlsplit(prepared.url)
    return {((split.hostname or "").rstrip("."), split.port), ((third.host or "").lower().strip("[]").rstrip("."),
                                                              third.port),
            ((fourth.hostname or "").rstrip("."), fourth.port)}


PIECES = st.text(alphabet="\\/@:.[]%?#ab1270x ", max_size=12)
HOSTS = st.sampled_from(["example.com", "127.0.0.1", "[::1]", "[::ffff:7f00:1]", "0x7f.1", "localhost", "a-b.c"])
URLS = st.builds(lambda before, host, after: f"http://{before}{host}{after}", PIECES, HOSTS, PIECES)


@settings(max_examples=600, derandomize=True)
@given(url=URLS)
def test_every_url_the_guard_accepts_is_read_alike_by_every_parser(url):
    try:
        destination = destination_parse(url)
    except OutboundRefused:
        return
    default = {"http": 80, "https": 443}[destination.scheme]
    assert {(host, port or default) for host, port in _parsers(url)} == {(destination.host, destination.port)}
