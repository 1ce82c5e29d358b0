"""Bulk ingest of customer data from integrations: validate a whole batch, then write it set-based.

A batch is all or nothing. Every item is checked first and every problem is reported at once; only a
clean batch is written, in one transaction, with one statement per table. Identifiers make re-sent
data harmless: events, surveys and tickets by their `id`, accounts by `external_id`, revenue by
account and month. After commit, the accounts touched are handed to the follow-up work (rollups now,
KPI recomputation when the metrics engine consumes it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import orjson
from django.db import connection, transaction

from accounts.models import SURVEY_SCALES, AccountStatus, LifecycleStage, SurveyKind, TicketPriority
from integrations.ingest import Caller, IngestKind, IngestResult, UniqueKey, batch_ingest, csv_importable_register
from integrations.models import DataKind, IngestBatch
from integrations.sql import bulk_insert_new, bulk_upsert
from integrations.validation import (
    Choice,
    Day,
    Email,
    Integer,
    ItemSpec,
    Money,
    Month,
    Object,
    Text,
    Timestamp,
)

# Clocks drift and time zones confuse; a little of the future is tolerated, a day is not.
FUTURE_TOLERANCE = timedelta(hours=24)

ACCOUNT_SPEC = ItemSpec("AccountIn", {
    "external_id": Text(help_text="The account's id in the CRM or billing system; the upsert key."),
    "name": Text(max_length=300, required=False, help_text="Required when the account is new."),
    "plan": Text(max_length=100, required=False, allow_blank=True),
    "region": Text(max_length=100, required=False, allow_blank=True),
    "industry": Text(max_length=100, required=False, allow_blank=True),
    "lifecycle_stage": Choice(choices=tuple(LifecycleStage.choices), required=False),
    "status": Choice(choices=tuple(AccountStatus.choices), required=False),
    "start_date": Day(required=False, nullable=True),
    "renewal_date": Day(required=False, nullable=True),
    "seats": Integer(min_value=0, max_value=10_000_000, required=False, nullable=True,
                     help_text="Licensed seats."),
    "owner": Email(required=False, nullable=True, help_text="Email of the owning CSM, a user of this tenant."),
    "custom_attributes": Object(required=False, help_text="Replaces the stored attributes."),
})

EVENT_SPEC = ItemSpec("UsageEventIn", {
    "id": Text(help_text="Unique id of the event; an id already received is ignored."),
    "account": Text(help_text="external_id of the account."),
    "user": Text(help_text="Id of the customer's user who did it."),
    "event": Text(help_text="Event name, e.g. report_exported."),
    "timestamp": Timestamp(help_text="When it happened, ISO 8601 with a time zone."),
    "properties": Object(required=False),
})

REVENUE_SPEC = ItemSpec("RevenueSnapshotIn", {
    "account": Text(help_text="external_id of the account."),
    "month": Month(help_text="YYYY-MM"),
    "mrr": Money(help_text="Monthly recurring revenue; 0 means the account pays nothing (churned)."),
})

SURVEY_SPEC = ItemSpec("SurveyResponseIn", {
    "id": Text(help_text="Unique id of the answer; an id already received is ignored."),
    "account": Text(help_text="external_id of the account."),
    "kind": Choice(choices=tuple(SurveyKind.choices)),
    # The column's range (smallint); each kind's own scale is checked with the kind, so its message names it.
    "score": Integer(min_value=-32768, max_value=32767, help_text="nps 0-10, csat 1-5, ces 1-7 (7 = very easy)."),
    "comment": Text(max_length=10_000, required=False, allow_blank=True),
    "responded_at": Timestamp(),
    "respondent": Text(max_length=254, required=False, allow_blank=True),
})

CONTACT_SPEC = ItemSpec("ContactIn", {
    "id": Text(help_text="The product's id for the user; the upsert key."),
    "account": Text(required=False, help_text="external_id of the user's account; required for a new contact."),
    "email": Email(required=False, nullable=True),
    "name": Text(max_length=300, required=False, allow_blank=True),
    "first_seen_at": Timestamp(help_text="When the user was first seen; an earlier stored time is kept."),
    "last_seen_at": Timestamp(help_text="When the user was last seen; a later stored time is kept."),
})

TICKET_SPEC = ItemSpec("SupportTicketIn", {
    "id": Text(help_text="The helpdesk's ticket id; the upsert key."),
    "account": Text(help_text="external_id of the account."),
    "opened_at": Timestamp(),
    "first_response_at": Timestamp(required=False, nullable=True),
    "resolved_at": Timestamp(required=False, nullable=True),
    "priority": Choice(choices=tuple(TicketPriority.choices), required=False),
    "handling_minutes": Integer(min_value=0, max_value=1_000_000, required=False),
    "subject": Text(max_length=500, required=False, allow_blank=True),
})


def accounts_resolve(external_ids: Iterable[str]) -> dict[str, int]:
    """Map external ids to account ids in one query."""
    ids = list(set(external_ids))
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT external_id, id FROM accounts_account WHERE external_id = ANY(%s)", [ids])
        return dict(cursor.fetchall())


def _account_refs(parsed: list[dict | None], errors: list[dict]) -> dict[str, int]:
    """Resolve each item's `account`; an unknown one is an error of that item."""
    known = accounts_resolve(item["account"] for item in parsed if item and "account" in item)
    for index, item in enumerate(parsed):
        if item and "account" in item and item["account"] not in known:
            errors.append({"index": index, "field": "account",
                           "message": f"unknown account {item['account']!r}: send it to /api/v1/accounts/bulk first"})
    return known


