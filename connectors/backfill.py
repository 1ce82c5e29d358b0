"""History from Stripe: a subscriptions export (Billing → Subscriptions → Export, CSV) turned into one MRR snapshot
per account and month, counted as the webhooks count (connectors.billing): amount x quantity per month, trials
and free plans left out, 0 in the month a paying account's last subscription ended.

All or nothing: a malformed row or a row in another currency refuses the file with every problem by line; rows of
customers that match no account are reported and left out (their accounts can be imported, then the file again).
Re-importing is harmless: snapshots are upserted by account and month.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from accounts import ingestion
from accounts.models import Account
from connectors.billing import CALLER, CENT, MONTHS_PER, PAYING_STATUSES, monthly
from connectors.models import AccountRef, BillingSubscription, Connector
from connectors.options import connector_options, connector_settings
from core.errors import InvalidInput
from core.numbers import whole_number
from integrations.csv_import import MAX_CSV_ROWS
from integrations.csv_reader import csv_table
from integrations.ingest import MAX_BATCH_ITEMS

REQUIRED = ("id", "Customer ID", "Status", "Currency", "Interval", "Amount", "Quantity", "Start (UTC)")
SKIPPED_STATUSES = ("incomplete", "incomplete_expired")


@dataclass
class Backfill:
    """What an import did: snapshots written, subscriptions read, and the customers that matched no account."""

    snapshots: int = 0
    subscriptions: int = 0
    accounts: int = 0
    unmatched: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.subscriptions} subscription(s) of {self.accounts} account(s): {self.snapshots} monthly "
                "snapshot(s) written")
        if self.unmatched:
            text += f"; {len(self.unmatched)} subscription(s) of customers matching no account left out"
        return text


@dataclass(frozen=True)
class _Row:
    line: int
    subscription_id: str
    customer_id: str
    external_id: str
    status: str
    currency: str
    mrr: Decimal
    first_month: date  # the first month it paid for (after any trial)
    end_month: date | None  # the month it ended (no revenue from then on)


def _moment(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace(" ", "T") if "T" not in value else value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _month(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _row(line: int, cells: dict[str, str], metadata_column: str, errors: list[dict]) -> _Row | None:
    before = len(errors)

    def problem(column: str, message: str) -> None:
        errors.append({"row": line, "field": column, "message": message})

    try:
        amount = Decimal(cells["Amount"].replace(",", "").strip() or "0")
    except InvalidOperation:
        amount = Decimal(0)
        problem("Amount", "must be a number (the price per unit and interval, e.g. 49.00)")
    quantity = cells["Quantity"].strip() or "1"
    if whole_number(quantity, minimum=0) is None:
        problem("Quantity", "must be a whole number")
    interval = cells["Interval"].strip().lower()
    count = (cells.get("Interval Count") or "1").strip() or "1"
    if interval not in MONTHS_PER:
        problem("Interval", f"must be one of: {', '.join(MONTHS_PER)}")
    if whole_number(count) is None:
        problem("Interval Count", "must be a whole number of at least 1")
    moments = {}
    for column in ("Start (UTC)", "Trial End (UTC)", "Ended At (UTC)", "Canceled At (UTC)"):
        try:
            moments[column] = _moment(cells.get(column) or "")
        except ValueError:
            problem(column, "must be a date-time such as 2025-11-13 02:13")
    if moments.get("Start (UTC)") is None and not any(e["field"] == "Start (UTC)" for e in errors[before:]):
        problem("Start (UTC)", "is required")
    for column in ("id", "Customer ID", "Currency", "Status"):
        if not cells[column].strip():
            problem(column, "is required")
    if len(errors) > before:
        return None
    status = cells["Status"].strip().lower()
    paying_from = max(filter(None, [moments["Start (UTC)"], moments.get("Trial End (UTC)")]))
    ended = moments.get("Ended At (UTC)") or (moments.get("Canceled At (UTC)") if status == "canceled" else None)
    mrr = monthly(amount * int(quantity), interval, int(count)).quantize(CENT)
    return _Row(line=line, subscription_id=cells["id"].strip(), customer_id=cells["Customer ID"].strip(),
                external_id=(cells.get(metadata_column) or "").strip(), status=status,
                currency=cells["Currency"].strip().lower(), mrr=mrr, first_month=_month(paying_from),
                end_month=_month(ended) if ended else None)


def _rows(data: bytes) -> list[_Row]:
    table = csv_table(io.BytesIO(data), max_rows=MAX_CSV_ROWS)
    header = table.header
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InvalidInput(f"Not a Stripe subscriptions export: missing column(s) {', '.join(missing)}.")
    metadata_column = f"{connector_options(Connector.STRIPE)['metadata_key']} (metadata)"
    errors: list[dict] = []
    rows = []
    for record in table.records:
        row = _row(record.line, dict(zip(header, record.cells, strict=True)), metadata_column, errors)
        if row is not None and row.status not in SKIPPED_STATUSES:
            rows.append(row)
    _currency_check(rows, errors)
    if errors:
        raise InvalidInput(f"The file was refused: {len(errors)} problem(s); nothing was stored.", errors)
    return rows


def _currency_check(rows: list[_Row], errors: list[dict]) -> None:
    adopted = connector_options(Connector.STRIPE)["currency"] or (rows[0].currency if rows else "")
    for row in rows:
        if row.currency != adopted:
            errors.append({"row": row.line, "field": "Currency",
                           "message": f"{row.currency.upper()}, but this tenant's revenue is in {adopted.upper()}: "
                                      "Bellwether never converts or mixes currencies"})
    if rows and not errors and not connector_options(Connector.STRIPE)["currency"]:
        settings = connector_settings(Connector.STRIPE)
        settings.options = {**(settings.options or {}), "currency": adopted}
        settings.save()


def _accounts(rows: list[_Row]) -> dict[str, Account]:
    """Each subscription's account, by metadata external id, a learnt customer id, or the customer id itself."""
    wanted = {row.external_id for row in rows if row.external_id} | {row.customer_id for row in rows}
    by_external = {account.external_id: account for account in Account.objects.filter(external_id__in=wanted)}
    refs = {ref.ref: ref.account for ref in AccountRef.objects.filter(
        connector=Connector.STRIPE, ref__in=[row.customer_id for row in rows]).select_related("account")}
    found = {}
    for row in rows:
        account = by_external.get(row.external_id) or refs.get(row.customer_id) or by_external.get(row.customer_id)
        if account is not None:
            found[row.subscription_id] = account
    return found


