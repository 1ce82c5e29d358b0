"""Two batches upserting the same rows at once never deadlock: each statement takes its rows' locks in key order.

Seen in `make bench-ingest` (two clients sending Segment batches): the contacts' upsert of one batch locked the
users in the order the calls came, another batch the same users in another order, and PostgreSQL broke the cycle
by failing one request with a 500 (`deadlock detected`). Here two real connections upsert the same 3,000
contacts in opposite orders at the same moment, inserting and then updating them.
"""

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
    print(Account.objects.create(external_id="RACE-1", name="Race").pk)
"""
CLEAN = """
from django_tenants.utils import schema_context
from accounts.models import Account
with schema_context({schema!r}):
    Account.objects.filter(external_id="RACE-1").delete()
"""
COLUMNS = {"external_id": "text", "account_id": "bigint", "name": "text", "first_seen_at": "timestamptz",
           "last_seen_at": "timestamptz"}
USERS = 3000


def _upsert_together(schema: str, account_id: int, name: str) -> list[BaseException]:
    """Both orders at once, each in a thread with a connection of its own; returns what either raised."""
    ascending = [(f"user-{n:05d}", account_id, name, "2026-11-01T00:00Z", "2026-11-02T00:00Z") for n in range(USERS)]
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def write(rows: list[tuple]) -> None:
        try:
            connection.set_schema(schema)
            with connection.cursor() as cursor:  # django-tenants sets the search_path on a cursor's first use
                cursor.execute("SELECT 1")
            start.wait()
            bulk_upsert(table="accounts_contact", columns=COLUMNS, rows=rows, conflict=["external_id"],
                        update=["name"], extra_insert={"email": "''", "updated_at": "now()"})
        except BaseException as error:  # noqa: BLE001 - handed to the test, which says what it was
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(rows,)) for rows in (ascending, ascending[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@pytest.mark.django_db(transaction=False)
def test_two_batches_of_the_same_contacts_in_opposite_orders_both_succeed(tenant):
    schema = tenant.schema_name
    account_id = int(committed(SEED.format(schema=schema)).split()[-1])
    try:
        for round_name in ("inserted", "renamed"):
            failures = _upsert_together(schema, account_id, round_name)
            assert failures == [], f"{round_name}: {failures[0]!r}"
        with raw_connection() as reader:
            stored = reader.execute(f'SELECT count(*), array_agg(DISTINCT name) FROM "{schema}".accounts_contact '
                                    "WHERE account_id = %s", [account_id]).fetchone()
        assert stored == (USERS, ["renamed"])
    finally:
        committed(CLEAN.format(schema=schema))
