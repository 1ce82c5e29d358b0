"""The field specs that check every bulk item: what each accepts, how it normalises, what it refuses."""

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework import serializers

from core.errors import InvalidInput
from integrations.validation import (
    Choice,
    Day,
    Email,
    FieldError,
    Integer,
    ItemSpec,
    Money,
    Month,
    Object,
    Text,
    Timestamp,
    duplicates_flag,
)


def _refused(spec, value, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        spec.parse(value)


@pytest.mark.parametrize(("value", "parsed"), [("  ACME-1 ", "ACME-1"), (42, "42"), (4.5, "4.5")])
def test_text_strips_and_accepts_numeric_ids_as_text(value, parsed):
    assert Text().parse(value) == parsed


@pytest.mark.parametrize(("value", "message"), [
    (["a"], "must be a string"), (True, "must be a string"), ("   ", "must not be empty"),
    ("x" * 11, "at most 10 characters"), ("a\x00b", "NUL"),
])
def test_text_refuses_non_strings_blanks_overlong_and_nul(value, message):
    _refused(Text(max_length=10), value, message)


def test_text_allows_blank_only_when_told():
    assert Text(allow_blank=True).parse("  ") == ""


def test_email_is_lowercased_and_must_look_like_an_address():
    assert Email().parse(" Ann@Example.COM ") == "ann@example.com"
    _refused(Email(), "ann.example.com", "must be an email address")


def test_choice_normalises_case_and_lists_the_options_when_refused():
    choice = Choice(choices=(("nps", "NPS"), ("csat", "CSAT")))

    assert choice.parse(" NPS ") == "nps"
    _refused(choice, "ces", "must be one of: nps, csat")
    _refused(choice, 1, "must be one of")


@pytest.mark.parametrize(("value", "parsed"), [(3, 3), (3.0, 3), (0, 0)])
def test_integer_accepts_whole_numbers_including_integral_floats(value, parsed):
    assert Integer(min_value=0).parse(value) == parsed


@pytest.mark.parametrize(("value", "message"), [
    (True, "whole number"), ("3", "whole number"), (2.5, "whole number"), (None, "whole number"),
    (-1, "at least 0"), (11, "at most 10"),
])
def test_integer_refuses_booleans_strings_fractions_and_out_of_bounds(value, message):
    _refused(Integer(min_value=0, max_value=10), value, message)


@pytest.mark.parametrize(("value", "parsed"), [
    (1200, Decimal("1200.00")), ("99.5", Decimal("99.50")), (0, Decimal("0.00")), (12.25, Decimal("12.25")),
])
def test_money_accepts_numbers_and_numeric_strings_to_the_cent(value, parsed):
    assert Money().parse(value) == parsed


@pytest.mark.parametrize(("value", "message"), [
    (-0.01, "must not be negative"), ("-5", "must not be negative"), ("1.005", "at most two decimal places"),
    ("abc", "must be a number"), (True, "must be a number"), ([1], "must be a number"),
    ("NaN", "finite"), ("1e12", "too large"),
])
def test_money_refuses_negatives_fractions_of_cents_non_numbers_and_huge_amounts(value, message):
    _refused(Money(), value, message)


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-22T10:00:00Z", dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)),
    ("2026-11-22T12:00:00+02:00", dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)),
])
def test_timestamp_reads_iso_8601_with_a_time_zone(value, expected):
    assert Timestamp().parse(value) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("2026-11-22T10:00:00", "needs a time zone"), ("2026-11-22", "needs a time zone"),
    ("yesterday", "ISO 8601"), (1700000000, "ISO 8601 date-time string"),
    ("1969-12-31T23:00:00Z", "between the years 1970 and 2200"),
])
def test_timestamp_refuses_naive_unparseable_numeric_and_implausible_times(value, message):
    _refused(Timestamp(), value, message)


def test_day_reads_iso_dates_and_refuses_others():
    assert Day().parse("2026-02-28") == dt.date(2026, 2, 28)
    _refused(Day(), "2026-02-30", "must be a date YYYY-MM-DD")
    _refused(Day(), 20260228, "must be a date string")


