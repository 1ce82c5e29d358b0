"""The connectors' pages: each connector's setup, its key or secret, its options and its last calls, for admins
only; data health reports the calls held for an unknown account."""

from __future__ import annotations

import html

import pytest
from django.core.cache import cache

from connectors.catalogue import GUIDES
from connectors.models import Connector, ConnectorCall, ConnectorSettings, HeldCall
from connectors.options import connector_options
from tests.conftest import login
from tests.connectors.conftest import segment_post
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def admin_client(client):
    cache.clear()  # the refusals kept before authentication live in the cache
    return login(client, UserFactory(role=Role.ADMIN))


@pytest.mark.parametrize("path", ["/settings/connectors/", "/settings/connectors/segment/"])
@pytest.mark.parametrize("role", [Role.LEADER, Role.MANAGER, Role.CSM, Role.VIEWER])
def test_only_admins_open_the_connector_pages(client, path, role):
    login(client, UserFactory(role=role))

    assert client.get(path).status_code == 403


def test_an_unknown_connector_is_not_found(admin_client):
    assert admin_client.get("/settings/connectors/mailchimp/").status_code == 404


def test_the_segment_page_shows_its_endpoint_write_keys_held_and_last_calls(admin_client, write_key):
    segment_post(admin_client, "track", {"userId": "u-1", "event": "x", "context": {"groupId": "NEW-1"}}, write_key)
    segment_post(admin_client, "track", {"userId": "u-1"}, write_key)
    segment_post(admin_client, "track", {"userId": "u-1", "event": "x"}, HTTP_AUTHORIZATION="Bearer bw_nope")

    page = admin_client.get("/settings/connectors/segment/").content.decode()

    assert "http://alpha.localhost/api/segment" in page
    assert f"{write_key.api_key.prefix}…" in page
    assert "NEW-1" in page and "does not exist yet" in page  # held
    assert "nothing was stored" in page  # refused with the key
    assert "Invalid or revoked write key" in page  # refused before authentication
    assert "held for an unknown account" in page


def test_the_list_counts_each_connectors_calls(admin_client):
    ConnectorCall.objects.create(connector=Connector.SEGMENT, status_code=200, summary="ok")
    ConnectorCall.objects.create(connector=Connector.SEGMENT, status_code=400, summary="bad")

    page = admin_client.get("/settings/connectors/").content.decode()

    assert "Segment / RudderStack" in page and '<span class="badge bad">1</span>' in page


def test_the_mapping_form_changes_which_traits_are_read(admin_client, write_key):
    form = {"user_account_trait": "company_id", "event_account_property": "", "trait_name": "company_name",
            "trait_plan": "tier", "trait_industry": "industry", "trait_region": "", "trait_seats": "seats",
            "trait_owner": "owner_email", "trait_renewal_date": "renewal_date", "trait_mrr": ""}

    response = admin_client.post("/settings/connectors/segment/", form)

    assert response.status_code == 302
    options = connector_options(Connector.SEGMENT)
    assert options["user_account_trait"] == "company_id" and options["event_account_property"] == ""
    assert options["account_traits"]["plan"] == "tier" and options["account_traits"]["mrr"] == ""
    segment_post(admin_client, "group", {"userId": "u", "groupId": "G-1",
                                         "traits": {"company_name": "Gee", "tier": "Pro", "mrr": 5}}, write_key)
    from accounts.models import Account, RevenueSnapshot

    account = Account.objects.get(external_id="G-1")
    assert (account.name, account.plan) == ("Gee", "Pro") and not RevenueSnapshot.objects.exists()


def test_the_options_change_is_audited(admin_client):
    from audit.models import AuditEntry

    admin_client.post("/settings/connectors/segment/", {"user_account_trait": "org", "event_account_property": "org"})

    assert ConnectorSettings.objects.get().options["user_account_trait"] == "org"
    assert AuditEntry.objects.filter(object_type__contains="connectorsettings").exists()


