"""Naming an account in a query (a filter, a KPI's subject): by its id, or by the external id the integration
gave it, so an integration never has to look up our ids first.

One rule everywhere: ASCII digits are an id; `external_id:<value>` is an external id, whatever it looks like;
anything else is an external id as written. An integration whose external ids are digits only writes them
with the prefix, so a value never means one account today and another tomorrow.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from core.errors import InvalidInput
from core.numbers import ascii_digits, whole_number

EXTERNAL_ID_PREFIX = "external_id:"
DESCRIPTION = ("An account: its id, or its external id as your integration sent it (`ACME-00001`); write "
               "`external_id:12345` for an external id made of digits only.")


def account_filter(value: str, *, parameter: str, relation: str = "account") -> dict[str, int | str]:
    """Filter arguments selecting the account `value` names, through `relation` (`""` on Account itself).

    An unknown account selects nothing, as an unknown id always has; a value that cannot name any account
    (digits beyond any id, a NUL character, an empty external id) is a 400 naming `parameter`.
    """
    prefix = f"{relation}__" if relation else ""
    if value.startswith(EXTERNAL_ID_PREFIX):
        return {f"{prefix}external_id": _external_id(value.removeprefix(EXTERNAL_ID_PREFIX), parameter)}
    if ascii_digits(value):
        account_id = whole_number(value)
        if account_id is None:
            raise _invalid(parameter, "is not an account id (too large); write external_id:<value> for an "
                                      "external id made of digits")
        return {f"{relation}_id" if relation else "id": account_id}
    return {f"{prefix}external_id": _external_id(value, parameter)}


def _external_id(value: str, parameter: str) -> str:
    if not value or "\x00" in value:
        raise _invalid(parameter, "must be an account id or an external id")
    return value


def _invalid(parameter: str, message: str) -> InvalidInput:
    return InvalidInput(f"Query parameter {parameter} {message}.",
                        [{"index": None, "field": parameter, "message": message}])


def account_parameter(name: str = "account") -> OpenApiParameter:
    return OpenApiParameter(name, str, description=DESCRIPTION)