def _not_in_future(parsed: list[dict | None], fields: Sequence[str], errors: list[dict]) -> None:
    limit = datetime.now(UTC) + FUTURE_TOLERANCE
    for index, item in enumerate(parsed):
        for name in fields:
            if item and item.get(name) and item[name] > limit:
                errors.append({"index": index, "field": name, "message": "is more than a day in the future"})


def _follow_up_on_commit(batch: IngestBatch) -> None:
    """After commit, in this tenant, hand the batch to the follow-up work. If the broker is down the data is
    still stored and answered, and the batch waits in the outbox for the sweeper."""
    from accounts.tasks import ingest_follow_up

    transaction.on_commit(lambda: ingest_follow_up.delay(batch_id=batch.pk), robust=True)


# --- accounts ---------------------------------------------------------------------------------------------

_ACCOUNT_COLUMNS = {  # API field -> (column, array type, default for a new account)
    "name": ("name", "text", ""),
    "plan": ("plan", "text", ""),
    "region": ("region", "text", ""),
    "industry": ("industry", "text", ""),
    "lifecycle_stage": ("lifecycle_stage", "text", LifecycleStage.ONBOARDING.value),
    "status": ("status", "text", AccountStatus.ACTIVE.value),
    "start_date": ("start_date", "date", None),
    "renewal_date": ("renewal_date", "date", None),
    "seats": ("licensed_seats", "integer", None),
    "owner": ("owner_id", "bigint", None),
    "custom_attributes": ("custom_attributes", "jsonb", "{}"),
}


def _accounts_check(parsed: list[dict | None], errors: list[dict]) -> dict:
    from users.models import User

    emails = {item["owner"] for item in parsed if item and item.get("owner")}
    owners = dict(User.objects.filter(email__in=emails, is_active=True).values_list("email", "id")) if emails else {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT external_id, start_date, renewal_date FROM accounts_account WHERE external_id = ANY(%s)",
                       [[item["external_id"] for item in parsed if item and "external_id" in item]])
        existing = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    for index, item in enumerate(parsed):
        if not item or "external_id" not in item:
            continue
        stored = existing.get(item["external_id"])
        if stored is None and not item.get("name"):
            errors.append({"index": index, "field": "name", "message": "is required for a new account"})
        if item.get("owner") and item["owner"] not in owners:
            errors.append({"index": index, "field": "owner",
                           "message": f"no active user with email {item['owner']!r} in this tenant"})
        start = item["start_date"] if "start_date" in item else (stored or (None, None))[0]
        renewal = item["renewal_date"] if "renewal_date" in item else (stored or (None, None))[1]
        if start and renewal and renewal < start:
            errors.append({"index": index, "field": "renewal_date",
                           "message": f"must not be before the start date {start.isoformat()}"})
    return {"owners": owners}