def test_data_health_reports_the_held_calls(admin_client, write_key):
    segment_post(admin_client, "batch", {"batch": [
        {"type": "track", "userId": "u-1", "event": "x", "context": {"groupId": "LATER-1"}},
        {"type": "track", "userId": "u-2", "event": "y"}]}, write_key)

    page = admin_client.get("/data-health/").content.decode()
    api = admin_client.get("/api/v1/data-health/").json()

    assert "Calls held for an unknown account" in page and "LATER-1" in page
    assert api["reports"][0]["count"] == HeldCall.objects.count() == 2


def test_call_logs_and_event_ids_past_their_retention_are_purged():
    from datetime import timedelta

    from django.utils import timezone

    from connectors.models import ReceivedEvent
    from connectors.services import connector_logs_purge

    old, _kept = (ConnectorCall.objects.create(connector=Connector.SEGMENT, status_code=200, summary=label)
                  for label in ("old", "kept"))
    ConnectorCall.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=31))
    ReceivedEvent.objects.create(connector=Connector.STRIPE, event_id="evt_old", kind="x")
    ReceivedEvent.objects.update(received_at=timezone.now() - timedelta(days=31))
    for message_id, age in (("gone", 91), ("waiting", 89)):
        HeldCall.objects.create(connector=Connector.SEGMENT, message_id=message_id, kind="track", message={},
                                reason="unknown account")
        HeldCall.objects.filter(message_id=message_id).update(received_at=timezone.now() - timedelta(days=age))

    assert connector_logs_purge() == 3
    assert list(HeldCall.objects.values_list("message_id", flat=True)) == ["waiting"]
    assert list(ConnectorCall.objects.values_list("summary", flat=True)) == ["kept"]


@pytest.mark.parametrize("connector", list(GUIDES))
def test_every_connector_has_a_page_with_its_setup_its_key_or_secret_and_its_calls(admin_client, connector):
    guide = GUIDES[connector]

    response = admin_client.get(f"/settings/connectors/{connector}/")

    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert guide.title in page and all(f"<li>{step.split('{')[0][:40]}" in page for step in guide.steps)
    secret_heading = {"write_key": "Write keys", "signing_secret": "Signing secret", "slack_url": "Slack webhooks",
                      "": "Import the export"}[guide.secret]
    assert secret_heading in page
    received, refused = ("Last deliveries", "Last deliveries failing") if guide.outbound else (
        "Last calls received", "Last calls refused")
    assert f"<h2>{received}</h2>" in page and f"<h2>{refused}</h2>" in page
    assert f'href="/settings/connectors/{connector}/"' in admin_client.get("/settings/connectors/").content.decode()


