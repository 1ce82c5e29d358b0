"""What to tell a client when PostgreSQL refuses a value that validation let through: a 400 naming the field.

Validation is meant to catch every bad value first (serializers are bounded by their columns, see
`serializers.py`); this is the net under it, so that a missed rule is a clear 400 and a logged warning,
never a 500. The field comes from PostgreSQL's own diagnostics: the column of a NOT NULL violation, or the
fields of the named constraint (a check, a unique or a foreign key constraint of any model).
"""

from __future__ import annotations

import logging
import re
from functools import cache

from django.apps import apps
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import CheckConstraint, Q, UniqueConstraint

logger = logging.getLogger(__name__)

DETAIL = "Invalid input: the database refused the change; nothing was stored."
_KEY_COLUMNS = re.compile(r"Key \(([^)]*)\)=")
_MESSAGES = {
    "23502": "is required",
    "23503": "refers to something that does not exist",
    "23505": "already exists",
    "23514": "is not allowed here (rule {constraint})",
    "22001": "is longer than the field holds",
    "22003": "is out of the range the field holds",
    "22007": "is not a valid date or time",
    "22008": "is out of the range of dates and times the field holds",
}


def database_errors(exc: DataError | IntegrityError) -> list[dict]:
    """The refusal as the API's errors: [{"index": None, "field", "message"}], one per field named."""
    diag = getattr(exc.__cause__, "diag", None)
    sqlstate = getattr(diag, "sqlstate", None) or ""
    constraint = getattr(diag, "constraint_name", None) or ""
    template = _MESSAGES.get(sqlstate)
    message = template.format(constraint=constraint) if template else (
        f"cannot be stored: {getattr(diag, 'message_primary', None) or exc}")
    fields = _fields(diag)
    return [{"index": None, "field": field, "message": message} for field in fields or [None]]


def database_refusal_log(exc: DataError | IntegrityError) -> None:
    """Log the refusal (validation missed a rule: worth a look), and leave no broken transaction behind.

    A failed statement aborts the transaction it ran in; when a request runs inside one that is still open
    (ATOMIC_REQUESTS, or a test's), it is marked to roll back rather than fail at its next query.
    """
    logger.warning("The database refused an API request's values: %s", exc, exc_info=exc)
    if connection.in_atomic_block and _transaction_failed():
        transaction.set_rollback(True)


def _transaction_failed() -> bool:
    from psycopg.pq import TransactionStatus

    raw = connection.connection
    return raw is not None and raw.info.transaction_status == TransactionStatus.INERROR


def _fields(diag) -> list[str]:
    if diag is None:
        return []
    if diag.column_name:
        return [diag.column_name]
    if diag.constraint_name and diag.constraint_name in _constraint_fields():
        return _constraint_fields()[diag.constraint_name]
    keys = _KEY_COLUMNS.search(diag.message_detail or "")
    if keys:
        return [column.strip().strip('"') for column in keys.group(1).split(",")]
    return _columns_in_name(diag.table_name, diag.constraint_name)


@cache
def _constraint_fields() -> dict[str, list[str]]:
    """Every model constraint's name -> the fields it is about (from its condition or its field list)."""
    found: dict[str, list[str]] = {}
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if isinstance(constraint, CheckConstraint):
                found[constraint.name] = _condition_fields(constraint.condition)
            elif isinstance(constraint, UniqueConstraint) and constraint.fields:
                found[constraint.name] = list(constraint.fields)
    return found


def _condition_fields(condition: Q) -> list[str]:
    fields: list[str] = []
    for child in condition.children:
        names = _condition_fields(child) if isinstance(child, Q) else [child[0].split("__")[0]]
        fields += [name for name in names if name not in fields]
    return fields


def _columns_in_name(table: str | None, constraint: str | None) -> list[str]:
    """Django names unique and foreign key constraints `<table>_<column>_...`: the columns found there."""
    if not table or not constraint:
        return []
    model = next((model for model in apps.get_models() if model._meta.db_table == table), None)
    if model is None:
        return []
    rest = constraint.removeprefix(f"{table}_")
    return [field.column for field in model._meta.concrete_fields if rest.startswith(f"{field.column}_")][:1]