def _accounts_write(parsed: list[dict], context: dict) -> IngestResult:
    owners = context["owners"]
    result = IngestResult()
    # Items that send the same fields are written together; fields an item leaves out keep their stored value.
    groups: dict[frozenset, list[dict]] = defaultdict(list)
    for item in parsed:
        groups[frozenset(item) - {"external_id"}].append(item)
    for sent_fields, group in groups.items():
        columns = {"external_id": "text"} | {column: sql for column, sql, _ in _ACCOUNT_COLUMNS.values()}
        rows = []
        for item in group:
            row = [item["external_id"]]
            for api_name, (_, _, default) in _ACCOUNT_COLUMNS.items():
                value = item.get(api_name, default)
                if api_name == "owner" and value is not None:
                    value = owners[value]
                elif api_name == "custom_attributes" and isinstance(value, dict):
                    value = orjson.dumps(value).decode()
                row.append(value)
            rows.append(row)
        update = [_ACCOUNT_COLUMNS[name][0] for name in _ACCOUNT_COLUMNS if name in sent_fields]
        created, updated = bulk_upsert(
            table="accounts_account", columns=columns, rows=rows, conflict=["external_id"], update=update,
            # clock_timestamp(), not now(): the moment of the write, not of the transaction's start.
            extra_insert={"created_at": "clock_timestamp()", "updated_at": "clock_timestamp()"},
        )
        result.created += created
        result.updated += updated
    result.duplicates = len(parsed) - result.created - result.updated
    if result.created or result.updated:
        result.account_ids = set(accounts_resolve(item["external_id"] for item in parsed).values())
    return result


ACCOUNTS = csv_importable_register(IngestKind(
    kind=DataKind.ACCOUNTS, spec=ACCOUNT_SPEC, unique=UniqueKey("external_id", "external_id"),
    check=_accounts_check, write=_accounts_write, follow_up=_follow_up_on_commit))


def accounts_ingest(*, items: Sequence, caller: Caller) -> IngestResult:
    """Upsert accounts by external_id."""
    return batch_ingest(kind=ACCOUNTS, items=items, caller=caller)


# --- usage events -----------------------------------------------------------------------------------------

def _events_check(parsed: list[dict | None], errors: list[dict]) -> dict[str, int]:
    _not_in_future(parsed, ["timestamp"], errors)
    return _account_refs(parsed, errors)


def _events_write(parsed: list[dict], accounts: dict[str, int]) -> IngestResult:
    from accounts.services import local_days

    # Timestamps go to PostgreSQL as ISO text: dumping 10,000 datetimes costs more than parsing them there.
    rows = [(item["id"], accounts[item["account"]], item["user"], item["event"], item["timestamp"].isoformat(),
             orjson.dumps(item["properties"]).decode() if item.get("properties") else "{}") for item in parsed]
    created = bulk_insert_new(
        table="accounts_usageevent",
        columns={"idempotency_key": "text", "account_id": "bigint", "user_id": "text", "event_name": "text",
                 "occurred_at": "timestamptz", "properties": "jsonb"},
        rows=rows, conflict=["idempotency_key"], extra_insert={"received_at": "now()"},
    )
    result = IngestResult(created=created, duplicates=len(parsed) - created)
    if created:
        result.account_ids = {row[1] for row in rows}
        result.days = local_days(item["timestamp"] for item in parsed)
    return result


EVENTS = IngestKind(kind=DataKind.EVENTS, spec=EVENT_SPEC, unique=UniqueKey("id", "event id"),
                    check=_events_check, write=_events_write, follow_up=_follow_up_on_commit)


def usage_events_ingest(*, items: Sequence, caller: Caller) -> IngestResult:
    """Store new usage events; an id already received is counted as a duplicate and ignored."""
    return batch_ingest(kind=EVENTS, items=items, caller=caller)


# --- contacts ---------------------------------------------------------------------------------------------

_CONTACT_OPTIONAL = {"account": "account_id", "email": "email", "name": "name"}  # item field -> column


