"""Account reads and updates over the API: filters, cursor pages, fixed query counts, PATCH rules, the
records of one account, and never a row of another tenant."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlsplit

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Account, AccountStatus
from integrations.models import IngestBatch
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
    UsageEventFactory,
)
from tests.conftest import login
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.users.factories import UserFactory
from users.models import Role

LIST = "/api/v1/accounts/"


def _get(client, path: str, key=None, **params):
    return client.get(path, params, **(bearer(key) if key else {}))


def _patch(client, pk: int, payload, key=None):
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return client.patch(f"/api/v1/accounts/{pk}/", body, content_type="application/json",
                        **(bearer(key) if key else {}))


def _external_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["external_id"] for row in response.json()["results"]]


@pytest.fixture
def bravo_account(other_tenant):
    with schema_context(other_tenant.schema_name):
        return AccountFactory(external_id="BRAVO-1", name="Bravo Secret Customer", owner=None)


# --- the list ---------------------------------------------------------------------------------------------


def test_the_list_shows_each_account_with_its_owner_seats_and_current_mrr(client, read_key):
    owner = UserFactory(email="csm@alpha.example")
    account = AccountFactory(external_id="CRM-1", name="Acme", plan="Growth", owner=owner, licensed_seats=40,
                             custom_attributes={"tier": "gold"})
    RevenueSnapshotFactory(account=account, month=dt.date(2026, 9, 1), mrr=Decimal("900"))
    RevenueSnapshotFactory(account=account, month=dt.date(2026, 10, 1), mrr=Decimal("1200.50"))

    response = _get(client, LIST, read_key)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["id"] == account.pk
    assert (row["external_id"], row["name"], row["plan"], row["owner"], row["seats"]) == (
        "CRM-1", "Acme", "Growth", "csm@alpha.example", 40)
    assert row["current_mrr"] == 1200.5
    assert row["custom_attributes"] == {"tier": "gold"}
    assert row["start_date"] == "2025-01-15"


def test_the_list_is_newest_first(client, read_key):
    ids = [AccountFactory(external_id=f"CRM-{n}").external_id for n in range(3)]

    assert _external_ids(_get(client, LIST, read_key)) == ids[::-1]


@pytest.mark.parametrize(("param", "value", "expected"), [
    ("plan", "Growth", ["G-NA"]),
    ("region", "EMEA", ["S-EMEA"]),
    ("industry", "Retail", ["S-EMEA"]),
    ("lifecycle_stage", "at_risk", ["S-EMEA"]),
    ("status", "churned", ["C-NA"]),
    ("external_id", "G-NA", ["G-NA"]),
    ("owner", "CSM@Alpha.Example", ["G-NA"]),
])
def test_the_list_filters_by_segment_status_owner_and_external_id(client, read_key, param, value, expected):
    csm = UserFactory(email="csm@alpha.example")
    AccountFactory(external_id="G-NA", plan="Growth", region="NA", owner=csm)
    AccountFactory(external_id="S-EMEA", plan="Starter", region="EMEA", industry="Retail", lifecycle_stage="at_risk")
    AccountFactory(external_id="C-NA", plan="Starter", region="NA", status=AccountStatus.CHURNED)

    assert _external_ids(_get(client, LIST, read_key, **{param: value})) == expected


def test_the_list_filters_by_updated_since(client, read_key):
    AccountFactory(external_id="OLD")
    AccountFactory(external_id="NEW")
    Account.objects.filter(external_id="OLD").update(updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    assert _external_ids(_get(client, LIST, read_key, updated_since="2026-06-01T00:00:00Z")) == ["NEW"]
    assert _external_ids(_get(client, LIST, read_key, updated_since="2025-12-31T23:00:00+02:00")) == ["NEW", "OLD"]


@pytest.mark.parametrize("value", ["yesterday", "2026-06-01T00:00:00", "2026-06-01"])
def test_a_bad_or_naive_updated_since_is_a_400(client, read_key, value):
    AccountFactory()

    response = _get(client, LIST, read_key, updated_since=value)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Query parameter updated_since")


def test_cursor_pages_walk_every_account_exactly_once(client, read_key):
    created = [AccountFactory().external_id for _ in range(7)]
    seen, pages = [], 0
    path, params = LIST, {"page_size": 3}

    while path:
        response = _get(client, path, read_key, **params)
        seen += _external_ids(response)
        pages += 1
        next_link = response.json()["next"]
        path, params = (urlsplit(next_link).path + "?" + urlsplit(next_link).query, {}) if next_link else (None, {})

    assert pages == 3
    assert seen == created[::-1]


def test_the_list_runs_a_fixed_number_of_queries_whatever_the_row_count(client, read_key):
    def accounts(count: int) -> None:
        for account in AccountFactory.create_batch(count):
            RevenueSnapshotFactory(account=account)

    accounts(3)
    _get(client, LIST, read_key)  # the key's last use is recorded on its first request only
    with CaptureQueriesContext(connection) as few:
        assert len(_get(client, LIST, read_key).json()["results"]) == 3
    accounts(27)

    with CaptureQueriesContext(connection) as many:
        assert len(_get(client, LIST, read_key).json()["results"]) == 30

    assert len(many.captured_queries) == len(few.captured_queries)
    # Tenant lookup and search paths, the key, the page: one query for the accounts whatever their number.
    assert len(few.captured_queries) <= 5


def test_the_list_never_shows_another_tenants_accounts(client, read_key, bravo_account):
    AccountFactory(external_id="ALPHA-1")

    response = _get(client, LIST, read_key)

    assert _external_ids(response) == ["ALPHA-1"]
    assert b"Bravo Secret Customer" not in response.content
    assert _external_ids(_get(client, LIST, read_key, external_id="BRAVO-1")) == []


def test_the_list_needs_the_read_scope(client, ingest_key):
    ingest_only = ApiKeyFactory(scopes=["ingest"])

    assert _get(client, LIST).status_code == 401
    assert _get(client, LIST, ingest_only).status_code == 403
    assert _get(client, LIST, ingest_key).status_code == 200


@pytest.mark.parametrize("role", [Role.LEADER, Role.CSM, Role.VIEWER])
def test_signed_in_people_may_read_the_list(client, role):
    AccountFactory(external_id="CRM-1")
    login(client, UserFactory(role=role))

    assert _external_ids(client.get(LIST)) == ["CRM-1"]


def test_a_session_of_one_tenant_reads_nothing_on_another(client, other_client, bravo_account):
    login(client, UserFactory(role=Role.LEADER))
    other_client.cookies = client.cookies

    response = other_client.get(LIST)

    assert response.status_code in (401, 403)
    assert b"Bravo" not in response.content


# --- one account ------------------------------------------------------------------------------------------


def test_an_account_is_read_by_its_id(client, read_key):
    account = AccountFactory(external_id="CRM-1", name="Acme")
    RevenueSnapshotFactory(account=account, mrr=Decimal("700"))

    response = _get(client, f"/api/v1/accounts/{account.pk}/", read_key)

    assert response.status_code == 200
    assert (response.json()["external_id"], response.json()["name"], response.json()["current_mrr"]) == (
        "CRM-1", "Acme", 700.0)


def test_an_unknown_account_id_is_a_404(client, read_key):
    assert _get(client, "/api/v1/accounts/999999/", read_key).status_code == 404


def test_another_tenants_account_id_is_a_404_here(client, read_key, bravo_account):
    assert not Account.objects.filter(pk=bravo_account.pk).exists()

    response = _get(client, f"/api/v1/accounts/{bravo_account.pk}/", read_key)

    assert response.status_code == 404
    assert b"Bravo" not in response.content


def test_patch_changes_only_the_fields_sent(client, ingest_key):
    owner, new_owner = UserFactory(), UserFactory(email="new@alpha.example")
    account = AccountFactory(name="Acme", plan="Starter", region="NA", licensed_seats=25, owner=owner)
    Account.objects.filter(pk=account.pk).update(updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    response = _patch(client, account.pk, {"plan": "Enterprise", "seats": 60, "owner": "new@alpha.example"},
                      ingest_key)

    assert response.status_code == 200, response.content
    assert (response.json()["plan"], response.json()["seats"], response.json()["owner"]) == (
        "Enterprise", 60, "new@alpha.example")
    account.refresh_from_db()
    assert (account.name, account.plan, account.region, account.licensed_seats, account.owner) == (
        "Acme", "Enterprise", "NA", 60, new_owner)
    assert account.updated_at > timezone.now() - dt.timedelta(minutes=1)


def test_patch_with_bad_values_is_a_400_listing_them_and_changes_nothing(client, ingest_key):
    account = AccountFactory(name="Acme", plan="Starter", start_date=dt.date(2026, 1, 1), renewal_date=None)
    before = Account.objects.values().get(pk=account.pk)

    response = _patch(client, account.pk, {"plan": "Growth", "seats": -1, "renewal_date": "2025-12-31",
                                           "owner": "ghost@alpha.example"}, ingest_key)

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "The update was rejected; nothing was changed."
    assert {(e["index"], e["field"]) for e in body["errors"]} == {(None, "seats"), (None, "renewal_date"),
                                                                   (None, "owner")}
    assert Account.objects.values().get(pk=account.pk) == before
    assert IngestBatch.objects.get().accepted is False


@pytest.mark.parametrize("payload", [{"external_id": "CRM-NEW"}, {"name": "Acme", "external_id": "CRM-1"}])
def test_patch_may_not_change_the_external_id(client, ingest_key, payload):
    account = AccountFactory(external_id="CRM-1", name="Old name")

    response = _patch(client, account.pk, payload, ingest_key)

    assert response.status_code == 400
    assert "external_id cannot be changed" in response.json()["detail"]
    account.refresh_from_db()
    assert (account.external_id, account.name) == ("CRM-1", "Old name")


def test_patch_of_a_body_that_is_not_an_object_is_a_400(client, ingest_key):
    account = AccountFactory()

    response = _patch(client, account.pk, b'["plan", "Growth"]', ingest_key)

    assert response.status_code == 400


def test_patch_with_attributes_postgresql_cannot_store_is_a_400_not_a_500(client, ingest_key):
    account = AccountFactory(custom_attributes={"tier": "gold"})

    response = _patch(client, account.pk, b'{"custom_attributes": {"id": 123456789012345678901234567890}}',
                      ingest_key)

    assert response.status_code == 400
    account.refresh_from_db()
    assert account.custom_attributes == {"tier": "gold"}


def test_patch_needs_the_ingest_scope(client, read_key):
    account = AccountFactory(plan="Starter")

    response = _patch(client, account.pk, {"plan": "Growth"}, read_key)

    assert response.status_code == 403
    account.refresh_from_db()
    assert account.plan == "Starter"


def test_a_leader_may_read_an_account_but_not_patch_it(client):
    account = AccountFactory(plan="Starter")
    login(client, UserFactory(role=Role.LEADER))

    assert client.get(f"/api/v1/accounts/{account.pk}/").status_code == 200
    assert _patch(client, account.pk, {"plan": "Growth"}).status_code == 403
    account.refresh_from_db()
    assert account.plan == "Starter"


def test_patch_of_another_tenants_account_id_is_a_404_and_changes_nothing(client, ingest_key, bravo_account,
                                                                          other_tenant):
    response = _patch(client, bravo_account.pk, {"name": "Hijacked"}, ingest_key)

    assert response.status_code == 404
    with schema_context(other_tenant.schema_name):
        assert Account.objects.get().name == "Bravo Secret Customer"


# --- the records of one account ---------------------------------------------------------------------------


@pytest.fixture
def two_accounts():
    mine, theirs = AccountFactory(external_id="MINE"), AccountFactory(external_id="THEIRS")
    for account in (mine, theirs):
        UsageEventFactory(account=account, idempotency_key=f"{account.external_id}-e1",
                          occurred_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
        UsageEventFactory(account=account, idempotency_key=f"{account.external_id}-e2", event_name="export",
                          properties={"format": "pdf"})
        RevenueSnapshotFactory(account=account, month=dt.date(2026, 9, 1), mrr=Decimal("900"))
        RevenueSnapshotFactory(account=account, month=dt.date(2026, 10, 1), mrr=Decimal("950.25"))
        SurveyResponseFactory(account=account, external_id=f"{account.external_id}-s1", kind="csat", score=4)
        SupportTicketFactory(account=account, external_id=f"{account.external_id}-t1", subject="SSO loop")
    return mine


def test_an_accounts_events_are_listed_newest_first_and_only_its_own(client, read_key, two_accounts):
    response = _get(client, f"/api/v1/accounts/{two_accounts.pk}/events/", read_key)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == ["MINE-e2", "MINE-e1"]
    assert (rows[0]["event"], rows[0]["user"], rows[0]["properties"]) == ("export", "u-1", {"format": "pdf"})


def test_an_accounts_revenue_is_listed_by_month(client, read_key, two_accounts):
    response = _get(client, f"/api/v1/accounts/{two_accounts.pk}/revenue/", read_key)

    assert [(row["month"], row["mrr"]) for row in response.json()["results"]] == [
        ("2026-10", 950.25), ("2026-09", 900.0)]


def test_an_accounts_surveys_and_tickets_are_listed(client, read_key, two_accounts):
    surveys = _get(client, f"/api/v1/accounts/{two_accounts.pk}/surveys/", read_key).json()["results"]
    tickets = _get(client, f"/api/v1/accounts/{two_accounts.pk}/tickets/", read_key).json()["results"]

    assert [(row["id"], row["kind"], row["score"]) for row in surveys] == [("MINE-s1", "csat", 4)]
    assert [(row["id"], row["subject"], row["priority"]) for row in tickets] == [("MINE-t1", "SSO loop", "normal")]


@pytest.mark.parametrize("records", ["events", "revenue", "surveys", "tickets"])
def test_records_of_another_tenants_account_are_a_404(client, read_key, bravo_account, other_tenant, records):
    with schema_context(other_tenant.schema_name):
        UsageEventFactory(account=bravo_account)
        RevenueSnapshotFactory(account=bravo_account)

    response = _get(client, f"/api/v1/accounts/{bravo_account.pk}/{records}/", read_key)

    assert response.status_code == 404


@pytest.mark.parametrize("records", ["events", "revenue", "surveys", "tickets"])
def test_records_need_the_read_scope(client, two_accounts, records):
    ingest_only = ApiKeyFactory(scopes=["ingest"])

    assert _get(client, f"/api/v1/accounts/{two_accounts.pk}/{records}/").status_code == 401
    assert _get(client, f"/api/v1/accounts/{two_accounts.pk}/{records}/", ingest_only).status_code == 403


@pytest.mark.parametrize("records", ["events", "revenue", "surveys", "tickets"])
def test_records_run_a_fixed_number_of_queries_whatever_their_count(client, read_key, records):
    account = AccountFactory()
    months = (dt.date(2020 + n // 12, n % 12 + 1, 1) for n in range(100))

    def add(count: int) -> None:
        for _ in range(count):
            UsageEventFactory(account=account)
            SurveyResponseFactory(account=account)
            SupportTicketFactory(account=account)
            RevenueSnapshotFactory(account=account, month=next(months))

    path = f"/api/v1/accounts/{account.pk}/{records}/"
    add(2)
    _get(client, path, read_key)
    with CaptureQueriesContext(connection) as few:
        assert len(_get(client, path, read_key).json()["results"]) == 2
    add(20)

    with CaptureQueriesContext(connection) as many:
        assert len(_get(client, path, read_key).json()["results"]) == 22

    assert len(many.captured_queries) == len(few.captured_queries)


def test_patch_with_a_form_body_is_415(client, ingest_key):
    from tests.accounts.factories import AccountFactory
    from tests.integrations.factories import bearer

    account = AccountFactory()

    response = client.patch(f"/api/v1/accounts/{account.pk}/", "seats=5",
                            content_type="application/x-www-form-urlencoded", **bearer(ingest_key))

    assert response.status_code == 415
