"""Two batches of the same usage events at once (a client retrying while its first request still runs, two
clients replaying one export) store each event once, and count it new in exactly one of them, whichever way each
batch is written: COPY straight into the table (`bulk_insert_new`, the way events go) or the staging table's
INSERT ... ON CONFLICT DO NOTHING (`bulk_upsert`). Both take their rows in key order, so the later one waits for
the earlier; the COPY then finds a key stored and its batch goes the staging way. Real connections, committed data."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from integrations.sql import bulk_insert_new, bulk_upsert
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


def _staged(rows: list[tuple]) -> int:
    inserted, updated = bulk_upsert(table="accounts_usageevent", columns=COLUMNS, rows=rows,
                                    conflict=["idempotency_key"], extra_insert={"received_at": "now()"})
    assert updated == 0
    return inserted


def _copied(rows: list[tuple]) -> int:
    return bulk_insert_new(table="accounts_usageevent", columns=COLUMNS, rows=rows, conflict=["idempotency_key"],
                           extra_insert={"received_at": "now()"})


WRITERS = {"staging": _staged, "copy": _copied}


def _insert(schema: str, rows: list[tuple], results: list, start: threading.Barrier | None = None,
            writer=_copied) -> None:
    try:
        connection.set_schema(schema)
        with connection.cursor() as cursor:  # django-tenants sets the search_path on a cursor's first use
            cursor.execute("SELECT 1")
        if start:
            start.wait()
        results.append(writer(rows))
    except BaseException as error:  # noqa: BLE001 - handed to the test, which says what it was
        results.append(error)
    finally:
        connection.close()


def _alone(schema: str, rows: list[tuple], writer=_copied) -> list:
    """One batch on a connection of its own (the test's connection stays in its transaction), committed."""
    results: list = []
    thread = threading.Thread(target=_insert, args=(schema, rows, results), kwargs={"writer": writer})
    thread.start()
    thread.join(timeout=60)
    return results


def _stored(schema: str) -> tuple[int, int]:
    with raw_connection() as reader:
        return reader.execute(f'SELECT count(*), count(DISTINCT idempotency_key) FROM "{schema}".accounts_usageevent '
                              "WHERE idempotency_key LIKE 'copy-%%' AND received_at IS NOT NULL").fetchone()


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("writers", [("staging", "staging"), ("copy", "copy"), ("copy", "staging")])
def test_two_batches_of_the_same_events_at_once_store_each_once(tenant, writers):
    schema = tenant.schema_name
    account_id = int(committed(SEED.format(schema=schema)).split()[-1])
    try:
        results: list = []
        start = threading.Barrier(2)
        rows = _events(account_id, range(3000))
        threads = [threading.Thread(target=_insert, args=(schema, batch, results, start, WRITERS[writer]))
                   for batch, writer in zip((rows, rows[::-1]), writers, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert not [result for result in results if isinstance(result, BaseException)], results
        assert sorted(results) == [0, 3000]  # the later batch waited for the earlier one and found every event
        assert _stored(schema) == (3000, 3000)
        # Sent again: every event a duplicate, nothing written.
        assert _alone(schema, rows, WRITERS[writers[0]]) == [0]
        assert _stored(schema) == (3000, 3000)
    finally:
        committed(CLEAN.format(schema=schema))


@pytest.mark.django_db(transaction=False)
def test_a_batch_partly_stored_already_stores_only_its_new_events(tenant):
    """The COPY stops at the first stored key; its savepoint is rolled back and the staging way stores the rest."""
    schema = tenant.schema_name
    account_id = int(committed(SEED.format(schema=schema)).split()[-1])
    try:
        assert _alone(schema, _events(account_id, range(1000, 2000))) == [1000]
        # Keys on both sides of the stored ones: the COPY has written 1,000 rows when it meets the first stored key.
        assert _alone(schema, _events(account_id, range(0, 3000))) == [2000]
        assert _stored(schema) == (3000, 3000)
    finally:
        committed(CLEAN.format(schema=schema))


@pytest.mark.django_db
def test_a_conflict_rolls_back_only_the_copy_not_the_transaction_around_it(tenant):
    """Inside the ingest's transaction the COPY runs under a savepoint: what the transaction wrote before it stays."""
    from django.db import transaction

    from accounts.models import Account, UsageEvent

    account = Account.objects.create(external_id="SP-1", name="Savepoint")
    rows = _events(account.pk, range(10))
    with transaction.atomic():
        assert _copied(rows[:5]) == 5
        Account.objects.filter(pk=account.pk).update(name="Written before the conflict")
        assert _copied(rows) == 5  # five stored already: the COPY fails, the staging way stores the other five
        assert _copied(rows[9:] + rows[:1]) == 0
    account.refresh_from_db()
    assert account.name == "Written before the conflict"
    stored = UsageEvent.objects.filter(account=account)
    assert sorted(stored.values_list("idempotency_key", flat=True)) == [f"copy-{n:05d}" for n in range(10)]
    assert not stored.filter(received_at__isnull=True).exists()
