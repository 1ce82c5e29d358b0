"""Accounts, owners and renewal dates from a CRM's own export: HubSpot's companies and Salesforce's accounts, with
the vendors' column names. A thin layer over the CSV import: the vendor's header is renamed to the account
fields, the owner (a name or an email, as CRMs export it) is resolved to a user of the tenant, and the rows go
through the same CSV reading and the same accounts ingest, all or nothing, errors by line."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from accounts import ingestion
from connectors.models import Connector
from core.errors import InvalidInput
from integrations.csv_reader import csv_cell_converter, csv_table
from integrations.ingest import MAX_BATCH_ITEMS, Caller, IngestResult

# The vendor's column -> the account field. Columns not named here are left out of the import.
HUBSPOT_COLUMNS = {
    "Record ID": "external_id", "Company name": "name", "Company owner": "owner", "Industry": "industry",
    "Country/Region": "region", "Lifecycle Stage": "lifecycle_stage", "Number of Employees": None,
    "Renewal date": "renewal_date", "Contract start date": "start_date", "Plan": "plan", "Seats": "seats",
}
SALESFORCE_COLUMNS = {
    "Account ID": "external_id", "Account Name": "name", "Account Owner": "owner", "Industry": "industry",
    "Billing Country": "region", "Type": "plan", "Renewal Date": "renewal_date", "Contract Start Date": "start_date",
    "Seats": "seats",
    # The same fields by their API names, as Data Loader exports them.
    "Id": "external_id", "Name": "name", "Owner.Email": "owner", "BillingCountry": "region",
}
# HubSpot's lifecycle stages, as Bellwether's: a customer is adopting, an evangelist mature, the rest onboarding.
HUBSPOT_STAGES = {"customer": "adoption", "evangelist": "mature", "other": "onboarding"}


@dataclass(frozen=True)
class CrmExport:
    connector: str
    columns: dict[str, str | None]
    id_column: str


EXPORTS = {
    Connector.HUBSPOT: CrmExport(Connector.HUBSPOT, HUBSPOT_COLUMNS, "Record ID"),
    Connector.SALESFORCE: CrmExport(Connector.SALESFORCE, SALESFORCE_COLUMNS, "Account ID"),
}


def _items(data: bytes, export: CrmExport) -> tuple[list[dict], list[int]]:
    """The export's rows as account items, the vendor's columns renamed to account fields (its other columns
    left out), read as strictly as any CSV import; and the line each row starts on."""
    table = csv_table(io.BytesIO(data), max_rows=MAX_BATCH_ITEMS)
    keep = [(position, export.columns[name]) for position, name in enumerate(table.header) if export.columns.get(name)]
    fields = [field for _, field in keep]
    if "external_id" not in fields:
        raise InvalidInput(f"Not a {export.connector.title()} export: no {export.id_column!r} column. Known columns: "
                           f"{', '.join(name for name, field in export.columns.items() if field)}.")
    duplicated = sorted({field for field in fields if fields.count(field) > 1})
    if duplicated:
        raise InvalidInput(f"Two columns fill the same field ({', '.join(duplicated)}); keep one of them.")
    convert = {field: csv_cell_converter(ingestion.ACCOUNT_SPEC.fields[field]) for field in fields}
    items, lines = [], []
    for record in table.records:
        cells = [(field, record.cells[position].strip()) for position, field in keep]
        items.append({field: convert[field](cell) for field, cell in cells if cell})
        lines.append(record.line)
    return items, lines


def _owners_resolved(items: list[dict], lines: list[int]) -> None:
    """CRMs export the owner as a name ("Dana Scully") or an email: a name becomes the email of the active user
    with that full name; a name no user has is an error of that line (via the ingest's owner check)."""
    from users.models import User

    names = {item["owner"] for item in items if isinstance(item.get("owner"), str) and "@" not in item["owner"]}
    by_name: dict[str, list[str]] = {}
    for name, email in User.objects.filter(full_name__in=names, is_active=True).values_list("full_name", "email"):
        by_name.setdefault(name, []).append(email)
    errors = []
    for index, item in enumerate(items):
        owner = item.get("owner")
        if not isinstance(owner, str) or "@" in owner:
            continue
        emails = by_name.get(owner, [])
        if len(emails) == 1:
            item["owner"] = emails[0]
        else:
            reason = "several active users have this name" if emails else "no active user has this name"
            errors.append({"row": lines[index], "field": "owner", "message": f"{owner!r}: {reason}"})
    if errors:
        raise InvalidInput(f"The file was refused: {len(errors)} owner(s) could not be matched; nothing was stored.",
                           errors)


def _stages(items: list[dict]) -> None:
    """HubSpot's lifecycle stages as Bellwether's (a value that is one of Bellwether's already is kept)."""
    from accounts.models import LifecycleStage

    for item in items:
        stage = item.get("lifecycle_stage")
        if isinstance(stage, str) and stage.strip().lower() not in LifecycleStage.values:
            item["lifecycle_stage"] = HUBSPOT_STAGES.get(stage.strip().lower(), "onboarding")


def _dates(items: list[dict]) -> None:
    """Dates as CRMs export them (2026-03-01, 2026-03-01 09:30, or a US report's 3/1/2026) as YYYY-MM-DD; anything
    else is left for the field's own check to report."""
    for item in items:
        for name in ("renewal_date", "start_date"):
            value = item.get(name)
            if not isinstance(value, str):
                continue
            for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%m/%d/%Y"):
                try:
                    item[name] = datetime.strptime(value.strip().rstrip("Z"), pattern).date().isoformat()
                    break
                except ValueError:
                    continue


def crm_accounts_import(*, connector: str, data: bytes, caller: Caller) -> tuple[IngestResult, list[int]]:
    """Upsert the accounts of a HubSpot or Salesforce export; returns the result and each item's line.
    Raises InvalidInput (or BatchRejected, whose errors carry item indexes) with every problem."""
    export = EXPORTS[connector]
    items, lines = _items(data, export)
    _owners_resolved(items, lines)
    _stages(items)
    _dates(items)
    return ingestion.accounts_ingest(items=items, caller=caller), lines
