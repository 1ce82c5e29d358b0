"""The webhooks API: admins configure endpoints and read deliveries; other callers and tenants cannot."""

from __future__ import annotations

import pytest

from notifications import webhooks
from notifications.models import Webhook, WebhookDelivery
from tests.conftest import TenantClient, login
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def hook(receiver):
    return webhooks.webhook_create(name="CRM", url=receiver.url, events=["task.created"])


def test_an_admin_key_creates_a_webhook_and_gets_its_secret_once_in_the_answer(client, admin_key, receiver):
    response = post_json(client, "/api/v1/webhooks/", {"name": "CRM", "url": receiver.url,
                                                      "events": ["task.created", "breach.opened"]}, admin_key)

    assert response.status_code == 201, response.content
    body = response.json()
    stored = Webhook.objects.get()
    assert body["secret"] == stored.secret and stored.secret.startswith("whsec_")
    assert (stored.name, stored.url, stored.events) == ("CRM", receiver.url, ["task.created", "breach.opened"])
    listed = client.get("/api/v1/webhooks/", **bearer(admin_key)).json()
    assert [item["id"] for item in listed] == [stored.pk]
    assert "secret" not in listed[0]


@pytest.mark.parametrize(("payload", "field", "message"), [
    ({"name": "x", "url": "not a url", "events": ["task.created"]}, "url", "not an http or https URL"),
    ({"name": "x", "url": "https://example.com", "events": ["task.exploded"]}, "events", "not a valid choice"),
    ({"name": "x", "url": "https://example.com", "events": []}, "events", ""),
    ({"url": "https://example.com", "events": ["task.created"]}, "name", "required"),
])
def test_bad_input_is_a_400_saying_what_is_wrong_and_stores_nothing(client, admin_key, payload, field, message):
    response = post_json(client, "/api/v1/webhooks/", payload, admin_key)

    assert response.status_code == 400
    assert message in str(response.json())
    if field:
        assert field in str(response.json())
    assert not Webhook.objects.exists()


def test_patch_changes_what_is_given_and_checks_it(client, admin_key, hook):
    response = client.patch(f"/api/v1/webhooks/{hook.pk}/", {"events": ["task.completed"], "is_active": False},
                            content_type="application/json", **bearer(admin_key))
    assert response.status_code == 200, response.content
    hook.refresh_from_db()
    assert (hook.events, hook.is_active, hook.name) == (["task.completed"], False, "CRM")

    bad = client.patch(f"/api/v1/webhooks/{hook.pk}/", {"url": "gopher://x"}, content_type="application/json",
                       **bearer(admin_key))
    assert bad.status_code == 400
    hook.refresh_from_db()
    assert hook.url.startswith("http://127.0.0.1")


def test_rotate_ping_deliveries_and_redeliver(client, admin_key, hook, receiver):
    old_secret = hook.secret
    rotated = post_json(client, f"/api/v1/webhooks/{hook.pk}/rotate-secret", {}, admin_key)
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (old_secret, "")

    ping = post_json(client, f"/api/v1/webhooks/{hook.pk}/ping", {}, admin_key)
    assert ping.status_code == 202
    webhooks.delivery_attempt(ping.json()["id"])

    log = client.get(f"/api/v1/webhooks/{hook.pk}/deliveries/", **bearer(admin_key)).json()
    [entry] = log["results"]
    assert (entry["event"], entry["status"], entry["response_status"], entry["attempts"]) == (
        "ping", "delivered", 200, 1)
    assert client.get(f"/api/v1/webhooks/{hook.pk}/deliveries/?status=lost", **bearer(admin_key)).status_code == 400

    again = post_json(client, f"/api/v1/webhook-deliveries/{entry['id']}/redeliver", {}, admin_key)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    webhooks.delivery_attempt(entry["id"])
    assert len(receiver.requests) == 2


def test_delete_removes_the_endpoint_and_its_log(client, admin_key, hook):
    webhooks.ping_send(webhook=hook)

    assert client.delete(f"/api/v1/webhooks/{hook.pk}/", **bearer(admin_key)).status_code == 204
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()


def test_read_keys_and_non_admin_people_are_refused(client, read_key, hook):
    assert client.get("/api/v1/webhooks/", **bearer(read_key)).status_code == 403
    assert client.get(f"/api/v1/webhooks/{hook.pk}/", **bearer(read_key)).status_code == 403
    login(client, UserFactory(role=Role.LEADER))
    assert client.get("/api/v1/webhooks/").status_code == 403
    assert client.post("/api/v1/webhooks/", {}, content_type="application/json").status_code == 403


def test_another_tenant_can_neither_see_nor_touch_them(client, other_tenant, in_other_tenant, hook):
    with in_other_tenant():
        bravo_key = ApiKeyFactory(scopes=["admin"])
        bravo_hook = webhooks.webhook_create(name="Bravo CRM", url="http://127.0.0.1:1/x", events=["task.created"])
    bravo = TenantClient(other_tenant)

    # bravo's key on alpha's host is unknown there
    assert client.get("/api/v1/webhooks/", **bearer(bravo_key)).status_code == 401
    # bravo's own host lists only bravo's endpoint; alpha's ids are not found there
    listed = bravo.get("/api/v1/webhooks/", **bearer(bravo_key)).json()
    assert [item["name"] for item in listed] == ["Bravo CRM"]
    answer = bravo.get(f"/api/v1/webhooks/{hook.pk}/", **bearer(bravo_key))
    # alpha's id through bravo's host: not found, or (ids are per schema) bravo's own endpoint, never alpha's
    assert answer.status_code == 404 or (hook.pk == bravo_hook.pk and answer.json()["name"] == "Bravo CRM")
    removed = bravo.delete(f"/api/v1/webhooks/{hook.pk}/", **bearer(bravo_key))
    assert removed.status_code in (204, 404)
    assert Webhook.objects.filter(pk=hook.pk, name="CRM").exists()  # alpha's endpoint is untouched
