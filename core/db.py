"""psycopg's own cursor on the request's connection, for what Django's cursors cannot do (COPY, binary results)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


@contextmanager
def psycopg_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor on Django's connection, in the current tenant: Django's cursor is opened first, because
    django-tenants sets the tenant's search path when one is, not when the connection opens."""
    with connection.cursor(), psycopg.Cursor(connection.connection) as cursor:
        yield cursor
