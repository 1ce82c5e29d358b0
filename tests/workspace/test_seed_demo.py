"""The demo tenant: realistic, deterministic, and safe to seed twice."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context

from accounts.models import Account, AccountStatus, RevenueSnapshot, SupportTicket, SurveyResponse, UsageDaily
from users.models import Role, User
from workspace.demo.seed import seed_demo

AS_OF = dt.date(2026, 6, 30)


def _dump(schema: str) -> dict[str, list[tuple]]:
    """Every seeded row by natural keys, so two schemas can be compared."""
    with schema_context(schema), connection.cursor() as cursor:
        queries = {
            "users": "SELECT email, full_name, role, (SELECT email FROM users_user m WHERE m.id = u.manager_id) "
                     "FROM users_user u ORDER BY u.email",
            "accounts": "SELECT a.external_id, a.name, plan, region, industry, lifecycle_stage, status, start_date, "
                        "renewal_date, licensed_seats, u.email, custom_attributes::text FROM accounts_account a "
                        "LEFT JOIN users_user u ON u.id = a.owner_id ORDER BY a.external_id",
            "revenue": "SELECT a.external_id, month, mrr FROM accounts_revenuesnapshot r "
                       "JOIN accounts_account a ON a.id = r.account_id ORDER BY 1, 2",
            "events": "SELECT idempotency_key, a.external_id, user_id, event_name, occurred_at, properties::text "
                      "FROM accounts_usageevent e JOIN accounts_account a ON a.id = e.account_id ORDER BY 1",
            "rollups": "SELECT a.external_id, day, event_name, events, distinct_users FROM accounts_usagedaily d "
                       "JOIN accounts_account a ON a.id = d.account_id ORDER BY 1, 2, 3",
            "surveys": "SELECT s.external_id, a.external_id, kind, score, comment, respondent, responded_at "
                       "FROM accounts_surveyresponse s JOIN accounts_account a ON a.id = s.account_id ORDER BY 1",
            "tickets": "SELECT t.external_id, a.external_id, subject, priority, opened_at, first_response_at, "
                       "resolved_at, handling_minutes FROM accounts_supportticket t "
                       "JOIN accounts_account a ON a.id = t.account_id ORDER BY 1",
        }
        dump = {}
        for name, sql in queries.items():
            cursor.execute(sql)
            dump[name] = cursor.fetchall()
        return dump


@pytest.fixture
def seeded():
    seed_demo(slug="demo-one", accounts=8, seed=7, as_of=AS_OF, progress=False, kpi_history_weeks=0)
    return "demo_one"


def test_same_seed_gives_identical_data_and_a_different_seed_does_not(seeded):
    seed_demo(slug="demo-two", accounts=8, seed=7, as_of=AS_OF, progress=False, kpi_history_weeks=0)
    seed_demo(slug="demo-three", accounts=8, seed=8, as_of=AS_OF, progress=False, kpi_history_weeks=0)

    one, two, three = _dump("demo_one"), _dump("demo_two"), _dump("demo_three")

    assert one["events"], "the demo must have usage events"
    # Account ids carry the tenant's prefix; compare the rest.
    assert str(one).replace("DEMO-ONE", "X").replace("demo-one", "x") == \
        str(two).replace("DEMO-TWO", "X").replace("demo-two", "x")
    assert str(one).replace("DEMO-ONE", "X") != str(three).replace("DEMO-THREE", "X")


def test_seeding_twice_duplicates_nothing(seeded):
    before = _dump(seeded)

    seed_demo(slug="demo-one", accounts=8, seed=7, as_of=AS_OF, progress=False, kpi_history_weeks=0)

    assert _dump(seeded) == before


def test_demo_has_the_team_and_realistic_shapes(seeded):
    with schema_context(seeded):
        roles = list(User.objects.values_list("role", flat=True))
        assert roles.count(Role.ADMIN) == 1
        assert roles.count(Role.LEADER) == 1
        assert roles.count(Role.MANAGER) == 2
        assert roles.count(Role.CSM) == 8
        assert all(u.manager is not None for u in User.objects.filter(role=Role.CSM))
        assert User.objects.get(email="leader@demo-one.example").check_password("bellwether-demo")

        assert Account.objects.count() == 8
        assert not Account.objects.filter(owner__isnull=True).exists()
        months = RevenueSnapshot.objects.values_list("month", flat=True)
        assert max(months) <= AS_OF and min(months) >= dt.date(2025, 1, 1)
        assert SurveyResponse.objects.exists() and SupportTicket.objects.exists()
        assert UsageDaily.objects.exists()
        churned = Account.objects.filter(status=AccountStatus.CHURNED)
        for account in churned:
            assert account.revenue_snapshots.order_by("-month").first().mrr == 0


def test_if_missing_leaves_a_seeded_tenant_alone(seeded):
    summary = seed_demo(slug="demo-one", accounts=20, seed=99, as_of=AS_OF, if_missing=True,
                        progress=False, kpi_history_weeks=0)

    assert summary.skipped
    with schema_context(seeded):
        assert Account.objects.count() == 8


@pytest.mark.parametrize(
    ("options", "message"),
    [({"accounts": 0}, "accounts"), ({"accounts": 20001}, "accounts"), ({"as_of": "2026-13-01"}, "date"),
     ({"tenant": "Bad Slug"}, "slug")],
)
def test_seed_demo_command_refuses_bad_options(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", verbosity=0, **options)


def test_the_forecast_back_test_is_made_on_the_first_day_of_each_of_the_four_quarters_before():
    from workspace.demo.metrics import _quarter_starts

    assert _quarter_starts(dt.date(2026, 12, 1), 4) == [dt.date(2025, 10, 1), dt.date(2026, 1, 1),
                                                        dt.date(2026, 4, 1), dt.date(2026, 7, 1)]
