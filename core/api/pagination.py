"""Cursor pagination for every list endpoint: stable pages however rows are added meanwhile."""

from rest_framework.pagination import CursorPagination


def cursor_pagination(*ordering: str, page_size: int = 100, max_page_size: int = 1000) -> type[CursorPagination]:
    """A CursorPagination ordered by `ordering` (end with a unique field), with `?page_size=` up to a cap."""
    return type("CursorPagination", (CursorPagination,), {
        "ordering": ordering, "page_size": page_size, "max_page_size": max_page_size,
        "page_size_query_param": "page_size",
    })