def test_an_export_upload_is_a_call_on_its_connectors_page_accepted_or_refused(admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.connectors.test_crm import HUBSPOT, SALESFORCE
    UserFactory(full_name="Dana Scully", email="dana@alpha.example")
    UserFactory(full_name="Fox Mulder", email="fox@alpha.example")

    admin_client.post("/settings/connectors/hubspot/import",
                      {"file": SimpleUploadedFile("companies.csv", HUBSPOT.encode(), "text/csv")})
    admin_client.post("/settings/connectors/salesforce/import", {"file": SimpleUploadedFile(
        "accounts.csv", SALESFORCE.replace("3/1/2027", "someday").encode(), "text/csv")})
    admin_client.post("/settings/connectors/stripe/backfill",
                      {"file": SimpleUploadedFile("subscriptions.csv", b"not,an\nexport,at all\n", "text/csv")})

    calls = {(call.connector, call.status_code): call.summary for call in ConnectorCall.objects.all()}
    assert set(calls) == {("hubspot", 200), ("salesforce", 400), ("stripe", 400)}
    assert "account(s) created" in calls["hubspot", 200] and "uploaded by" in calls["hubspot", 200]
    assert "renewal_date" in calls["salesforce", 400]
    hubspot = admin_client.get("/settings/connectors/hubspot/").content.decode()
    salesforce = admin_client.get("/settings/connectors/salesforce/").content.decode()
    assert "Imported the HubSpot export" in hubspot.split("<h2>Last calls received</h2>")[1]
    assert "Salesforce export refused" in salesforce.split("<h2>Last calls refused</h2>")[1].split("<h2>")[0]


def test_an_export_refused_for_its_size_is_a_refused_call(admin_client, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    monkeypatch.setattr("connectors.views.MAX_EXPORT_BYTES", 10)
    admin_client.post("/settings/connectors/hubspot/import",
                      {"file": SimpleUploadedFile("companies.csv", b"Record ID,Company name\n" * 5, "text/csv")})

    call = ConnectorCall.objects.get()
    assert (call.connector, call.status_code) == ("hubspot", 413) and "larger than 10 bytes" in call.summary
    for no_import in ("zendesk", "nosuch"):
        refused = admin_client.post(f"/settings/connectors/{no_import}/import", {
            "file": SimpleUploadedFile("companies.csv", b"Record ID,Company name\n" * 5, "text/csv")})
        assert refused.status_code == 404
    assert ConnectorCall.objects.count() == 1


def test_the_slack_page_shows_its_webhooks_and_their_last_deliveries_and_failures(admin_client):
    from django.utils import timezone

    from notifications.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookFormat

    now = timezone.now()
    slack = Webhook.objects.create(name="CS channel", url="https://hooks.slack.com/services/T0/B0/secretpart",
                                   secret="s", events=["breach.opened"], format=WebhookFormat.SLACK)
    crm = Webhook.objects.create(name="CRM sync", url="https://crm.example/in", secret="s", events=["task.created"])
    WebhookDelivery.objects.create(webhook=slack, event="ping", payload={}, status=DeliveryStatus.DELIVERED,
                                   response_status=200, next_attempt_at=now, delivered_at=now, attempts=1)
    WebhookDelivery.objects.create(webhook=slack, event="breach.opened", payload={}, status=DeliveryStatus.FAILED,
                                   response_status=404, error="no_service", next_attempt_at=now, attempts=8)
    WebhookDelivery.objects.create(webhook=crm, event="task.created", payload={}, status=DeliveryStatus.FAILED,
                                   response_status=500, error="CRM-ONLY failure", next_attempt_at=now, attempts=8)

    page = admin_client.get("/settings/connectors/slack/").content.decode()
    listing = admin_client.get("/settings/connectors/").content.decode()

    assert "CS channel" in page and "secretpart" not in page and "CRM sync" not in page
    failing, delivered = page.split("<h2>Last deliveries failing</h2>")[1].split("<h2>Last deliveries</h2>")
    assert "no_service" in failing and "CRM-ONLY" not in failing and "A breach opened" in failing
    assert "CS channel</a> <code class=\"secret\">https://hooks.slack.com/servic…</code> · A breach opened" in page
    assert "ping" in delivered and "200" in delivered
    slack_row = listing.split("Slack (outbound)")[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in slack_row and '<span class="badge bad">1</span>' in slack_row


@pytest.mark.parametrize(("connectors", "link"), [
    (["stripe"], "/settings/connectors/stripe/"),
    (["zendesk"], "/settings/connectors/zendesk/"),
    (["stripe", "segment"], "/settings/connectors/"),
])
def test_data_health_links_the_held_calls_to_their_connector(admin_client, connectors, link):
    for number, connector in enumerate(connectors):
        HeldCall.objects.create(connector=connector, message_id=f"m-{number}", kind="x", account_key="LATER",
                                message={}, reason="unknown account")

    report = admin_client.get("/api/v1/data-health/").json()["reports"][0]

    assert report["count"] == len(connectors) and report["link"].endswith(link)
