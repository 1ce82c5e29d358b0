"""One date format across the product: a date printed without an explicit format reads like every other date
(ISO 8601, 2026-11-21), not Django's American default (Nov. 21, 2026)."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "Y-m"
