"""What Django's database layer does not give: psycopg's own cursor on the request's connection (COPY, binary
results), and more memory for the sorts of a bulk statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection


@contextmanager
def psycopg_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor on Django's connection, in the current tenant: Django's cursor is opened first, because
    django-tenants sets the tenant's search path when one is, not when the connection opens."""
    with connection.cursor(), psycopg.Cursor(connection.connection) as cursor:
        yield cursor


@contextmanager
def bulk_work_mem() -> Iterator[None]:
    """Let the statements inside sort and hash in `DATABASE_BULK_WORK_MEM` of memory each, on this connection only.

    A KPI or a model's features over a large workspace sorts and hashes millions of rows; with a server's usual
    `work_mem` those sorts spill to temporary files, and the time grew faster than the data (at 100,000 accounts
    a scoring statement wrote 950 MB of temporary files). Pages and the API keep the server's setting, so a
    server holding many connections does not give each of them this much. The previous value is restored after
    (nesting keeps the outer one), except after an error that aborted the transaction, whose rollback undoes a
    setting made inside it.
    """
    amount = settings.DATABASE_BULK_WORK_MEM
    if not amount:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem'), set_config('work_mem', %s, false)", [amount])
        previous = cursor.fetchone()[0]
    try:
        yield
    finally:
        if connection.connection is not None and not _aborted():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('work_mem', %s, false)", [previous])


def _aborted() -> bool:
    return connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR


def memory_for_sorts() -> str:
    """The memory the statements of bulk work and of everything else sort in, in words, for benchmarks' reports."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem')")
        server = cursor.fetchone()[0]
    bulk = settings.DATABASE_BULK_WORK_MEM or server
    return f"sorts and hashes in {bulk} each for bulk work (DATABASE_BULK_WORK_MEM), {server} for the rest"