@pytest.mark.parametrize("value", ["2026-13", "2026-1", "2026-01-01", "26-01", 202601, "1969-12"])
def test_month_refuses_anything_but_a_real_yyyy_mm(value):
    _refused(Month(), value, "must be a month YYYY-MM")


def test_month_is_stored_as_its_first_day():
    assert Month().parse("2026-02") == dt.date(2026, 2, 1)


def test_object_takes_json_objects_up_to_its_key_limit():
    assert Object(max_keys=2).parse({"a": 1, "b": [1]}) == {"a": 1, "b": [1]}
    _refused(Object(max_keys=2), {"a": 1, "b": 2, "c": 3}, "at most 2 keys")
    _refused(Object(), ["a"], "must be a JSON object")


@pytest.mark.parametrize("value", [{"note": "a\x00b"}, {"a\x00": 1}, {"nested": [{"deep": "\x00"}]}])
def test_object_refuses_nul_characters_anywhere_since_postgresql_cannot_store_them(value):
    _refused(Object(), value, "NUL")


def test_object_refuses_integers_beyond_64_bits_which_cannot_be_encoded():
    _refused(Object(), {"big": [10**30]}, "64 bits")


def test_object_walks_deep_nesting_without_exhausting_the_stack():
    document: dict = {}
    for _ in range(5000):
        document = {"d": document}

    assert Object().parse(document) is document


SPEC = ItemSpec("Thing", {
    "id": Text(),
    "count": Integer(min_value=0),
    "note": Text(required=False),
    "ended": Day(required=False, nullable=True),
})


def test_item_spec_returns_the_valid_fields_and_reports_each_bad_one():
    errors: list[dict] = []

    parsed = SPEC.parse(3, {"id": "t-1", "count": -2, "ended": None}, errors)

    assert parsed == {"id": "t-1", "ended": None}
    assert errors == [{"index": 3, "field": "count", "message": "must be at least 0"}]


def test_item_spec_reports_missing_required_fields_and_nulls_where_not_allowed():
    errors: list[dict] = []

    SPEC.parse(0, {"count": None}, errors)

    assert errors == [{"index": 0, "field": "id", "message": "is required"},
                      {"index": 0, "field": "count", "message": "must not be null"}]


def test_item_spec_reports_unknown_fields_by_name():
    errors: list[dict] = []

    SPEC.parse(1, {"id": "t", "count": 1, "colour": "red", "age": 3}, errors)

    assert errors == [{"index": 1, "field": "age", "message": "unknown field(s): age, colour"}]


def test_item_spec_refuses_an_item_that_is_not_an_object():
    errors: list[dict] = []

    assert SPEC.parse_all([{"id": "t", "count": 1}, ["t", 1]], errors) == [{"id": "t", "count": 1}, None]
    assert errors == [{"index": 1, "field": None, "message": "must be a JSON object"}]


def test_item_spec_describes_itself_as_a_drf_serializer_for_the_schema():
    serializer = SPEC.serializer()()

    assert list(serializer.fields) == ["id", "count", "note", "ended"]
    assert isinstance(serializer.fields["count"], serializers.IntegerField)
    assert serializer.fields["count"].min_value == 0
    assert serializer.fields["note"].required is False
    assert serializer.fields["ended"].allow_null is True


def test_duplicates_flag_points_every_repeat_at_its_first_occurrence_and_skips_missing_keys():
    errors: list[dict] = []

    duplicates_flag([(0, "a"), (1, "b"), (2, "a"), (3, None), (4, None), (5, "a")], "id", errors, "event id")

    assert errors == [
        {"index": 2, "field": "id", "message": "duplicate event id in this batch (first at index 0)"},
        {"index": 5, "field": "id", "message": "duplicate event id in this batch (first at index 0)"},
    ]


def test_invalid_input_lists_errors_by_index_with_whole_request_errors_last():
    error = InvalidInput("bad", [{"index": 4, "message": "x"}, {"index": None, "message": "y"},
                                 {"index": 0, "message": "z"}])

    assert [e["index"] for e in error.errors] == [0, 4, None]
    assert error.status_code == 400
