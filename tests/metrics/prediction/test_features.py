"""Features and labels per account and observation date: censoring, horizons, and nothing read after the date."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.db import connection

from metrics.prediction.features import FEATURE_NAMES, Outcomes, observations, outcomes
from tests.metrics.prediction import world
from tests.metrics.prediction.conftest import UNTIL


def _rows_of(rows, account_id: int) -> dict[date, dict]:
    """{observation date: {"label", "known_on", "horizon", feature: value}} of one account."""
    result = {}
    for index in np.flatnonzero(rows.account_ids == account_id):
        day = rows.observed_on[index].astype(object)
        result[day] = {"label": int(rows.label[index]), "known_on": rows.known_on[index].astype(object),
                       "horizon": int(rows.horizon_days[index]),
                       **dict(zip(FEATURE_NAMES, rows.values[index].tolist(), strict=True))}
    return result


def test_an_outcome_not_known_on_the_cutoff_is_censored_never_labelled_renewed(spec):
    start = date(2025, 1, 1)
    churned, staying, churns_later = world.build([
        world.Customer(start=start, churn=date(2026, 3, 1)),
        world.Customer(start=start),
        world.Customer(start=start, churn=date(2026, 8, 1)),  # after the cutoff, in data the cutoff must not see
    ], until=date(2026, 9, 30))

    rows = observations(spec=spec, cutoff=UNTIL, steps=spec.steps)

    lost = _rows_of(rows, churned)
    assert date(2026, 3, 2) not in lost  # not paying any more: not a customer to predict
    assert [lost[day]["label"] for day in (date(2026, 1, 31), date(2026, 1, 1), date(2025, 12, 2))] == [1, 1, 1]
    assert lost[date(2025, 11, 2)]["label"] == 0  # its 90 days ended before the churn month
    kept = _rows_of(rows, staying)
    assert kept[date(2026, 4, 1)]["label"] == 0
    assert kept[date(2026, 4, 1)]["known_on"] == UNTIL
    assert [kept[day]["label"] for day in (date(2026, 5, 1), date(2026, 5, 31), UNTIL)] == [-1, -1, -1]
    later = _rows_of(rows, churns_later)
    assert later[date(2026, 5, 31)]["label"] == -1  # the churn in August is not known on 30 June
    assert later[date(2026, 4, 1)]["label"] == 0  # still paying on 30 June: as known then


def test_without_a_horizon_the_outcome_is_the_next_renewal_plus_grace(spec):
    (account,) = world.build([world.Customer(start=date(2024, 9, 15), renewal=date(2026, 9, 15),
                                             churn=date(2025, 10, 1))], until=UNTIL)

    rows = _rows_of(observations(spec=replace(spec, horizon_days=None), cutoff=UNTIL, steps=spec.steps), account)

    # 3 September 2025: the renewal of 15 September is 12 days away; not paying 30 days after it (October's MRR
    # is 0): churned, known on 15 October.
    assert (rows[date(2025, 9, 3)]["horizon"], rows[date(2025, 9, 3)]["label"]) == (12, 1)
    assert rows[date(2025, 9, 3)]["known_on"] == date(2025, 10, 15)
    assert rows[date(2025, 9, 3)]["days_to_renewal"] == 12
    # 4 August 2025: the same renewal, 42 days away.
    assert rows[date(2025, 8, 4)]["horizon"] == 42


def test_a_feature_of_a_date_reads_nothing_dated_after_it(spec):
    customers = world.noise(until=UNTIL, accounts=40)
    ids = world.build(customers, until=UNTIL)
    before = observations(spec=spec, cutoff=UNTIL, steps=spec.steps)
    checked = UNTIL - timedelta(days=60)

    later = datetime.combine(checked + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=1)
    with connection.cursor() as cursor:
        # Usage, surveys, tickets and revenue after the checked date; the tickets open then get resolved.
        cursor.execute("UPDATE accounts_usagedaily SET events = events * 7 WHERE day > %s", [checked])
        cursor.execute("UPDATE accounts_userdaily SET user_id = user_id || '-new' WHERE day > %s", [checked])
        cursor.execute("UPDATE accounts_revenuesnapshot SET mrr = 0 WHERE month > %s", [checked])
        cursor.execute("UPDATE accounts_supportticket SET resolved_at = %s "
                       "WHERE opened_at < %s AND resolved_at IS NULL", [later, later])
        for account_id in ids[:10]:
            cursor.execute("INSERT INTO accounts_surveyresponse (account_id, external_id, kind, score, comment, "
                           "respondent, responded_at) VALUES (%s, %s, 'nps', 0, '', '', %s)",
                           [account_id, f"late-{account_id}", later])
            cursor.execute("INSERT INTO accounts_supportticket (account_id, external_id, subject, priority, "
                           "opened_at, handling_minutes) VALUES (%s, %s, '', 'urgent', %s, 10)",
                           [account_id, f"late-{account_id}", later])
    after = observations(spec=spec, cutoff=UNTIL, steps=spec.steps)

    def on_or_before(rows):
        keep = rows.observed_on <= np.datetime64(checked)
        return rows.account_ids[keep], rows.observed_on[keep], rows.values[keep]

    ids_before, dates_before, values_before = on_or_before(before)
    ids_after, dates_after, values_after = on_or_before(after)
    assert len(ids_before) > 500
    assert (ids_before == ids_after).all() and (dates_before == dates_after).all()
    np.testing.assert_array_equal(values_before, values_after)


def test_unresolved_tickets_count_on_the_dates_they_were_open(spec):
    (account,) = world.build([world.Customer(start=date(2025, 1, 1), tickets=[
        (date(2026, 5, 20), date(2026, 6, 15)),  # open on 31 May, resolved by 30 June
        (date(2026, 3, 10), None),  # open ever since
    ])], until=UNTIL)

    rows = _rows_of(observations(spec=spec, cutoff=UNTIL, steps=spec.steps), account)

    assert [rows[day]["open_tickets"] for day in (UNTIL, date(2026, 5, 31), date(2026, 5, 1), date(2026, 3, 2))] \
        == [1, 2, 1, 0]
    assert rows[date(2026, 5, 31)]["tickets_90"] == 2


def test_a_row_is_the_same_as_history_in_a_training_frame_and_when_scored_on_its_own_date(spec):
    """What a model learned from (a row of a frame ending months later) and what it is given when the date is
    scored (a frame of that one date) must be the same numbers, or the model is fed something it never saw."""
    customers = world.noise(until=UNTIL, accounts=40)
    for index, customer in enumerate(customers[:10]):  # answers long before the scored date, and recent ones
        customer.nps = [(customer.start + timedelta(days=5 + index), 2), (UNTIL - timedelta(days=200), 9)]
    for index, silent_days in ((12, 400), (13, 600)):  # silent long before the scored dates, still paying
        customers[index].start = world.month_start(UNTIL - timedelta(days=700))
        customers[index].churn, customers[index].silent_from = None, UNTIL - timedelta(days=silent_days)
    ids = world.build(customers, until=UNTIL)
    with connection.cursor() as cursor:  # two accounts reach first value only after the scored dates
        cursor.execute("DELETE FROM accounts_usagedaily WHERE account_id = ANY(%s) AND day < %s",
                       [ids[10:12], UNTIL - timedelta(days=100)])
    history = observations(spec=spec, cutoff=UNTIL, steps=spec.steps)

    for back in (150, 240, 390):
        scored_on = UNTIL - timedelta(days=back)
        scored = observations(spec=spec, cutoff=scored_on, steps=1, with_labels=False)
        kept = history.observed_on == np.datetime64(scored_on)
        assert len(scored) == kept.sum() > 0
        assert (history.account_ids[kept] == scored.account_ids).all()
        np.testing.assert_array_equal(history.values[kept], scored.values)
    for index, expected in ((12, [251, 161, 11]), (13, [390, 361, 211])):  # last used the day before silence
        silent = _rows_of(history, ids[index])
        assert [silent[UNTIL - timedelta(days=back)]["days_since_last_use"] for back in (150, 240, 390)] == expected


def test_rows_without_features_are_the_same_rows_with_the_same_mrr_renewal_and_horizon(spec):
    """A date no model can score reads the rows bare: the same accounts, MRR, renewal and horizon as with the
    features, and no feature at all (never zeros or NaNs a model could be handed)."""
    customers = world.noise(until=UNTIL, accounts=30)
    for index, customer in enumerate(customers[:12]):
        customer.renewal = UNTIL + timedelta(days=20 + 15 * index)
    world.build(customers, until=UNTIL)
    no_horizon = replace(spec, horizon_days=None)

    full = observations(spec=no_horizon, cutoff=UNTIL, steps=1, with_labels=False)
    bare = observations(spec=no_horizon, cutoff=UNTIL, steps=1, with_labels=False, with_features=False)

    assert len(bare) == len(full) > 0
    for name in ("account_ids", "observed_on", "mrr", "next_renewal", "horizon_days"):
        np.testing.assert_array_equal(getattr(bare, name), getattr(full, name))
    assert set(full.horizon_days.tolist()) > {90}
    assert bare.values.shape == (len(full), 0) and bare.categories == {}
    assert full.values.shape == (len(full), len(FEATURE_NAMES)) and not np.isnan(full.values).all()


def test_the_outcomes_counted_in_sql_are_the_counts_of_the_labelled_rows_read_in_full(spec):
    """What screens a history before training (features.outcomes): the same groups and counts as the rows."""
    customers = world.noise(until=UNTIL, accounts=60)
    for index, customer in enumerate(customers[:20]):
        customer.renewal = UNTIL - timedelta(days=200 - 9 * index)
    world.build(customers, until=UNTIL)

    for case in (spec, replace(spec, horizon_days=None)):
        rows = observations(spec=case, cutoff=UNTIL, steps=case.steps, with_features=False)
        counted = outcomes(spec=case, cutoff=UNTIL, steps=case.steps)
        expected = Outcomes.of(rows)

        assert len(counted) == len(rows) > 100 and len(counted.count) < len(rows)
        assert {-1, 0, 1} <= set(counted.label.tolist())
        key = lambda o: sorted(zip(o.observed_on.tolist(), o.known_on.tolist(), o.label.tolist(),  # noqa: E731
                                   o.horizon_days.tolist(), o.count.tolist(), strict=True))
        assert key(counted) == key(expected)

    some = sorted(set(rows.account_ids.tolist()))[::3]  # a training sample's accounts: theirs only
    counted = outcomes(spec=spec, cutoff=UNTIL, steps=spec.steps, account_ids=some)
    expected = Outcomes.of(observations(spec=spec, cutoff=UNTIL, steps=spec.steps, with_features=False,
                                        account_ids=some))
    assert 0 < len(counted) < len(rows) and key(counted) == key(expected)
