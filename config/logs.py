"""Logging filters (config/settings/base.py, LOGGING)."""

from __future__ import annotations

import logging


class ClientErrorsInOneLine(logging.Filter):
    """Drops the traceback of a record about a refused request (a status below 500: 403, 404, a failed CSRF check,
    a disallowed host): the request was wrong, not the code, and the traceback only shows where it was refused."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500 and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True
