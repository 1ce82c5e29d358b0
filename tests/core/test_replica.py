"""Reads from a real PostgreSQL streaming replica (core.replica): a standby made with `pg_basebackup -R` from
the test server, started from the embedded PostgreSQL binaries on a port of its own.

What is proven, in a process configured with DATABASE_REPLICA_URL (the test database on the standby):
- a safe API read is answered from the replica, in the tenant's schema (the tenant's table is found there),
  unless it wrote first (an API key's first use records it): then from the primary;
- after a write, the writer's next read comes from the primary and sees the write (the pin cookie);
- a replica whose replay is paused falls behind the allowed lag: reads go to the primary;
- a replica that is down: reads go to the primary, the page still answers.

REPLICA_TEST_PORT (54340) and REPLICA_TEST_DIR (a temporary folder) say where the standby runs. The primary is
only read from (a replication connection that its pg_hba.conf already allows); it is never reconfigured.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.realstack import ROOT, committed, worker_env

sys.path.insert(0, str(ROOT / "scripts"))
import services  # the embedded PostgreSQL's binaries, and the user they run as when we are root
from standby import Standby, limits_of

SLUG = "replicaread"
@pytest.fixture(scope="module")
def standby(django_db_blocker) -> Iterator[Standby]:
    if not Path(services._pg_bin("pg_basebackup")).exists():
        pytest.skip("the embedded PostgreSQL binaries (pg_basebackup, pg_ctl) are not installed")
    services._make_traversable()
    data = Path(os.environ.get("REPLICA_TEST_DIR") or tempfile.mkdtemp(prefix="bellwether-replica-"))
    services._own(data)  # mkdtemp's folder is 0700: PostgreSQL's own user (when we are root) must enter it
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        server = Standby(data / "standby", int(os.environ.get("REPLICA_TEST_PORT", "54340")),
                         connection.settings_dict, limits_of(cursor))
    server.create()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test of a down replica
            server.stop()
        shutil.rmtree(data, ignore_errors=True)


def scenario(part: str) -> None:
    """Run in a process of its own with the replica configured; prints what each read used, as JSON."""
    from django.db import ProgrammingError, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import tenant_context

    from accounts.models import Account
    from core import replica
    from integrations.services import api_key_create
    from tenants.models import Tenant
    from tenants.services import tenant_create, tenant_host

    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_create(
        slug=SLUG, name="Replica reads", admin_email=f"admin@{SLUG}.example", admin_password="replica-pass-1").tenant
    with tenant_context(tenant):
        key = api_key_create(name=f"replica {part}", scopes="ingest,read").secret
        Account.objects.create(external_id=f"{part}-1", name=f"Written before the {part} reads")

    def client() -> Client:
        return Client(HTTP_HOST=tenant_host(SLUG), HTTP_AUTHORIZATION=f"Bearer {key}")

    def read(api: Client, watch_replica: bool = True) -> dict:
        replica.replica_health_forget()
        with CaptureQueriesContext(connections["default"]) as on_primary:
            if watch_replica:
                with CaptureQueriesContext(connections["replica"]) as on_replica:
                    response = api.get("/api/v1/accounts/?page_size=100")
            else:
                on_replica, response = [], api.get("/api/v1/accounts/?page_size=100")
        return {"status": response.status_code,
                "accounts": sorted(row["external_id"] for row in response.json()["results"]),
                "replica": sum("accounts_account" in q["sql"] for q in on_replica),
                "primary": sum("accounts_account" in q["sql"] for q in on_primary)}

    def replica_sees(external_id: str) -> None:
        connections["replica"].set_tenant(tenant)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(ProgrammingError):  # the new tenant's schema is not replayed yet
                if Account.objects.using("replica").filter(external_id=external_id).exists():
                    return
            assert time.monotonic() < deadline, "the standby did not replay the write within 60 s"
            time.sleep(0.1)

    result: dict = {}
    if part == "streaming":
        replica_sees(f"{part}-1")
        # The key's first use records it (last_used_at): a GET that writes reads from the primary from then on.
        result["first_use"] = read(client())
        result["read"] = read(client())  # within the minute: no write
        writer = client()
        written = writer.post("/api/v1/accounts/bulk", {"accounts": [{"external_id": f"{part}-2", "name": "Mine"}]},
                              content_type="application/json")
        result["write_status"] = written.status_code
        result["own_write"] = read(writer)
        with connections["replica"].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_pause()")
        try:
            with tenant_context(tenant):
                Account.objects.create(external_id=f"{part}-3", name="Written while the replica is paused")
            time.sleep(2.5)  # past REPLICA_MAX_LAG_SECONDS (1 s here)
            result["lagging"] = read(client())
        finally:
            with connections["replica"].cursor() as cursor:
                cursor.execute("SELECT pg_wal_replay_resume()")
    else:  # the replica is down
        result["down"] = read(client(), watch_replica=False)
    with tenant_context(tenant):
        Account.objects.filter(external_id__startswith=part).delete()
    print("RESULT " + json.dumps(result))


def run_scenario(standby: Standby, part: str, django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        env = worker_env() | {"DATABASE_REPLICA_URL": standby.url(connection.settings_dict["NAME"]),
                              "REPLICA_MAX_LAG_SECONDS": "1", "REPLICA_HEALTH_SECONDS": "0"}
    output = committed(f"from tests.core.test_replica import scenario; scenario({part!r})", env)
    return json.loads(output.split("RESULT ", 1)[1])


@pytest.fixture(scope="module")
def tenant_dropped_afterwards(django_db_blocker) -> Iterator[None]:
    yield
    from tests.livetenant import tenant_drop

    with django_db_blocker.unblock():
        tenant_drop(SLUG)


def test_reads_go_to_the_replica_in_the_tenant_schema_and_a_writer_reads_its_own_writes(
        standby, tenant_dropped_afterwards, django_db_blocker):
    result = run_scenario(standby, "streaming", django_db_blocker)

    assert result["first_use"] == {"status": 200, "accounts": ["streaming-1"], "replica": 0, "primary": 1}
    # Answered from the replica, where the tenant's search_path found its accounts table and its row.
    assert result["read"] == {"status": 200, "accounts": ["streaming-1"], "replica": 1, "primary": 0}
    # The writer's next read: from the primary, with the write in it (the replica may not have it yet).
    assert result["write_status"] == 200
    assert result["own_write"] == {"status": 200, "accounts": ["streaming-1", "streaming-2"], "replica": 0,
                                   "primary": 1}
    # A replica behind by more than the allowed lag is not read: the primary answers, with the latest row.
    assert result["lagging"]["replica"] == 0 and result["lagging"]["primary"] == 1
    assert "streaming-3" in result["lagging"]["accounts"]


def test_reads_fall_back_to_the_primary_when_the_replica_is_down(standby, tenant_dropped_afterwards,
                                                                  django_db_blocker):
    standby.stop()

    result = run_scenario(standby, "down", django_db_blocker)

    assert result["down"] == {"status": 200, "accounts": ["down-1"], "replica": 0, "primary": 1}
