"""Segment's (`segment-analytics-python`) and RudderStack's (`rudder-sdk-python`) libraries, unchanged, pointed
at the tenant's host: what a product team does on day one. Their identify, group, track and page calls become
an account, its contact and usage events, with and without gzip, exactly once even when a batch is sent again,
and a client over its rate waits as told and loses nothing."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from accounts.models import Account, Contact, UsageEvent
from connectors.models import ConnectorCall
from integrations.models import Scope
from tests.integrations.factories import ApiKeyFactory
from tests.users.factories import UserFactory


@pytest.fixture
def write_key() -> str:
    return ApiKeyFactory(name="Product analytics", scopes=[Scope.INGEST]).secret


def _client(library: str, write_key: str, host: str, *, gzip: bool, errors: list):
    """A library's client as its README sets it up; `errors` collects what it reports through on_error."""
    if library == "segment":
        return SegmentClient(write_key, host=host, gzip=gzip, upload_interval=0.05, max_retries=3,
                             on_error=lambda error, batch: errors.append(error))
    return RudderClient(write_key, host=host, gzip=gzip, upload_interval=0.05, max_retries=3,
                        on_error=lambda error, batch: errors.append(error))


def _day_one(client) -> None:
    """What a product sends for a new customer: the company, its first user, a page view and an action."""
    client.group("u-ann", "ACME-42", traits={"name": "Acme Corp", "plan": "Enterprise", "seats": 25,
                                             "owner_email": "csm@clients.example", "mrr": 990})
    client.identify("u-ann", traits={"email": "ann@acme.example", "name": "Ann Lee"}, context={"groupId": "ACME-42"})
    client.page("u-ann", category="App", name="Dashboard", properties={"path": "/dashboard"})
    client.track("u-ann", "report_exported", properties={"format": "pdf"})
    client.flush()


def _assert_day_one_stored_once() -> None:
    account = Account.objects.get(external_id="ACME-42")
    assert (account.name, account.plan, account.licensed_seats, account.owner.email) == (
        "Acme Corp", "Enterprise", 25, "csm@clients.example")
    contact = Contact.objects.get()
    assert (contact.external_id, contact.email, contact.name, contact.account) == (
        "u-ann", "ann@acme.example", "Ann Lee", account)
    events = sorted(UsageEvent.objects.filter(account=account).values_list("event_name", "user_id"))
    assert events == [("Viewed App Dashboard Page", "u-ann"), ("report_exported", "u-ann")]
    assert UsageEvent.objects.count() == 2


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("library", ["segment", "rudderstack"])
def test_the_library_s_calls_become_an_account_a_contact_and_events(library, gzip, live_tenant, write_key):
    UserFactory(email="csm@clients.example")
    errors: list = []
    client = _client(library, write_key, f"{live_tenant.url}/api/segment", gzip=gzip, errors=errors)

    _day_one(client)
    client.join()

    assert errors == []
    _assert_day_one_stored_once()
    assert set(ConnectorCall.objects.values_list("status_code", flat=True)) == {200}


@pytest.mark.parametrize("library", ["segment", "rudderstack"])
def test_a_batch_sent_again_after_a_lost_answer_is_stored_once(library, live_tenant, lossy_proxy, write_key):
    UserFactory(email="csm@clients.example")
    errors: list = []
    host = f"http://{live_tenant.url.split('//')[1].rsplit(':', 1)[0]}:{lossy_proxy.port}/api/segment"
    client = _client(library, write_key, host, gzip=library == "rudderstack", errors=errors)

    _day_one(client)
    client.join()

    assert errors == []
    assert lossy_proxy.requests >= 2, "the library did not send the batch again"
    assert ConnectorCall.objects.filter(status_code=200).count() == lossy_proxy.requests
    _assert_day_one_stored_once()


@override_settings(CONNECTOR_RATE_LIMIT="1/s")
def test_a_library_over_the_rate_limit_waits_for_retry_after_and_loses_nothing(live_tenant, write_key):
    cache.clear()
    UserFactory(email="csm@clients.example")
    errors: list = []
    client = SegmentClient(write_key, host=f"{live_tenant.url}/api/segment", upload_interval=0.05, upload_size=1,
                           on_error=lambda error, batch: errors.append(error))

    _day_one(client)
    client.join()
    cache.clear()

    assert errors == []
    assert ConnectorCall.objects.filter(status_code=429).exists()
    _assert_day_one_stored_once()


@pytest.mark.parametrize("library", ["segment", "rudderstack"])
def test_a_wrong_write_key_is_reported_to_the_library_with_the_reason(library, live_tenant):
    errors: list = []
    client = _client(library, "bw_12345678_not-this-tenants-key", f"{live_tenant.url}/api/segment", gzip=False,
                     errors=errors)

    client.track("u-ann", "report_exported")
    client.flush()
    client.join()

    assert [(error.status, error.code) for error in errors] == [(401, "unauthorized")]
    assert "write key" in errors[0].message
    assert not UsageEvent.objects.exists()
