"""The connectors' pages: each connector's setup, its key or secret, its options and its last calls, for admins
only; data health reports the calls held for an unknown account."""

from __future__ import annotations

import pytest
from django.core.cache import cache

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
