"""A bulk statement's sorts get `DATABASE_BULK_WORK_MEM` on its own connection, and nothing else keeps it: the
setting is restored after, nested uses keep the outer one, and an error does not leave it behind or hide itself
behind a second error."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from core.db import bulk_work_mem
from metrics.models import Indicator, Scope, Tier, Unit
from metrics.prediction.features import outcomes
from metrics.prediction.spec import Spec
from metrics.services import kpi_create, kpis_compute
from tests.accounts.factories import AccountFactory, SupportTicketFactory


def _work_mem() -> str:
    # psycopg's own connection: not recorded by, nor passed through, Django's execute wrappers
    return connection.connection.execute("SELECT current_setting('work_mem')").fetchone()[0]


@pytest.fixture
def server_work_mem(db, settings) -> str:
    with connection.cursor():
        pass  # opened, in the tenant
    before = _work_mem()
    assert before not in ("77MB", "99MB")
    settings.DATABASE_BULK_WORK_MEM = "77MB"
    return before


def test_the_statements_inside_get_the_bulk_memory_and_the_server_value_comes_back(server_work_mem, settings):
    with bulk_work_mem():
        assert _work_mem() == "77MB"
        settings.DATABASE_BULK_WORK_MEM = "99MB"
        with bulk_work_mem():
            assert _work_mem() == "99MB"
        assert _work_mem() == "77MB"  # the outer amount, not the server's
    assert _work_mem() == server_work_mem


def test_empty_keeps_the_server_setting(server_work_mem, settings):
    settings.DATABASE_BULK_WORK_MEM = ""
    with bulk_work_mem():
        assert _work_mem() == server_work_mem


def test_a_failed_statement_raises_its_own_error_and_leaves_nothing_behind(server_work_mem):
    with (pytest.raises(DatabaseError, match="division by zero"), transaction.atomic(), bulk_work_mem(),
          connection.cursor() as cursor):
        cursor.execute("SELECT 1 / 0")
    assert _work_mem() == server_work_mem  # the savepoint's rollback undid the setting made inside it

    with pytest.raises(ZeroDivisionError), bulk_work_mem():
        1 / 0  # noqa: B018  an error that is not the database's: the setting is restored
    assert _work_mem() == server_work_mem


def test_a_computation_run_computes_every_kpi_with_the_bulk_memory_and_gives_it_back(server_work_mem):
    account = AccountFactory(plan="Growth", owner=None)
    opened = dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC)
    SupportTicketFactory(account=account, opened_at=opened, handling_minutes=0, resolved_at=None,
                         first_response_at=opened + dt.timedelta(hours=3))
    kpi = kpi_create(slug="first-response", name="First response", calculator="support.first_response_hours",
                     params={"window_days": 30}, definition="Test KPI.", tier=Tier.ADVOCACY,
                     indicator=Indicator.LAGGING, unit=Unit.HOURS, scopes=[Scope.ACCOUNT, Scope.PORTFOLIO])
    seen: list[tuple[str, str]] = []

    def record(execute, sql, params, many, context):
        if "metrics_metricvalue" in sql or "support_ticket" in sql.lower():
            seen.append((sql.split()[0].upper(), _work_mem()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        run = kpis_compute(as_of=dt.date(2026, 10, 30), kpis=[kpi])

    assert run.status == "succeeded", run.errors
    assert seen and {work_mem for _, work_mem in seen} == {"77MB"}, seen
    assert _work_mem() == server_work_mem


def test_a_models_outcomes_are_counted_with_the_bulk_memory(server_work_mem):
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        if "GROUP BY 1, 2, 3, 4" in sql:
            seen.append(_work_mem())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        counted = outcomes(spec=Spec(target="renewal"), cutoff=dt.date(2026, 10, 30), steps=2)

    assert seen == ["77MB"] and len(counted) == 0
    assert _work_mem() == server_work_mem
