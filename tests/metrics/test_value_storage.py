"""How the engine stores values: a rerun rewrites only what changed, stale rows go, and the values' references
(KPI, account, run) are kept whole by the statement-level triggers of metrics migration 0006 as foreign keys
would keep them: checked, locked against a concurrent delete, cascaded."""

import datetime as dt
import subprocess
import sys
import time

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from metrics.models import ComputationRun, MetricValue
from metrics.services import computation_run_create, computation_run_execute, kpi_compute, kpi_create, kpi_update
from tests.accounts.factories import AccountFactory
from tests.metrics.surveys import nps_answer, nps_kpi
from tests.realstack import ROOT, committed, raw_connection, worker_env

AS_OF = dt.date(2026, 11, 20)


@pytest.fixture
def nps():
    return nps_kpi()



def _rows(kpi) -> dict[tuple, tuple]:
    return {(row.scope, row.account_id, row.dimension, row.segment): (row.pk, row.value, row.run_id)
            for row in MetricValue.objects.filter(kpi=kpi, as_of=AS_OF)}


def _run(kpi) -> ComputationRun:
    return computation_run_execute(run=computation_run_create(as_of=AS_OF, trigger="manual", kpis=[kpi]))


def test_a_rerun_over_unchanged_data_writes_nothing_and_keeps_the_run_that_produced_each_value(nps):
    for account in AccountFactory.create_batch(3, plan="Growth"):
        nps_answer(account, 10)
    first = _run(nps)
    before = _rows(nps)

    again = _run(nps)

    assert (first.values_computed, first.rows_written) == (len(before), len(before))
    assert (again.values_computed, again.rows_written) == (len(before), 0)
    assert _rows(nps) == before
    assert {run for _, _, run in before.values()} == {first.pk}


def test_a_rerun_rewrites_exactly_the_changed_values_under_the_new_run(nps):
    changed, same = AccountFactory(plan="Growth"), AccountFactory(plan="Starter")
    nps_answer(changed, 10)
    nps_answer(same, 10)
    _run(nps)
    before = _rows(nps)
    nps_answer(changed, 0)  # (1 - 1) / 2 = 0

    again = _run(nps)

    after = _rows(nps)
    moved = {key for key in after if after[key][1:] != before[key][1:]}
    # The account, its plan, region, industry, stage, size band and owner segments, and the portfolio: the
    # other account is alone in its plan; the factory gives both the same region, industry, stage and owner.
    assert ("account", changed.pk, "", "") in moved and ("account", same.pk, "", "") not in moved
    assert ("segment", None, "plan", "Growth") in moved and ("segment", None, "plan", "Starter") not in moved
    assert ("portfolio", None, "", "") in moved
    assert again.rows_written == len(moved)
    assert all(after[key][2] == again.pk for key in moved)
    assert all(after[key] == before[key] for key in after.keys() - moved)
    assert after[("account", changed.pk, "", "")][1] == 0


def test_a_new_kpi_version_restamps_every_value_even_an_equal_one(nps):
    nps_answer(AccountFactory(), 10)
    kpi_compute(kpi=nps, as_of=AS_OF)
    nps = kpi_update(kpi=nps, params={"window_days": 60}, reason="A quarter of answers")

    computed = kpi_compute(kpi=nps, as_of=AS_OF)

    stored = MetricValue.objects.filter(kpi=nps, as_of=AS_OF)
    assert set(stored.values_list("kpi_version", flat=True)) == {2}
    assert computed.written == computed.values == stored.count()


def test_an_account_that_no_longer_qualifies_and_an_emptied_segment_lose_their_rows(nps):
    leaving, staying = AccountFactory(plan="Legacy"), AccountFactory(plan="Growth")
    nps_answer(leaving, 10)
    nps_answer(staying, 10)
    kpi_compute(kpi=nps, as_of=AS_OF)
    leaving.survey_responses.all().delete()

    kpi_compute(kpi=nps, as_of=AS_OF)

    stored = MetricValue.objects.filter(kpi=nps, as_of=AS_OF)
    assert not stored.filter(account=leaving).exists()
    assert not stored.filter(dimension="plan", segment="Legacy").exists()
    assert stored.filter(account=staying).exists() and stored.filter(segment="Growth").exists()


