"""Redis stopped for real while events arrive: the web app still stores and answers them, and the work
they set off (rollups, the recompute of the touched account) happens once Redis is back, exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from tests.faults.lab import EmbeddedServers, lab_env, wait_until, web_server
from tests.realstack import committed, raw_connection, stop, worker_start

SEED = """
from tenants.models import Tenant
from tenants.services import tenant_create
for left_over in Tenant.objects.filter(slug="outage"):
    left_over.delete(force_drop=True)
tenant_create(slug="outage", name="Outage", admin_email="admin@outage.example", admin_password="x-very-long-pw")
from django_tenants.utils import schema_context
with schema_context("outage"):
    from accounts.models import Account
    from integrations.services import api_key_create
    Account.objects.create(external_id="ACME-1", name="Acme", licensed_seats=10)
    print(api_key_create(name="feed", scopes=["ingest", "read"]).secret)
"""

DROP = 'from tenants.models import Tenant\nTenant.objects.get(slug="outage").delete(force_drop=True)'
SWEEP = "from accounts.tasks import ingest_follow_ups_due_all_tenants\ningest_follow_ups_due_all_tenants.delay()"


def _one(sql: str, params=()) -> tuple | None:
    with raw_connection() as raw:
        raw.execute('SET search_path = "outage", public')
        return raw.execute(sql, params).fetchone()


@pytest.fixture
def lab(tmp_path):
    servers = EmbeddedServers(tmp_path / "lab")
    servers.valkey_start()
    env = lab_env(TEST_REDIS_URL=servers.redis_url, INGEST_FOLLOW_UP_GRACE_SECONDS="1")
    key = committed(SEED).split()[-1]
    web, base = web_server(env)
    worker = worker_start(env=env)
    yield servers, env, base, key
    stop(worker)
    stop(web)
    servers.valkey_stop()
    committed(DROP)


def test_ingest_survives_a_redis_outage_and_its_work_happens_once_redis_is_back(lab):
    servers, env, base, key = lab
    servers.valkey_stop()  # the broker and the cache are gone

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    events = [{"id": f"o-{n}", "account": "ACME-1", "user": f"u{n % 3}", "event": "login",
               "timestamp": (now - dt.timedelta(minutes=n)).isoformat()} for n in range(5)]
    response = requests.post(f"{base}/api/v1/events/bulk", json={"events": events}, timeout=30,
                             headers={"Host": "outage.localhost", "Authorization": f"Bearer {key}"})

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 5
    assert _one("SELECT count(*) FROM accounts_usageevent")[0] == 5
    assert _one("SELECT follow_up IS NOT NULL, followed_up_at FROM integrations_ingestbatch") == (True, None)

    servers.valkey_start()
    committed(SWEEP, env)  # what beat's per-minute sweeper sends, once Redis is back

    wait_until(lambda: _one("SELECT followed_up_at FROM integrations_ingestbatch")[0] is not None,
               seconds=90, what="the batch to be followed up")
    wait_until(lambda: _one("SELECT count(*) FROM metrics_computationrun WHERE trigger = 'ingest'"
                            " AND status = 'succeeded'")[0] == 1, seconds=60, what="the touched account's recompute")
    assert _one("SELECT sum(events) FROM accounts_usagedaily")[0] == 5  # rolled up once, not twice
    account_id = _one("SELECT id FROM accounts_account WHERE external_id = 'ACME-1'")[0]
    assert _one("SELECT account_ids FROM metrics_computationrun WHERE trigger = 'ingest'")[0] == [account_id]
