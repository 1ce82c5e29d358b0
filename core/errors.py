"""The one domain error: input that cannot be accepted. Services raise it; the API's exception handler
(core.api.errors) answers it. Plain Python, so any layer may raise it without loading the API."""

from __future__ import annotations


class InvalidInput(Exception):
    """Input that cannot be accepted, with every problem found as {"index", "field", "message"}.

    Services raise it; the API turns it into a 400 (or the given status) with the errors listed.
    """

    def __init__(self, detail: str, errors: list[dict] | None = None, status_code: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = sorted(errors or [], key=lambda error: (error.get("index") is None, error.get("index") or 0))
        self.status_code = status_code
