"""Writes to customer data: the notes a CSM writes on an account, and keeping the daily usage rollups in step
with the raw events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from accounts.models import Account, AccountNote

NOTE_MAX_LENGTH = 5000


def tenant_time_zone() -> str:
    """The current tenant's time zone, in which usage days are counted."""
    return getattr(connection.tenant, "time_zone", None) or "UTC"


def local_days(moments: Iterable[datetime]) -> set[date]:
    """The tenant-local calendar days of aware datetimes."""
    zone = ZoneInfo(tenant_time_zone())
    return {moment.astimezone(zone).date() for moment in moments}


@transaction.atomic
def usage_rollups_refresh(*, days: Iterable[date], account_ids: Iterable[int] | None = None) -> int:
    """Recompute the UsageDaily and UserDaily rows of the given days (of the given accounts, or all)
    from the raw events.

    Replacing whole account-days makes the refresh idempotent: running it twice, or concurrently with
    a sweeper, yields the same rows. Returns the number of UsageDaily rows written.
    """
    days = sorted(set(days))
    if not days:
        return 0
    accounts = None if account_ids is None else sorted(set(account_ids))
    account_filter = "" if accounts is None else " AND account_id = ANY(%(accounts)s)"
    tz = tenant_time_zone()
    # Events are selected by a UTC range wide enough for every day in any time zone, then by local day.
    lower = datetime.combine(days[0] - timedelta(days=1), time.min, tzinfo=UTC)
    upper = datetime.combine(days[-1] + timedelta(days=2), time.min, tzinfo=UTC)
    params = {"days": days, "tz": tz, "lower": lower, "upper": upper, "accounts": accounts}
    with connection.cursor() as cursor:
        # Serialise refreshes of the same tenant so two concurrent ones cannot interleave delete and insert.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':usage_rollups'))")
        cursor.execute("DELETE FROM accounts_usagedaily WHERE day = ANY(%(days)s)" + account_filter, params)
        cursor.execute("DELETE FROM accounts_userdaily WHERE day = ANY(%(days)s)" + account_filter, params)
        cursor.execute(
            """
            INSERT INTO accounts_userdaily (account_id, day, user_id, events)
            SELECT account_id, (occurred_at AT TIME ZONE %(tz)s)::date, user_id, count(*)
            FROM accounts_usageevent
            WHERE occurred_at >= %(lower)s AND occurred_at < %(upper)s
              AND (occurred_at AT TIME ZONE %(tz)s)::date = ANY(%(days)s)""" + account_filter + """
            GROUP BY 1, 2, 3
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO accounts_usagedaily (account_id, day, event_name, events, distinct_users)
            SELECT account_id, (occurred_at AT TIME ZONE %(tz)s)::date, event_name, count(*), count(DISTINCT user_id)
            FROM accounts_usageevent
            WHERE occurred_at >= %(lower)s AND occurred_at < %(upper)s
              AND (occurred_at AT TIME ZONE %(tz)s)::date = ANY(%(days)s)""" + account_filter + """
            GROUP BY 1, 2, 3
            """,
            params,
        )
        return cursor.rowcount


def usage_days_received_since(*, since: datetime) -> list[date]:
    """The local days of the events that arrived after `since`: what a sweeper must refresh."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT (occurred_at AT TIME ZONE %s)::date FROM accounts_usageevent WHERE received_at >= %s",
            [tenant_time_zone(), since],
        )
        return [row[0] for row in cursor.fetchall()]


def usage_rollups_refresh_all() -> int:
    """Rebuild every rollup day that has events (used after a bulk load such as the demo seed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT (occurred_at AT TIME ZONE %s)::date FROM accounts_usageevent", [tenant_time_zone()]
        )
        days = [row[0] for row in cursor.fetchall()]
    return usage_rollups_refresh(days=days)


@transaction.atomic
def account_note_create(*, account: Account, author, text: str) -> AccountNote:
    """Write a note on the account (its timeline shows it with the author and time; the audit log records it).
    Raises ValidationError for an empty or overlong note."""
    from django.core.exceptions import ValidationError

    text = text.strip()
    if not text:
        raise ValidationError({"text": "Write something: the note is empty."})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError({"text": f"A note holds at most {NOTE_MAX_LENGTH:,} characters ({len(text):,} given)."})
    note = AccountNote(account=account, author=author, text=text)
    note.full_clean()
    note.save()
    return note