def _contacts_check(parsed: list[dict | None], errors: list[dict]) -> dict:
    _not_in_future(parsed, ["first_seen_at", "last_seen_at"], errors)
    for index, item in enumerate(parsed):
        if item and item.get("first_seen_at") and item.get("last_seen_at") and \
                item["last_seen_at"] < item["first_seen_at"]:
            errors.append({"index": index, "field": "last_seen_at", "message": "must not be before first_seen_at"})
    without_account = [item["id"] for item in parsed if item and "id" in item and "account" not in item]
    stored: dict[str, int] = {}
    if without_account:
        with connection.cursor() as cursor:
            cursor.execute("SELECT external_id, account_id FROM accounts_contact WHERE external_id = ANY(%s)",
                           [without_account])
            stored = dict(cursor.fetchall())
        for index, item in enumerate(parsed):
            if item and "id" in item and "account" not in item and item["id"] not in stored:
                errors.append({"index": index, "field": "account", "message": "is required for a new contact"})
    return {"accounts": _account_refs(parsed, errors), "stored": stored}


def _contacts_write(parsed: list[dict], context: dict) -> IngestResult:
    accounts, stored = context["accounts"], context["stored"]
    result = IngestResult()
    # Items that send the same fields are written together; fields an item leaves out keep their stored value
    # (an item without `account` carries its stored one, which the insert needs but the update leaves alone).
    groups: dict[frozenset, list[dict]] = defaultdict(list)
    for item in parsed:
        groups[frozenset(item.keys() & _CONTACT_OPTIONAL.keys())].append(item)
    columns = {"external_id": "text", "account_id": "bigint", "email": "text", "name": "text",
               "first_seen_at": "timestamptz", "last_seen_at": "timestamptz"}
    for sent_fields, group in groups.items():
        rows = [(item["id"], accounts[item["account"]] if "account" in item else stored[item["id"]],
                 item.get("email") or "", item.get("name", ""), item["first_seen_at"], item["last_seen_at"])
                for item in group]
        created, updated = bulk_upsert(
            table="accounts_contact", columns=columns, rows=rows, conflict=["external_id"],
            update=[_CONTACT_OPTIONAL[name] for name in sorted(sent_fields)],
            merge={"first_seen_at": "least(accounts_contact.first_seen_at, EXCLUDED.first_seen_at)",
                   "last_seen_at": "greatest(accounts_contact.last_seen_at, EXCLUDED.last_seen_at)"},
            extra_insert={"updated_at": "now()"},
        )
        result.created += created
        result.updated += updated
    result.duplicates = len(parsed) - result.created - result.updated
    return result


CONTACTS = IngestKind(kind=DataKind.CONTACTS, spec=CONTACT_SPEC, unique=UniqueKey("id", "contact id"),
                      check=_contacts_check, write=_contacts_write, follow_up=_follow_up_on_commit)


def contacts_ingest(*, items: Sequence, caller: Caller) -> IngestResult:
    """Upsert the users of customer accounts by the product's user id; an item without `account` keeps the
    contact's account (and is refused for a new contact). Seen times only ever widen."""
    return batch_ingest(kind=CONTACTS, items=items, caller=caller)


# --- revenue ----------------------------------------------------------------------------------------------

def _revenue_check(parsed: list[dict | None], errors: list[dict]) -> dict[str, int]:
    return _account_refs(parsed, errors)


def _revenue_write(parsed: list[dict], accounts: dict[str, int]) -> IngestResult:
    rows = [(accounts[item["account"]], item["month"], item["mrr"]) for item in parsed]
    created, updated = bulk_upsert(
        table="accounts_revenuesnapshot", columns={"account_id": "bigint", "month": "date", "mrr": "numeric"},
        rows=rows, conflict=["account_id", "month"], update=["mrr"], extra_insert={"updated_at": "now()"},
    )
    return IngestResult(created=created, updated=updated, duplicates=len(parsed) - created - updated,
                        account_ids={row[0] for row in rows})


REVENUE = csv_importable_register(IngestKind(
    kind=DataKind.REVENUE, spec=REVENUE_SPEC,
    unique=UniqueKey("month", "account and month", key=lambda item: (item.get("account"), item.get("month"))),
    check=_revenue_check, write=_revenue_write, follow_up=_follow_up_on_commit))


def revenue_snapshots_ingest(*, items: Sequence, caller: Caller) -> IngestResult:
    """Upsert monthly MRR per account and month."""
    return batch_ingest(kind=REVENUE, items=items, caller=caller)


# --- surveys ----------------------------------------------------------------------------------------------

