"""Webhooks cannot reach internal services (SSRF): an internal URL is a 400 naming `url` when it is saved, and
at delivery time the host is resolved once, checked, and connected to at the address that was checked."""

from __future__ import annotations

import json
import socket
import ssl

import pytest
import trustme

from notifications import webhooks
from notifications.models import DeliveryStatus, Webhook
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import bearer
from tests.notifications.conftest import receiver_start, receiver_stop
from tests.users.factories import UserFactory
from users.models import Role

PUBLIC = "93.184.216.34"


@pytest.fixture
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    settings.WEBHOOK_TIMEOUT_SECONDS = 2


def _stored(url: str) -> Webhook:
    """A webhook saved before the guard knew better: delivery must refuse it on its own."""
    return Webhook.objects.create(name="Old", url=url, events=["task.created"], secret="whsec_test")


def _ping(hook: Webhook):
    return webhooks.delivery_attempt(webhooks.ping_send(webhook=hook).pk)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8797\\@example.com/internal",
    "http://example.com@127.0.0.1:8797/",
    "http://2130706433:8797/",
    "http://[::ffff:127.0.0.1]:8797/",
    "http://169.254.169.254/latest/meta-data/",
    "http://internal.example.test/hook",
    "http://gone.example.test/hook",
])
def test_saving_an_internal_url_is_a_400_naming_url_and_stores_nothing(production, client, admin_key, resolver,
                                                                        url):
    resolver.answer("internal.example.test", ["10.1.2.3"])

    response = post_json(client, "/api/v1/webhooks/", {"name": "x", "url": url, "events": ["task.created"]},
                         admin_key)

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == "url" and error["message"]
    assert not Webhook.objects.exists()


def test_changing_the_url_to_an_internal_one_is_refused_and_keeps_the_old_one(production, client, admin_key,
                                                                              resolver):
    resolver.answer("hooks.example.test", [PUBLIC])
    hook = webhooks.webhook_create(name="CRM", url="https://hooks.example.test/in", events=["task.created"])

    response = client.patch(f"/api/v1/webhooks/{hook.pk}/", {"url": "http://0x7f.1:8797/"},
                            content_type="application/json", **bearer(admin_key))

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "url"
    hook.refresh_from_db()
    assert hook.url == "https://hooks.example.test/in"


def test_the_settings_page_shows_the_refusal_on_the_url_field(production, client):
    login(client, UserFactory(role=Role.ADMIN))

    response = client.post("/settings/webhooks/", {"name": "CRM", "url": "http://127.0.0.1:8797\\@example.com/x",
                                                   "events": ["task.created"]})

    assert response.status_code == 400
    assert "contains '\\\\'" in response.context["form"].errors["url"][0]
    assert not Webhook.objects.exists()


def test_the_backslash_url_reaches_nothing_at_delivery(production, receiver, network):
    port = receiver.url.split(":")[2].split("/")[0]
    hook = _stored(f"http://127.0.0.1:{port}\\@example.com/internal")

    result = _ping(hook)

    assert receiver.requests == []
    assert network.connections == []
    assert "contains '\\\\'" in result.error
    assert (result.status, result.response_status, result.response_body) == (DeliveryStatus.PENDING, None, "")


def test_a_name_that_fails_to_resolve_then_answers_loopback_is_refused_fail_closed(production, receiver, resolver,
                                                                                    network):
    port = receiver.url.split(":")[2].split("/")[0]
    resolver.answer("flaky.example.test", socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), ["127.0.0.1"])
    hook = _stored(f"http://flaky.example.test:{port}/hooks/bellwether")

    result = _ping(hook)

    assert "could not be resolved" in result.error
    assert receiver.requests == [] and network.connections == []
    assert resolver.calls["flaky.example.test"] == 1


def test_dns_rebinding_cannot_turn_a_checked_public_host_into_loopback(production, receiver, resolver, network):
    port = receiver.url.split(":")[2].split("/")[0]
    # Public when the webhook is saved and when the delivery checks it; loopback to anyone who asks again.
    resolver.answer("rebind.example.test", [PUBLIC], [PUBLIC], ["127.0.0.1"])
    hook = webhooks.webhook_create(name="CRM", url=f"http://rebind.example.test:{port}/hooks/bellwether",
                                   events=["task.created"])

    result = _ping(hook)

    assert receiver.requests == []
    assert network.connections == [PUBLIC]  # the address that was checked, not the name
    assert resolver.calls["rebind.example.test"] == 2  # once on saving, once for this attempt
    assert PUBLIC in result.error


def test_a_delivery_connects_to_the_address_it_checked_and_names_the_host(receiver, resolver, network):
    port = int(receiver.url.split(":")[2].split("/")[0])
    decoy, decoy_server = receiver_start(host="127.0.0.2", port=port)
    try:
        resolver.answer("hooks.example.test", ["127.0.0.1"], ["127.0.0.2"])
        hook = webhooks.webhook_create(name="CRM", url=f"http://hooks.example.test:{port}/hooks/bellwether?a=1",
                                       events=["task.created"])

        first = _ping(hook)
        assert first.status == DeliveryStatus.DELIVERED
        assert network.connections == ["127.0.0.1"]
        assert resolver.calls["hooks.example.test"] == 1
        [request] = receiver.requests
        assert request.headers["host"] == f"hooks.example.test:{port}"
        assert request.path == "/hooks/bellwether?a=1"
        assert json.loads(request.body)["event"] == "ping"
        assert decoy.requests == []

        second = _ping(hook)  # the name now answers another address: the next attempt checks and uses that one
        assert second.status == DeliveryStatus.DELIVERED
        assert network.connections == ["127.0.0.1", "127.0.0.2"]
        assert len(receiver.requests) == 1 and len(decoy.requests) == 1
    finally:
        receiver_stop(decoy_server)


def test_https_is_verified_against_the_host_name_while_connecting_to_the_checked_address(settings, resolver, network,
                                                                                         tmp_path):
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("hooks.example.test").configure_cert(context)
    server_names = []
    context.sni_callback = lambda connection, name, _: server_names.append(name)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    settings.WEBHOOK_CA_BUNDLE = str(ca_file)
    tls, server = receiver_start(ssl_context=context)
    try:
        port = int(tls.url.split(":")[2].split("/")[0])
        resolver.answer("hooks.example.test", ["127.0.0.1"])
        resolver.answer("other.example.test", ["127.0.0.1"])
        signed_for = webhooks.webhook_create(name="CRM", url=f"https://hooks.example.test:{port}/in",
                                             events=["task.created"])
        not_signed_for = webhooks.webhook_create(name="Other", url=f"https://other.example.test:{port}/in",
                                                 events=["task.created"])

        delivered = _ping(signed_for)
        refused = _ping(not_signed_for)

        assert delivered.status == DeliveryStatus.DELIVERED, delivered.error
        assert server_names[0] == "hooks.example.test"
        assert tls.requests[0].headers["host"] == f"hooks.example.test:{port}"
        assert "certificate" in refused.error.lower() and "other.example.test" in refused.error
        assert len(tls.requests) == 1
        assert network.connections == ["127.0.0.1", "127.0.0.1"]
    finally:
        receiver_stop(server)
