"""The periodic rollup sweep, run by a real Celery worker on the real broker, in each tenant's schema."""

import datetime as dt
import time

import pytest
from django.db import connection

from accounts.tasks import usage_rollups_refresh_all_tenants
from tests.realstack import raw_connection, stop


@pytest.fixture
def committed_events(tenant, other_tenant):
    """Events committed for real (the worker has its own connection), removed afterwards."""
    today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    users_per_schema = {tenant.schema_name: ["ann", "bob"], other_tenant.schema_name: ["cy", "di", "ed"]}
    with raw_connection() as raw:
        for schema, users in users_per_schema.items():
            raw.execute(f'SET search_path = "{schema}"')
            account_id = raw.execute(
                "INSERT INTO accounts_account (external_id, name, plan, region, industry, lifecycle_stage, status,"
                " custom_attributes, created_at, updated_at) VALUES ('sweep-test', 'Sweep', '', '', '', 'adoption',"
                " 'active', '{}', now(), now()) RETURNING id"
            ).fetchone()[0]
            for n, user in enumerate(users):
                raw.execute(
                    "INSERT INTO accounts_usageevent (idempotency_key, account_id, user_id, event_name, occurred_at,"
                    " properties, received_at) VALUES (%s, %s, %s, 'login', %s, '{}', now())",
                    [f"sweep-{schema}-{n}", account_id, user, today],
                )
    yield users_per_schema, today.date()
    with raw_connection() as raw:
        for schema in users_per_schema:
            raw.execute(f'SET search_path = "{schema}"')
            for table in ("accounts_userdaily", "accounts_usagedaily", "accounts_usageevent"):
                raw.execute(f"DELETE FROM {table} WHERE account_id IN"
                            " (SELECT id FROM accounts_account WHERE external_id = 'sweep-test')")
            raw.execute("DELETE FROM accounts_account WHERE external_id = 'sweep-test'")


def _rollups(schema: str, day: dt.date) -> tuple[int, int] | None:
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{schema}"')
        return raw.execute(
            "SELECT d.events, d.distinct_users FROM accounts_usagedaily d JOIN accounts_account a"
            " ON a.id = d.account_id WHERE a.external_id = 'sweep-test' AND d.day = %s",
            [day],
        ).fetchone()


def test_beat_sweep_fans_out_and_each_tenant_rolls_up_only_its_own_events(committed_events, celery_worker_process):
    users_per_schema, day = committed_events

    connection.set_schema_to_public()  # beat sends the fan-out from the public schema
    usage_rollups_refresh_all_tenants.delay()

    deadline = time.monotonic() + 60
    results = {}
    while time.monotonic() < deadline and len(results) < len(users_per_schema):
        results = {schema: row for schema in users_per_schema if (row := _rollups(schema, day))}
        time.sleep(0.3)
    if len(results) < len(users_per_schema):
        pytest.fail(f"rollups not refreshed in time: {results}\n{stop(celery_worker_process)[-3000:]}")

    assert results == {schema: (len(users), len(users)) for schema, users in users_per_schema.items()}