def test_an_incremental_run_only_rewrites_the_touched_accounts_and_the_aggregates_that_moved(nps):
    touched, untouched = AccountFactory(plan="Growth"), AccountFactory(plan="Starter")
    nps_answer(touched, 10)
    nps_answer(untouched, 10)
    kpi_compute(kpi=nps, as_of=AS_OF)
    nps_answer(touched, 0)
    nps_answer(untouched, 0)  # not recomputed: its stored value stays and still counts in the portfolio

    kpi_compute(kpi=nps, as_of=AS_OF, account_ids=[touched.pk])

    stored = {(row.account_id, row.segment): row.value for row in MetricValue.objects.filter(kpi=nps, as_of=AS_OF)
              if row.scope != "segment" or row.dimension == "plan"}
    assert stored == {(touched.pk, ""): 0, (untouched.pk, ""): 100, (None, "Growth"): 0, (None, "Starter"): 100,
                      (None, ""): pytest.approx(100 / 3)}  # (2 promoters - 1 detractor) / 3 answers


def _value_row(kpi, account_id: int, run_id: int | None = None) -> MetricValue:
    return MetricValue(kpi=kpi, kpi_version=1, scope="account", account_id=account_id, as_of=AS_OF, value=1,
                       run_id=run_id)


def test_a_value_for_an_account_that_does_not_exist_is_refused_naming_it(nps):
    with pytest.raises(IntegrityError, match="refers to account 987654321, which does not exist"), \
            transaction.atomic():
        MetricValue.objects.bulk_create([_value_row(nps, AccountFactory().pk), _value_row(nps, 987654321)])
    assert not MetricValue.objects.exists()


