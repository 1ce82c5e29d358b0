"""A computation run of every account computes KPIs that share nothing on several connections at once
(METRICS_COMPUTE_CONNECTIONS): the same values as one connection, each group of KPIs sharing an input on one
connection, the KPIs reading others' values after them, every connection in the run's tenant; inside a caller's
transaction (which other connections cannot see) and for an incremental run, one connection."""

import contextlib
import datetime as dt
import json
import threading
import time
from types import SimpleNamespace

import pytest
from django.db import connection

from metrics import services
from metrics.catalogue import CATALOGUE
from metrics.models import KPI, MetricValue
from metrics.services import _families, kpi_create, kpis_compute
from tests.accounts.factories import AccountFactory
from tests.metrics.surveys import nps_answer, nps_kpi
from tests.realstack import committed

AS_OF = dt.date(2026, 11, 30)
COHORT = {"grr", "nrr", "expansion-rate", "contraction-rate", "revenue-churn", "logo-churn"}


def _catalogue() -> list[KPI]:
    return [KPI(slug=entry.slug, calculator=entry.calculator, params=dict(entry.params)) for entry in CATALOGUE]


def test_kpis_sharing_an_input_fall_in_one_group_and_the_others_stand_alone():
    families = {frozenset(kpi.slug for kpi in family) for family in _families(_catalogue())}

    assert COHORT in families, "the six cohort KPIs read one table of each account's MRR"
    assert {"stickiness", "seat-utilization", "feature-adoption"} <= next(
        family for family in families if "stickiness" in family), "the users' activity of the window"
    assert frozenset({"renewal-probability", "expansion-potential"}) in families, "the accounts' features"
    assert frozenset({"nps"}) in families and frozenset({"csat"}) in families
    assert sum(len(family) for family in families) == len(CATALOGUE)
    assert len(families) > 2


def test_a_kpi_with_broken_parameters_shares_nothing_and_still_gets_a_group_of_its_own():
    broken = KPI(slug="broken", calculator="revenue.grr", params={"window_months": "twelve"})

    families = _families([broken, *_catalogue()])

    assert [broken] in families


class TimeIsUp(BaseException):
    """What Celery's soft time limit raises in the run's thread (a BaseException there too)."""


def test_when_the_runs_thread_is_interrupted_the_other_connection_finishes_its_group_and_takes_no_other(
        monkeypatch):
    """A task's soft time limit interrupts only the run's own thread: the helper must not go on computing the
    groups left after the run has stopped, and the interruption must reach the task."""
    computed: list[tuple[bool, str]] = []
    helper_started = threading.Event()

    def computing(family, **_):
        main = threading.current_thread() is threading.main_thread()
        if main:
            helper_started.wait(5)
            computed.append((main, family[0].slug))
            raise TimeIsUp
        helper_started.set()
        time.sleep(0.3)
        computed.append((main, family[0].slug))

    monkeypatch.setattr(services, "_kpis_computed", computing)
    monkeypatch.setattr(services, "_computation_session", lambda **_: contextlib.nullcontext())
    monkeypatch.setattr(connection, "tenant", SimpleNamespace(schema_name="acme"), raising=False)
    monkeypatch.setattr(connection, "set_tenant", lambda tenant: None)
    families = [[KPI(slug=f"kpi-{n}")] for n in range(8)]
    tally = SimpleNamespace(run=SimpleNamespace(as_of=AS_OF))

    with pytest.raises(TimeIsUp):
        services._computed_side_by_side(families, tally=tally, connections=2)

    assert len(computed) == 2 and {main for main, _ in computed} == {True, False}, computed


