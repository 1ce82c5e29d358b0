"""The debounce of incremental recomputes lives in Redis, per tenant."""

import pytest

from metrics.pending import _keys, pending_accounts_add, pending_accounts_take


@pytest.fixture
def clean_keys():
    from metrics.pending import _client

    yield
    _client().delete(*_keys("alpha"), *_keys("bravo"))


def test_first_touch_schedules_and_later_touches_only_add(clean_keys):
    assert pending_accounts_add(schema="alpha", account_ids=[3, 1]) is True
    assert pending_accounts_add(schema="alpha", account_ids=[2, 3]) is False

    assert pending_accounts_take(schema="alpha") == [1, 2, 3]
    assert pending_accounts_take(schema="alpha") == []
    # Taken: the next touch schedules again.
    assert pending_accounts_add(schema="alpha", account_ids=[9]) is True


def test_tenants_never_take_each_others_accounts(clean_keys):
    pending_accounts_add(schema="alpha", account_ids=[1])
    pending_accounts_add(schema="bravo", account_ids=[2])

    assert pending_accounts_take(schema="bravo") == [2]
    assert pending_accounts_take(schema="alpha") == [1]


def test_nothing_touched_schedules_nothing(clean_keys):
    assert pending_accounts_add(schema="alpha", account_ids=[]) is False
