"""The webhook settings pages: admins create, inspect and resend; nobody else gets in."""

from __future__ import annotations

from notifications import webhooks
from notifications.models import Webhook
from tests.conftest import TenantClient, login
from tests.users.factories import UserFactory
from users.models import Role


def test_an_admin_creates_a_webhook_and_sees_its_secret_and_deliveries(client, receiver):
    login(client, UserFactory(role=Role.ADMIN))

    response = client.post("/settings/webhooks/", {"name": "CRM", "url": receiver.url,
                                                   "events": ["task.created", "breach.opened"], "is_active": "on"})

    hook = Webhook.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/settings/webhooks/{hook.pk}/"
    webhooks.delivery_attempt(webhooks.ping_send(webhook=hook).pk)
    page = client.get(f"/settings/webhooks/{hook.pk}/").content.decode()
    assert hook.secret in page
    assert "ping" in page and "Delivered" in page and "200" in page
    listed = client.get("/settings/webhooks/").content.decode()
    assert "<td>A task was created, A breach opened</td>" in listed  # the events' names, not their codes


def test_a_bad_url_is_shown_on_the_form_and_nothing_is_stored(client):
    login(client, UserFactory(role=Role.ADMIN))

    response = client.post("/settings/webhooks/", {"name": "CRM", "url": "javascript:alert(1)",
                                                   "events": ["task.created"]})

    assert response.status_code == 400
    assert "is not an http or https URL" in response.content.decode()
    assert not Webhook.objects.exists()


def test_rotate_and_delete_from_the_page(client, receiver):
    login(client, UserFactory(role=Role.ADMIN))
    hook = webhooks.webhook_create(name="CRM", url=receiver.url, events=["task.created"])
    old = hook.secret

    client.post(f"/settings/webhooks/{hook.pk}/rotate/")
    hook.refresh_from_db()
    assert hook.secret != old
    assert client.post(f"/settings/webhooks/{hook.pk}/explode/").status_code == 404
    client.post(f"/settings/webhooks/{hook.pk}/delete/")
    assert not Webhook.objects.exists()


def test_csms_and_other_tenants_cannot_open_them(client, other_tenant, in_other_tenant, receiver):
    hook = webhooks.webhook_create(name="CRM", url=receiver.url, events=["task.created"])
    login(client, UserFactory(role=Role.CSM))
    assert client.get("/settings/webhooks/").status_code == 403
    assert client.get(f"/settings/webhooks/{hook.pk}/").status_code == 403

    with in_other_tenant():
        bravo_admin = UserFactory(role=Role.ADMIN)
    bravo = login(TenantClient(other_tenant), bravo_admin)
    answer = bravo.get(f"/settings/webhooks/{hook.pk}/")
    assert answer.status_code == 404
    assert hook.secret not in bravo.get("/settings/webhooks/").content.decode()