def test_a_value_for_a_kpi_or_run_that_does_not_exist_is_refused(nps):
    account = AccountFactory()
    with pytest.raises(IntegrityError, match="refers to computation run 987654321"), transaction.atomic():
        _value_row(nps, account.pk, run_id=987654321).save()
    with pytest.raises(IntegrityError, match="refers to KPI"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO metrics_metricvalue (kpi_id, kpi_version, scope, account_id, dimension, segment, "
                       "as_of, sample_size) VALUES (987654321, 1, 'account', %s, '', '', %s, 0)", [account.pk, AS_OF])
    row = _value_row(nps, account.pk)
    row.save()
    with pytest.raises(IntegrityError, match="refers to account 987654321"), transaction.atomic():
        MetricValue.objects.filter(pk=row.pk).update(account_id=987654321)


def test_deleting_accounts_kpis_and_runs_in_sql_cascades_to_values_as_the_foreign_keys_did(nps):
    gone, kept = AccountFactory(), AccountFactory()
    nps_answer(gone, 10)
    nps_answer(kept, 10)
    run = _run(nps)
    other = kpi_create(slug="nps-90", name="NPS 90", calculator="surveys.nps", params={"window_days": 90},
                       definition="NPS over a quarter.", tier="advocacy", indicator="lagging", unit="score")
    kpi_compute(kpi=other, as_of=AS_OF)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_surveyresponse WHERE account_id = %s", [gone.pk])
        cursor.execute("DELETE FROM accounts_account WHERE id = %s", [gone.pk])
        assert not MetricValue.objects.filter(account_id=gone.pk).exists()
        assert MetricValue.objects.filter(account_id=kept.pk).count() == 2

        cursor.execute("DELETE FROM metrics_computationrun WHERE id = %s", [run.pk])
        assert MetricValue.objects.filter(kpi=nps).exists()
        assert not MetricValue.objects.filter(run_id=run.pk).exists()

        cursor.execute("DELETE FROM metrics_kpiversion WHERE kpi_id = %s", [other.pk])
        cursor.execute("DELETE FROM metrics_kpi WHERE id = %s", [other.pk])
        assert not MetricValue.objects.filter(kpi_id=other.pk).exists()
        assert MetricValue.objects.filter(kpi=nps).exists()


def test_the_triggers_work_in_a_cloned_tenant_whatever_the_search_path(nps, tenant):
    account = AccountFactory()
    schema = connection.schema_name
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path TO public")
        with pytest.raises(IntegrityError, match="refers to account 987654321"), transaction.atomic():
            cursor.execute(f'INSERT INTO "{schema}".metrics_metricvalue (kpi_id, kpi_version, scope, account_id, '
                           "dimension, segment, as_of, sample_size) VALUES (%s, 1, 'account', 987654321, '', '', %s, "
                           "0)", [nps.pk, AS_OF])
        cursor.execute(f'INSERT INTO "{schema}".metrics_metricvalue (kpi_id, kpi_version, scope, account_id, '
                       "dimension, segment, as_of, sample_size) VALUES (%s, 1, 'account', %s, '', '', %s, 0)",
                       [nps.pk, account.pk, AS_OF])
        cursor.execute(f'DELETE FROM "{schema}".accounts_account WHERE id = %s', [account.pk])
        cursor.execute(f'SELECT count(*) FROM "{schema}".metrics_metricvalue')
        assert cursor.fetchone()[0] == 0
        cursor.execute(f'SET LOCAL search_path TO "{schema}", public')


SEED = """
from django_tenants.utils import schema_context
from accounts.models import Account
from metrics.services import kpi_create
with schema_context({schema!r}):
    account = Account.objects.create(external_id="LOCKED-1", name="Locked")
    kpi = kpi_create(slug="locked-nps", name="Locked NPS", calculator="surveys.nps", definition="NPS.",
                     tier="advocacy", indicator="lagging", unit="score")
    print(account.pk, kpi.pk)
"""
CLEAN = """
from django_tenants.utils import schema_context
from accounts.models import Account
from metrics.models import KPI
with schema_context({schema!r}):
    Account.objects.filter(external_id="LOCKED-1").delete()
    KPI.objects.filter(slug="locked-nps").delete()
"""


@pytest.mark.django_db(transaction=False)
def test_an_account_cannot_be_deleted_under_a_value_being_written_and_its_delete_then_cascades(tenant):
    """As a foreign key's check does, the insert locks the account FOR KEY SHARE: a concurrent delete waits for
    the writing transaction, then removes the account and, through the trigger, the value just committed."""
    schema = tenant.schema_name
    account_id, kpi_id = map(int, committed(SEED.format(schema=schema)).split()[-2:])
    try:
        with raw_connection() as writer, raw_connection() as deleter:
            writer.autocommit = False
            writer.execute(f'SET search_path TO "{schema}", public')
            deleter.execute(f'SET search_path TO "{schema}", public')
            writer.execute("INSERT INTO metrics_metricvalue (kpi_id, kpi_version, scope, account_id, dimension, "
                           "segment, as_of, sample_size) VALUES (%s, 1, 'account', %s, '', '', %s, 0)",
                           [kpi_id, account_id, AS_OF])
            deleter.execute("SET lock_timeout TO '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                deleter.execute("DELETE FROM accounts_account WHERE id = %s", [account_id])
            writer.commit()

            deleter.execute("DELETE FROM accounts_account WHERE id = %s", [account_id])

            assert deleter.execute("SELECT count(*) FROM metrics_metricvalue WHERE account_id = %s",
                                   [account_id]).fetchone()[0] == 0
    finally:
        committed(CLEAN.format(schema=schema))


ANSWER = """
import datetime as dt
from django_tenants.utils import schema_context
from accounts.models import SurveyResponse
with schema_context({schema!r}):
    SurveyResponse.objects.create(account_id={account_id}, external_id="LOCKED-A", kind="nps", score=9,
                                  responded_at=dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC))
"""
COMPUTE = """
import datetime as dt
from django_tenants.utils import schema_context
from metrics.models import KPI
from metrics.services import kpi_compute
with schema_context({schema!r}):
    computed = kpi_compute(kpi=KPI.objects.get(slug="locked-nps"), as_of=dt.date.fromisoformat({as_of!r}))
    print(computed.values, computed.written)
"""


@pytest.mark.django_db(transaction=False)
def test_two_computations_of_a_kpi_and_date_take_turns_and_store_each_value_once(tenant):
    """A date's first computation inserts its rows without an upsert's probe: that is safe only because two
    computations of the same KPI and date (a nightly run and an ingest's incremental one) take turns."""
    schema = tenant.schema_name
    account_id, kpi_id = map(int, committed(SEED.format(schema=schema)).split()[-2:])
    committed(ANSWER.format(schema=schema, account_id=account_id))
    key = f"{schema}:values:{kpi_id}:{AS_OF.isoformat()}"
    script = COMPUTE.format(schema=schema, as_of=AS_OF.isoformat())
    try:
        with raw_connection() as holder, raw_connection() as observer:
            holder.autocommit = False
            holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
            computations = [subprocess.Popen([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                                             env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             text=True) for _ in range(2)]
            waiting, deadline = 0, time.monotonic() + 60
            while waiting < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
                waiting = observer.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' "
                                           "AND query LIKE %s", ["%:values:%"]).fetchone()[0]
            assert waiting == 2, "both computations wait for the KPI and date"
            holder.commit()
            outputs = [computation.communicate(timeout=120) for computation in computations]

            assert [computation.returncode for computation in computations] == [0, 0], outputs
            # Both computed the account and the aggregates; the first wrote them, the second found them stored.
            written = sorted(int(stdout.split()[-1]) for stdout, _ in outputs)
            assert written[0] == 0 and written[1] > 0
            observer.execute(f'SET search_path TO "{schema}", public')
            assert observer.execute("SELECT count(*) FROM metrics_metricvalue WHERE kpi_id = %s AND as_of = %s "
                                    "AND account_id = %s", [kpi_id, AS_OF, account_id]).fetchone()[0] == 1
    finally:
        committed(CLEAN.format(schema=schema))