# In a process of its own, so that what it writes is committed and other connections see it: a demo tenant of
# 40 accounts, the whole catalogue computed for one date on one connection, then again on two; where each KPI was
# computed (backend, schema, main thread or not) and what was stored. The tenant is dropped after.
SIDE_BY_SIDE = """
import datetime as dt, json, threading
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context, tenant_context
from metrics import services
from metrics.models import MetricValue
from tenants.models import Tenant
from workspace.demo.seed import seed_demo

AS_OF = dt.date.fromisoformat({as_of!r})
for left_over in Tenant.objects.filter(slug="side-by-side"):
    left_over.delete(force_drop=True)
seed_demo(slug="side-by-side", accounts=40, seed=11, as_of=AS_OF, progress=False, kpi_history_weeks=0)
tenant = Tenant.objects.get(slug="side-by-side")
where, computing = {{}}, services.kpi_compute


def spy(*, kpi, **kwargs):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), current_schema()")
        pid, schema = cursor.fetchone()
    where[kpi.slug] = [pid, schema, threading.current_thread() is threading.main_thread()]
    return computing(kpi=kpi, **kwargs)


services.kpi_compute = spy
services.SIDE_BY_SIDE_FROM_ACCOUNTS = 40  # a tenant of 40 accounts, as if it were a big one
out = {{}}
try:
    with tenant_context(tenant):
        for connections in (1, 2, "refused"):
            if connections == "refused":  # a second connection cannot be opened: a port nothing listens on
                port, connection.settings_dict["PORT"] = connection.settings_dict["PORT"], 9
            settings.METRICS_COMPUTE_CONNECTIONS = 2 if connections == "refused" else connections
            MetricValue.objects.filter(as_of=AS_OF).delete()
            where.clear()
            run = services.kpis_compute(as_of=AS_OF)
            stored = MetricValue.objects.filter(as_of=AS_OF).values_list(
                "kpi__slug", "scope", "account_id", "dimension", "segment", "value", "numerator", "denominator",
                "sample_size", "details")
            out[connections] = {{"status": run.status, "errors": run.errors, "values": run.values_computed,
                                "written": run.rows_written, "where": dict(where),
                                "stored": sorted(json.dumps(row, default=str) for row in stored)}}
            if connections == "refused":
                connection.settings_dict["PORT"] = port
    with schema_context("alpha"):
        out["alpha"] = MetricValue.objects.filter(as_of=AS_OF).count()
finally:
    tenant.delete(force_drop=True)
print(json.dumps(out))
"""


@pytest.mark.django_db(transaction=False)
def test_two_connections_store_what_one_stores_with_each_group_on_one_connection_in_the_runs_tenant():
    out = json.loads(committed(SIDE_BY_SIDE.format(as_of=AS_OF.isoformat())).splitlines()[-1])
    one, two = out["1"], out["2"]

    assert (one["status"], one["errors"], two["status"], two["errors"]) == ("succeeded", [], "succeeded", [])
    assert two["stored"] == one["stored"] and len(one["stored"]) == one["values"] == two["values"] > 1000
    assert two["written"] == one["written"] == one["values"]
    assert len({pid for pid, _, _ in one["where"].values()}) == 1
    # Two connections, both in the run's tenant; the KPIs of one group on one; the health score, which reads the
    # others' stored values, after them all, on the run's own connection.
    pids = {slug: pid for slug, (pid, _, _) in two["where"].items()}
    assert len(set(pids.values())) == 2
    assert {schema for _, schema, _ in two["where"].values()} == {"side_by_side"}
    assert len({pids[slug] for slug in COHORT}) == 1
    assert pids["renewal-probability"] == pids["expansion-potential"]
    assert two["where"]["health-score"][2] is True
    assert list(two["where"])[-1] == "health-score"
    assert set(two["where"]) == {entry.slug for entry in CATALOGUE}
    assert out["alpha"] == 0, "nothing written in another tenant"
    # When the second connection cannot be opened, the run's own connection computes every KPI.
    refused = out["refused"]
    assert (refused["status"], refused["errors"], refused["stored"]) == ("succeeded", [], one["stored"])
    assert {main for _, _, main in refused["where"].values()} == {True}


def _where(monkeypatch) -> dict[str, int]:
    where: dict[str, int] = {}
    computing = services.kpi_compute

    def spy(*, kpi, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            where[kpi.slug] = cursor.fetchone()[0]
        return computing(kpi=kpi, **kwargs)

    monkeypatch.setattr(services, "kpi_compute", spy)
    return where


def test_inside_a_callers_transaction_and_for_an_incremental_run_one_connection_computes(monkeypatch, settings):
    """Other connections would not see what the caller's transaction wrote (here: the test's own data)."""
    settings.METRICS_COMPUTE_CONNECTIONS = 4
    grr = kpi_create(slug="grr", name="GRR", calculator="revenue.grr", definition="GRR.", tier="retention",
                     indicator="lagging", unit="percent")
    nps = nps_kpi()
    account = AccountFactory()
    nps_answer(account, 10)
    where = _where(monkeypatch)

    run = kpis_compute(as_of=AS_OF, kpis=[grr, nps])
    incremental = kpis_compute(as_of=AS_OF, kpis=[grr, nps], account_ids=[account.pk])

    assert (run.status, incremental.status) == ("succeeded", "succeeded")
    assert set(where) == {"grr", "nps"} and set(where.values()) == {connection.connection.info.backend_pid}
    assert MetricValue.objects.get(kpi=nps, scope="account", account=account, as_of=AS_OF).value == 100