def _snapshots(rows: list[_Row], until: date) -> list[dict]:
    """Every month of every matched account, from its first paying month until `until` or the month it churned."""
    items = []
    by_account: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_account[row.external_id].append(row)
    for external_id, subscriptions in by_account.items():
        paying = [row for row in subscriptions if row.mrr > 0 and row.status != "trialing"]
        if not paying:
            continue  # only trials and free plans: no revenue, no snapshot
        month = min(row.first_month for row in paying)
        last = max((row.end_month or _next(until)) for row in paying)
        while month <= min(last, until):
            total = sum((row.mrr for row in paying
                         if row.first_month <= month and (row.end_month is None or month < row.end_month)), Decimal(0))
            items.append({"account": external_id, "month": f"{month:%Y-%m}", "mrr": str(total)})
            month = _next(month)
    return items


def stripe_subscriptions_backfill(*, data: bytes, until: date | None = None) -> Backfill:
    """Import a Stripe subscriptions export as monthly snapshots up to `until` (this month by default)."""
    rows = _rows(data)
    until = until or _month(timezone.now())
    accounts = _accounts(rows)
    result = Backfill(subscriptions=len(rows))
    result.unmatched = [{"row": row.line, "subscription": row.subscription_id, "customer": row.customer_id}
                        for row in rows if row.subscription_id not in accounts]
    matched = [replace(row, external_id=accounts[row.subscription_id].external_id)
               for row in rows if row.subscription_id in accounts]
    items = _snapshots(matched, until)
    with transaction.atomic():
        for start in range(0, len(items), MAX_BATCH_ITEMS):
            ingestion.revenue_snapshots_ingest(items=items[start:start + MAX_BATCH_ITEMS], caller=CALLER)
        _subscriptions_seed(matched, accounts)
    result.snapshots = len(items)
    result.accounts = len({row.external_id for row in matched})
    return result


def _subscriptions_seed(rows: list[_Row], accounts: dict[str, Account]) -> None:
    """Record each subscription's state as of the export, so the webhooks that follow know it; a webhook already
    applied (a later state) is kept."""
    for row in rows:
        account = accounts[row.subscription_id]
        status = "canceled" if row.end_month else row.status
        mrr = row.mrr if status in PAYING_STATUSES else Decimal(0)
        BillingSubscription.objects.get_or_create(
            connector=Connector.STRIPE, subscription_id=row.subscription_id,
            defaults={"customer_id": row.customer_id, "account": account, "status": status, "currency": row.currency,
                      "mrr": mrr, "ever_paid": row.mrr > 0 and row.status != "trialing",
                      "event_at": datetime.combine(row.first_month, datetime.min.time(), tzinfo=UTC)})
        if row.customer_id and row.customer_id != account.external_id:
            AccountRef.objects.get_or_create(connector=Connector.STRIPE, ref=row.customer_id,
                                             defaults={"account": account})