def _surveys_check(parsed: list[dict | None], errors: list[dict]) -> dict[str, int]:
    for index, item in enumerate(parsed):
        if item and "kind" in item and "score" in item:
            low, high = SURVEY_SCALES[SurveyKind(item["kind"])]
            if not low <= item["score"] <= high:
                errors.append({"index": index, "field": "score",
                               "message": f"must be between {low} and {high} for {item['kind']}"})
    _not_in_future(parsed, ["responded_at"], errors)
    return _account_refs(parsed, errors)


def _surveys_write(parsed: list[dict], accounts: dict[str, int]) -> IngestResult:
    rows = [(item["id"], accounts[item["account"]], item["kind"], item["score"], item.get("comment", ""),
             item.get("respondent", ""), item["responded_at"]) for item in parsed]
    created_ids: list[int] = []
    created, _ = bulk_upsert(
        table="accounts_surveyresponse",
        columns={"external_id": "text", "account_id": "bigint", "kind": "text", "score": "smallint",
                 "comment": "text", "respondent": "text", "responded_at": "timestamptz"},
        rows=rows, conflict=["external_id"], inserted_ids=created_ids,
    )
    # The answers this batch created are the ones its follow-up scores (an answer is never changed later).
    return IngestResult(created=created, duplicates=len(parsed) - created,
                        account_ids={row[1] for row in rows} if created else set(), created_ids=created_ids)


SURVEYS = IngestKind(kind=DataKind.SURVEYS, spec=SURVEY_SPEC,
                     unique=UniqueKey("id", "survey response id"),
                     check=_surveys_check, write=_surveys_write, follow_up=_follow_up_on_commit)


def survey_responses_ingest(*, items: Sequence, caller: Caller) -> IngestResult:
    """Store survey answers; an answer is never changed once received, so a re-sent id is a duplicate."""
    return batch_ingest(kind=SURVEYS, items=items, caller=caller)


# --- tickets ----------------------------------------------------------------------------------------------

_TICKET_OPTIONAL = {  # API field -> (array type, default for a new ticket)
    "first_response_at": ("timestamptz", None),
    "resolved_at": ("timestamptz", None),
    "priority": ("text", TicketPriority.NORMAL.value),
    "handling_minutes": ("integer", 0),
    "subject": ("text", ""),
}


def _tickets_check(parsed: list[dict | None], errors: list[dict]) -> dict[str, int]:
    for index, item in enumerate(parsed):
        if not item or "opened_at" not in item:
            continue
        for name in ("first_response_at", "resolved_at"):
            if item.get(name) and item[name] < item["opened_at"]:
                errors.append({"index": index, "field": name, "message": "must not be before opened_at"})
    _not_in_future(parsed, ["opened_at", "first_response_at", "resolved_at"], errors)
    return _account_refs(parsed, errors)


def _tickets_write(parsed: list[dict], accounts: dict[str, int]) -> IngestResult:
    result = IngestResult()
    groups: dict[frozenset, list[dict]] = defaultdict(list)
    for item in parsed:
        groups[frozenset(item.keys() & _TICKET_OPTIONAL.keys())].append(item)
    columns = {"external_id": "text", "account_id": "bigint", "opened_at": "timestamptz"} | {
        name: sql for name, (sql, _) in _TICKET_OPTIONAL.items()}
    for sent_fields, group in groups.items():
        rows = [[item["id"], accounts[item["account"]], item["opened_at"],
                 *(item.get(name, default) for name, (_, default) in _TICKET_OPTIONAL.items())] for item in group]
        update = ["account_id", "opened_at", *(name for name in _TICKET_OPTIONAL if name in sent_fields)]
        created, updated = bulk_upsert(table="accounts_supportticket", columns=columns, rows=rows,
                                       conflict=["external_id"], update=update)
        result.created += created
        result.updated += updated
        result.account_ids |= {row[1] for row in rows}
    result.duplicates = len(parsed) - result.created - result.updated
    return result


TICKETS = IngestKind(kind=DataKind.TICKETS, spec=TICKET_SPEC, unique=UniqueKey("id", "ticket id"),
                     check=_tickets_check, write=_tickets_write, follow_up=_follow_up_on_commit)


def support_tickets_ingest(*, items: Sequence, caller: Caller) -> IngestResult:
    """Upsert tickets by the helpdesk's id (a ticket is re-sent as it is answered and resolved)."""
    return batch_ingest(kind=TICKETS, items=items, caller=caller)

