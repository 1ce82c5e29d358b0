"""Bulk ingest services called directly: what each kind stores, upserts and refuses, all or nothing."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts import ingestion
from accounts.models import (
    Account,
    LifecycleStage,
    RevenueSnapshot,
    SupportTicket,
    SurveyResponse,
    TicketPriority,
    UsageEvent,
)
from core.errors import InvalidInput
from integrations.ingest import MAX_BATCH_ITEMS, Caller
from integrations.models import DataKind, IngestBatch
from integrations.validation import BatchRejected
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory, SupportTicketFactory
from tests.integrations.factories import (
    AccountItemFactory,
    ApiKeyFactory,
    EventItemFactory,
    RevenueItemFactory,
    SurveyItemFactory,
    TicketItemFactory,
)
from tests.users.factories import UserFactory

CALLER = Caller()


@pytest.fixture
def crm1():
    return AccountFactory(external_id="CRM-1")


def _rejected(ingest, items: list) -> list[dict]:
    """The errors of a refused batch."""
    with pytest.raises(BatchRejected) as refused:
        ingest(items=items, caller=CALLER)
    return refused.value.errors


def _future(hours: float) -> str:
    return (timezone.now() + dt.timedelta(hours=hours)).isoformat()


# --- accounts ---------------------------------------------------------------------------------------------


def test_accounts_are_created_with_every_field_mapped():
    owner = UserFactory(email="csm@alpha.example")

    result = ingestion.accounts_ingest(items=[{
        "external_id": "CRM-9", "name": "Initech", "plan": "Growth", "region": "EMEA", "industry": "Software",
        "lifecycle_stage": "adoption", "status": "active", "start_date": "2026-01-01", "renewal_date": "2027-01-01",
        "seats": 40, "owner": "CSM@alpha.example", "custom_attributes": {"tier": "gold"},
    }], caller=CALLER)

    assert result.counts() == {"created": 1, "updated": 0, "duplicates": 0}
    account = Account.objects.get()
    assert (account.external_id, account.name, account.plan, account.region, account.industry) == (
        "CRM-9", "Initech", "Growth", "EMEA", "Software")
    assert account.lifecycle_stage == LifecycleStage.ADOPTION
    assert (account.start_date, account.renewal_date) == (dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    assert (account.licensed_seats, account.owner, account.custom_attributes) == (40, owner, {"tier": "gold"})


def test_a_new_account_gets_the_defaults_for_fields_not_sent():
    ingestion.accounts_ingest(items=[{"external_id": "CRM-9", "name": "Initech"}], caller=CALLER)

    account = Account.objects.get()
    assert (account.plan, account.lifecycle_stage, account.status, account.owner, account.custom_attributes) == (
        "", "onboarding", "active", None, {})


def test_resending_the_same_accounts_counts_duplicates_and_changes_nothing():
    items = AccountItemFactory.build_batch(3)
    ingestion.accounts_ingest(items=items, caller=CALLER)
    before = list(Account.objects.order_by("id").values())

    result = ingestion.accounts_ingest(items=items, caller=CALLER)

    assert result.counts() == {"created": 0, "updated": 0, "duplicates": 3}
    assert list(Account.objects.order_by("id").values()) == before


def test_an_account_upsert_changes_only_the_fields_sent():
    owner = UserFactory()
    account = AccountFactory(external_id="CRM-1", name="Acme", plan="Starter", region="NA", licensed_seats=25,
                             owner=owner, custom_attributes={"tier": "silver"})

    result = ingestion.accounts_ingest(items=[{"external_id": "CRM-1", "plan": "Enterprise"},
                                              {"external_id": "CRM-2", "name": "Brand new"}], caller=CALLER)

    assert result.counts() == {"created": 1, "updated": 1, "duplicates": 0}
    account.refresh_from_db()
    assert (account.name, account.plan, account.region, account.licensed_seats, account.owner) == (
        "Acme", "Enterprise", "NA", 25, owner)
    assert account.custom_attributes == {"tier": "silver"}


def test_an_owner_sent_as_null_is_cleared():
    account = AccountFactory(external_id="CRM-1")

    ingestion.accounts_ingest(items=[{"external_id": "CRM-1", "owner": None}], caller=CALLER)

    account.refresh_from_db()
    assert account.owner is None


def test_a_new_account_needs_a_name_an_existing_one_does_not():
    AccountFactory(external_id="CRM-1", plan="Starter")

    errors = _rejected(ingestion.accounts_ingest, [{"external_id": "CRM-1", "plan": "Growth"},
                                                   {"external_id": "CRM-2", "plan": "Growth"}])

    assert errors == [{"index": 1, "field": "name", "message": "is required for a new account"}]
    assert Account.objects.get().plan == "Starter"


def test_a_renewal_before_the_stored_start_date_is_refused():
    AccountFactory(external_id="CRM-1", start_date=dt.date(2026, 6, 1), renewal_date=None)

    errors = _rejected(ingestion.accounts_ingest, [{"external_id": "CRM-1", "renewal_date": "2026-05-31"}])

    assert errors == [{"index": 0, "field": "renewal_date", "message": "must not be before the start date 2026-06-01"}]


def test_an_owner_must_be_an_active_user_of_this_tenant():
    UserFactory(email="left@alpha.example", is_active=False)

    errors = _rejected(ingestion.accounts_ingest, [
        AccountItemFactory(owner="left@alpha.example"), AccountItemFactory(owner="nobody@alpha.example")])

    assert [(e["index"], e["field"]) for e in errors] == [(0, "owner"), (1, "owner")]
    assert errors[1]["message"] == "no active user with email 'nobody@alpha.example' in this tenant"
    assert not Account.objects.exists()


def test_an_external_id_twice_in_one_batch_is_refused():
    errors = _rejected(ingestion.accounts_ingest, [AccountItemFactory(external_id="X"),
                                                   AccountItemFactory(external_id=" X ")])

    assert errors == [{"index": 1, "field": "external_id",
                       "message": "duplicate external_id in this batch (first at index 0)"}]


def test_an_accepted_batch_is_logged_with_its_counts_and_sender():
    issued = ApiKeyFactory()
    AccountFactory(external_id="CRM-1", name="Acme")

    ingestion.accounts_ingest(items=[{"external_id": "CRM-1", "name": "Acme Corp"}, AccountItemFactory()],
                              caller=Caller(api_key=issued.api_key))

    batch = IngestBatch.objects.get()
    assert (batch.kind, batch.accepted, batch.items, batch.created, batch.updated, batch.duplicates) == (
        DataKind.ACCOUNTS, True, 2, 1, 1, 0)
    assert (batch.api_key, batch.source, batch.errors) == (issued.api_key, "api", [])


def test_a_rejected_batch_says_what_to_log_but_logs_nothing_itself():
    issued = ApiKeyFactory()

    with pytest.raises(BatchRejected) as refused:
        ingestion.accounts_ingest(items=[{"external_id": "CRM-1"}], caller=Caller(api_key=issued.api_key))

    assert refused.value.log == {"kind": DataKind.ACCOUNTS, "items": 1, "api_key": issued.api_key, "user": None,
                                 "source": "api"}
    assert not IngestBatch.objects.exists()


# --- usage events -----------------------------------------------------------------------------------------


def test_events_are_stored_with_their_properties(crm1):
    result = ingestion.usage_events_ingest(items=[
        EventItemFactory(id="e-1", user="ann", event="report_exported", properties={"format": "pdf"}),
        EventItemFactory(id="e-2", timestamp="2026-11-01T12:00:00+02:00"),
    ], caller=CALLER)

    assert result.counts() == {"created": 2, "updated": 0, "duplicates": 0}
    first, second = UsageEvent.objects.order_by("idempotency_key")
    assert (first.account, first.user_id, first.event_name, first.properties) == (
        crm1, "ann", "report_exported", {"format": "pdf"})
    assert second.occurred_at == dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)
    assert second.properties == {}


def test_an_event_id_already_received_is_a_duplicate_and_ignored(crm1):
    ingestion.usage_events_ingest(items=[EventItemFactory(id="e-1", event="login")], caller=CALLER)

    result = ingestion.usage_events_ingest(items=[EventItemFactory(id="e-1", event="changed"),
                                                  EventItemFactory(id="e-2")], caller=CALLER)

    assert result.counts() == {"created": 1, "updated": 0, "duplicates": 1}
    assert dict(UsageEvent.objects.values_list("idempotency_key", "event_name")) == {"e-1": "login", "e-2": "login"}


def test_events_of_an_unknown_account_are_refused(crm1):
    errors = _rejected(ingestion.usage_events_ingest, [EventItemFactory(), EventItemFactory(account="CRM-404")])

    assert errors == [{"index": 1, "field": "account",
                       "message": "unknown account 'CRM-404': send it to /api/v1/accounts/bulk first"}]
    assert not UsageEvent.objects.exists()


def test_events_more_than_a_day_in_the_future_are_refused_a_little_drift_is_not(crm1):
    errors = _rejected(ingestion.usage_events_ingest, [EventItemFactory(timestamp=_future(23)),
                                                       EventItemFactory(timestamp=_future(25))])

    assert errors == [{"index": 1, "field": "timestamp", "message": "is more than a day in the future"}]

    result = ingestion.usage_events_ingest(items=[EventItemFactory(timestamp=_future(23))], caller=CALLER)
    assert result.created == 1


def test_event_properties_holding_nul_characters_are_refused_not_a_server_error(crm1):
    errors = _rejected(ingestion.usage_events_ingest, [EventItemFactory(properties={"note": "a\x00b"})])

    assert errors == [{"index": 0, "field": "properties", "message": "must not contain NUL characters"}]


def test_new_events_hand_their_accounts_and_local_days_to_the_follow_up(crm1, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    from accounts.tasks import ingest_follow_up

    sent = []
    monkeypatch.setattr(ingest_follow_up, "delay", lambda **kwargs: sent.append(kwargs))
    other = AccountFactory(external_id="CRM-2")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingestion.usage_events_ingest(items=[
            EventItemFactory(timestamp="2026-11-01T23:30:00Z"),
            EventItemFactory(account="CRM-2", timestamp="2026-11-03T00:10:00+01:00"),
        ], caller=CALLER)

    assert len(callbacks) == 1
    batch = IngestBatch.objects.get()
    assert sent == [{"batch_id": batch.pk}]
    assert batch.follow_up == {"account_ids": sorted([crm1.pk, other.pk]), "days": ["2026-11-01", "2026-11-02"]}


def test_a_batch_of_only_known_events_enqueues_no_follow_up(crm1, django_capture_on_commit_callbacks):
    ingestion.usage_events_ingest(items=[EventItemFactory(id="e-1")], caller=CALLER)

    with django_capture_on_commit_callbacks() as callbacks:
        ingestion.usage_events_ingest(items=[EventItemFactory(id="e-1")], caller=CALLER)

    assert callbacks == []


def test_a_rejected_batch_enqueues_no_follow_up(crm1, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        _rejected(ingestion.usage_events_ingest, [EventItemFactory(account="CRM-404")])

    assert callbacks == []


# --- revenue ----------------------------------------------------------------------------------------------


def test_revenue_is_upserted_per_account_and_month(crm1):
    RevenueSnapshotFactory(account=crm1, month=dt.date(2026, 9, 1), mrr=Decimal("900"))
    RevenueSnapshotFactory(account=crm1, month=dt.date(2026, 10, 1), mrr=Decimal("1000"))

    result = ingestion.revenue_snapshots_ingest(items=[
        RevenueItemFactory(month="2026-09", mrr=900), RevenueItemFactory(month="2026-10", mrr="1100.50"),
        RevenueItemFactory(month="2026-11", mrr=0),
    ], caller=CALLER)

    assert result.counts() == {"created": 1, "updated": 1, "duplicates": 1}
    assert dict(RevenueSnapshot.objects.values_list("month", "mrr")) == {
        dt.date(2026, 9, 1): Decimal("900.00"), dt.date(2026, 10, 1): Decimal("1100.50"),
        dt.date(2026, 11, 1): Decimal("0.00")}


def test_negative_mrr_and_a_month_twice_in_one_batch_are_refused(crm1):
    errors = _rejected(ingestion.revenue_snapshots_ingest, [
        RevenueItemFactory(month="2026-10"), RevenueItemFactory(month="2026-11", mrr=-5),
        RevenueItemFactory(month="2026-10", mrr=1),
    ])

    assert errors == [
        {"index": 1, "field": "mrr", "message": "must not be negative"},
        {"index": 2, "field": "month", "message": "duplicate account and month in this batch (first at index 0)"},
    ]
    assert not RevenueSnapshot.objects.exists()


# --- surveys ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "score", "scale"), [
    ("nps", 11, "0 and 10"), ("nps", -1, "0 and 10"), ("csat", 0, "1 and 5"), ("csat", 6, "1 and 5"),
    ("ces", 0, "1 and 7"), ("ces", 8, "1 and 7"),
])
def test_a_score_off_its_kinds_scale_is_refused(crm1, kind, score, scale):
    errors = _rejected(ingestion.survey_responses_ingest, [SurveyItemFactory(kind=kind, score=score)])

    assert errors == [{"index": 0, "field": "score", "message": f"must be between {scale} for {kind}"}]
    assert not SurveyResponse.objects.exists()


def test_scores_at_the_ends_of_each_scale_are_stored(crm1):
    edges = [("nps", 0), ("nps", 10), ("csat", 1), ("csat", 5), ("ces", 1), ("ces", 7)]

    result = ingestion.survey_responses_ingest(
        items=[SurveyItemFactory(kind=kind, score=score) for kind, score in edges], caller=CALLER)

    assert result.created == 6
    assert sorted(SurveyResponse.objects.values_list("kind", "score")) == sorted(edges)


def test_a_survey_answer_is_never_changed_once_received(crm1):
    ingestion.survey_responses_ingest(items=[SurveyItemFactory(id="s-1", score=9, comment="Great")], caller=CALLER)

    result = ingestion.survey_responses_ingest(items=[SurveyItemFactory(id="s-1", score=2, comment="Awful")],
                                               caller=CALLER)

    assert result.counts() == {"created": 0, "updated": 0, "duplicates": 1}
    assert SurveyResponse.objects.values_list("score", "comment").get() == (9, "Great")


# --- tickets ----------------------------------------------------------------------------------------------


def test_a_new_ticket_gets_defaults_for_what_was_not_sent(crm1):
    ingestion.support_tickets_ingest(items=[TicketItemFactory(id="T-1")], caller=CALLER)

    ticket = SupportTicket.objects.get()
    assert (ticket.external_id, ticket.account, ticket.priority, ticket.handling_minutes, ticket.subject) == (
        "T-1", crm1, TicketPriority.NORMAL, 0, "")
    assert ticket.resolved_at is None


def test_a_ticket_resent_resolved_is_updated_and_keeps_what_was_not_sent(crm1):
    SupportTicketFactory(external_id="T-1", account=crm1, subject="SSO loop", priority=TicketPriority.HIGH,
                         opened_at=dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC), first_response_at=None,
                         resolved_at=None, handling_minutes=5)

    result = ingestion.support_tickets_ingest(items=[TicketItemFactory(
        id="T-1", first_response_at="2026-11-01T09:30:00Z", resolved_at="2026-11-02T09:00:00Z",
        handling_minutes=50)], caller=CALLER)

    assert result.counts() == {"created": 0, "updated": 1, "duplicates": 0}
    ticket = SupportTicket.objects.get()
    assert ticket.resolved_at == dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    assert (ticket.handling_minutes, ticket.subject, ticket.priority) == (50, "SSO loop", TicketPriority.HIGH)


def test_a_ticket_resent_unchanged_is_a_duplicate(crm1):
    item = TicketItemFactory(resolved_at="2026-11-02T09:00:00Z", priority="urgent")
    ingestion.support_tickets_ingest(items=[item], caller=CALLER)

    result = ingestion.support_tickets_ingest(items=[item], caller=CALLER)

    assert result.counts() == {"created": 0, "updated": 0, "duplicates": 1}


def test_a_ticket_answered_or_resolved_before_it_was_opened_is_refused(crm1):
    errors = _rejected(ingestion.support_tickets_ingest, [TicketItemFactory(
        opened_at="2026-11-02T09:00:00Z", first_response_at="2026-11-01T09:00:00Z",
        resolved_at="2026-11-01T10:00:00Z")])

    assert errors == [{"index": 0, "field": "first_response_at", "message": "must not be before opened_at"},
                      {"index": 0, "field": "resolved_at", "message": "must not be before opened_at"}]


# --- every kind -------------------------------------------------------------------------------------------

INGESTS = [ingestion.accounts_ingest, ingestion.usage_events_ingest, ingestion.revenue_snapshots_ingest,
           ingestion.survey_responses_ingest, ingestion.support_tickets_ingest]


@pytest.mark.parametrize("ingest", INGESTS)
def test_an_empty_batch_is_refused(ingest):
    with pytest.raises(InvalidInput, match="empty"):
        ingest(items=[], caller=CALLER)


@pytest.mark.parametrize("ingest", INGESTS)
def test_a_batch_over_the_item_limit_is_refused_before_any_check(ingest):
    with pytest.raises(InvalidInput, match="at most 10,000 items; this one has 10,001"):
        ingest(items=[{}] * (MAX_BATCH_ITEMS + 1), caller=CALLER)

    assert not IngestBatch.objects.exists()


def test_one_bad_item_keeps_the_whole_batch_out_and_every_problem_is_listed(crm1):
    items = [EventItemFactory(), EventItemFactory(timestamp="2026-11-01T10:00:00"), EventItemFactory(),
             EventItemFactory(user=7, event=None, colour="red"), "not an event", EventItemFactory()]
    del items[5]["id"]

    errors = _rejected(ingestion.usage_events_ingest, items)

    assert [(e["index"], e["field"]) for e in errors] == [
        (1, "timestamp"), (3, "event"), (3, "colour"), (4, None), (5, "id")]
    assert not UsageEvent.objects.exists()
    assert not IngestBatch.objects.exists()


def test_each_tenant_ingests_into_its_own_schema_and_knows_only_its_own_accounts(other_tenant):
    with schema_context(other_tenant.schema_name):
        AccountFactory(external_id="CRM-B")

    errors = _rejected(ingestion.usage_events_ingest, [EventItemFactory(account="CRM-B")])
    assert [(e["index"], e["field"]) for e in errors] == [(0, "account")]

    with schema_context(other_tenant.schema_name):
        result = ingestion.usage_events_ingest(items=[EventItemFactory(account="CRM-B")], caller=CALLER)
        assert (result.created, UsageEvent.objects.count(), IngestBatch.objects.count()) == (1, 1, 1)
    assert not UsageEvent.objects.exists()
    assert list(IngestBatch.objects.all()) == []
