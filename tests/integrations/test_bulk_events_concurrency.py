"""Two batches of the same usage events at once (a client retrying while its first request still runs, two
clients replaying one export) store each event once, and count it new in exactly one of them: the
INSERT ... ON CONFLICT DO NOTHING of each batch takes its rows in key order, so the later one waits for the earlier
and finds its rows. Real connections, committed data."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from integrations.sql import bulk_upsert
from tests.realstack import committed, raw_connection

SEED = """
from django_tenants.utils import schema_context
from accounts.models import Account
with schema_context({schema!r}):
    print(Account.objects.create(external_id="COPY-1", name="Copied").pk)
"""
CLEAN = """
from django_tenants.utils import schema_context
from accounts.models import Account, UsageEvent
with schema_context({schema!r}):
    UsageEvent.objects.filter(idempotency_key__startswith="copy-").delete()
    Account.objects.filter(external_id="COPY-1").delete()
"""
COLUMNS = {"idempotency_key": "text", "account_id": "bigint", "user_id": "text", "event_name": "text",
           "occurred_at": "timestamptz", "properties": "jsonb"}


def _events(account_id: int, keys: range) -> list[tuple]:
    return [(f"copy-{n:05d}", account_id, "u-1", "login", "2026-11-01T12:00:00+00:00", "{}") for n in keys]


def _insert(schema: str, rows: list[tuple], results: list, start: threading.Barrier | None = None) -> None:
    try:
        connection.set_schema(schema)
        with connection.cursor() as cursor:  # django-tenants sets the search_path on a cursor's first use
            cursor.execute("SELECT 1")
        if start:
            start.wait()
        results.append(bulk_upsert(table="accounts_usageevent", columns=COLUMNS, rows=rows,
                                   conflict=["idempotency_key"], extra_insert={"received_at": "now()"}))
    except BaseException as error:  # noqa: BLE001 - handed to the test, which says what it was
        results.append(error)
    finally:
        connection.close()


def _stored(schema: str) -> tuple[int, int]:
    with raw_connection() as reader:
        return reader.execute(f'SELECT count(*), count(DISTINCT idempotency_key) FROM "{schema}".accounts_usageevent '
                              "WHERE idempotency_key LIKE 'copy-%%' AND received_at IS NOT NULL").fetchone()


@pytest.mark.django_db(transaction=False)
def test_two_batches_of_the_same_events_at_once_store_each_once(tenant):
    schema = tenant.schema_name
    account_id = int(committed(SEED.format(schema=schema)).split()[-1])
    try:
        results: list = []
        start = threading.Barrier(2)
        rows = _events(account_id, range(3000))
        threads = [threading.Thread(target=_insert, args=(schema, batch, results, start))
                   for batch in (rows, rows[::-1])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert not [result for result in results if isinstance(result, BaseException)], results
        assert sum(inserted for inserted, _ in results) == 3000
        assert _stored(schema) == (3000, 3000)
        # Sent again: every event a duplicate, nothing written.
        again: list = []
        _insert(schema, rows, again)
        assert again == [(0, 0)]
    finally:
        committed(CLEAN.format(schema=schema))
