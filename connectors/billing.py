"""Stripe billing as the revenue source: subscription and invoice events turned into monthly MRR snapshots the way
revenue analytics tools count it.

A subscription's MRR is the sum of its licensed per-unit items, each `unit amount x quantity` normalised to a
month (a year / 12, a week x 52 / 12, a day x 365 / 12, divided by the interval count), after a discount whose
duration is `forever` (a temporary one does not change what the customer is worth per month). Trialing,
incomplete and free subscriptions bring nothing and are left out: an account with only those gets no snapshot
(0 MRR would read as churn); a paying subscription that ends writes 0 for its account. An account's snapshot for
a month is the sum of its subscriptions. `invoice.paid` writes that sum for every month the invoice's period
covers (an annual invoice fills twelve months), or, for a subscription never seen, its lines as billed.

One currency per tenant: the first one received becomes the tenant's (shown on the connector's page); a
subscription in another is refused with the reason, never converted or mixed. Accounts are matched by the
subscription's (or invoice's) metadata external id, a Stripe customer id learnt before, or an account whose
external id is the customer id; an event whose account is unknown is held and applied when the account appears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Q

from accounts import ingestion
from accounts.models import Account
from connectors.documents import MAX_AMOUNT, amount, mapping, member, moment, objects, text, whole
from connectors.http import Refusal
from connectors.models import AccountRef, BillingSubscription, Connector, HeldCall, ReceivedEvent
from connectors.options import connector_options, connector_settings
from integrations.ingest import Caller

SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted")
HANDLED_EVENTS = (*SUBSCRIPTION_EVENTS, "invoice.paid")
PAYING_STATUSES = ("active", "past_due")
# Stripe's currencies without a minor unit: amounts are sent in whole units.
ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                          "xaf", "xof", "xpf"})
MONTHS_PER = {"month": Decimal(1), "year": Decimal(12), "week": Decimal(12) / Decimal(52),
              "day": Decimal(12) / Decimal(365)}
CENT = Decimal("0.01")
_CURRENCY = re.compile(r"[a-z]{3}")
# Stripe bills at most every three years (156 weeks, 1,095 days); quantities are whole units.
MAX_INTERVAL_COUNT = 1095
MAX_QUANTITY = 10**9
MAX_MONTHS_PER_INVOICE = 36
CALLER = Caller(source=Connector.STRIPE)


@dataclass
class Applied:
    """What one event did, for the 200 answer and the connector's log."""

    summary: str
    snapshots: list[dict] = field(default_factory=list)
    held: bool = False
    duplicate: bool = False
    ignored: bool = False
    notes: list[str] = field(default_factory=list)

    def body(self) -> dict:
        return {"received": True, "duplicate": self.duplicate, "ignored": self.ignored, "held": self.held,
                "snapshots": self.snapshots, "notes": self.notes, "detail": self.summary}


def _major(value, currency: str, where: str) -> Decimal:
    number = amount(value, where)
    return number if currency in ZERO_DECIMAL else number / 100


def monthly(amount: Decimal, interval: str, count: int = 1) -> Decimal:
    """`amount` per `count` `interval`s as an amount per month."""
    if interval not in MONTHS_PER:
        raise ValueError(f"unknown billing interval {interval!r}")
    return amount / (MONTHS_PER[interval] * max(count, 1))


def _interval(recurring: dict, where: str) -> tuple[str, int]:
    """A price's billing interval and count, as Stripe writes them (`recurring.interval`, `interval_count`)."""
    interval = text(recurring.get("interval"), f"{where}.interval")
    if interval not in MONTHS_PER:
        allowed = ", ".join(MONTHS_PER)
        raise Refusal(400, f"{where}.interval is {interval!r}; Stripe bills by {allowed}.",
                      [{"index": 0, "field": f"{where}.interval", "message": f"must be one of {allowed}"}])
    return interval, whole(recurring.get("interval_count"), f"{where}.interval_count", default=1,
                           maximum=MAX_INTERVAL_COUNT) or 1


def _item_mrr(item: dict, currency: str, notes: list[str]) -> Decimal:
    """One subscription item's MRR: a licensed per-unit price x quantity, per month. Metered and tiered prices
    have no fixed amount and are left out (with a note)."""
    where = "data.object.items.data.price"
    price = mapping(item.get("price") or item.get("plan"))
    recurring = mapping(price.get("recurring")) or {"interval": price.get("interval"),
                                                    "interval_count": price.get("interval_count"),
                                                    "usage_type": price.get("usage_type")}
    unit = price.get("unit_amount_decimal", price.get("amount_decimal"))
    if unit is None:
        unit = price.get("unit_amount", price.get("amount"))
    if (recurring.get("usage_type") or "licensed") != "licensed" or unit is None or not recurring.get("interval"):
        notes.append(f"item {text(item.get('id'), 'data.object.items.data.id') or '?'}: a metered or tiered price "
                     "has no fixed MRR; left out")
        return Decimal(0)
    quantity = whole(item.get("quantity"), "data.object.items.data.quantity", default=1, maximum=MAX_QUANTITY)
    return monthly(_major(unit, currency, f"{where}.unit_amount") * quantity,
                   *_interval(recurring, f"{where}.recurring"))


def _forever_discount(subscription: dict, mrr: Decimal, currency: str, interval: tuple[str, int]) -> Decimal:
    """MRR after the subscription's discounts whose duration is `forever` (sent expanded: the legacy `discount`
    object, or `discounts` entries that are objects; bare discount ids cannot be read and are left out)."""
    discounts = [subscription.get("discount"), *objects(subscription.get("discounts"))]
    for discount in discounts:
        coupon = mapping(member(discount, "coupon"))
        if coupon.get("duration") != "forever":
            continue
        if coupon.get("percent_off"):
            mrr = mrr * (1 - min(amount(coupon["percent_off"], "coupon.percent_off"), Decimal(100)) / 100)
        elif coupon.get("amount_off"):
            mrr = mrr - monthly(_major(coupon["amount_off"], currency, "coupon.amount_off"), *interval)
    return max(mrr, Decimal(0))


def subscription_mrr(subscription: dict, notes: list[str] | None = None) -> Decimal:
    """A subscription object's MRR in its currency's major unit; 0 unless it is paying (active or past due)."""
    notes = notes if notes is not None else []
    if subscription.get("status") not in PAYING_STATUSES:
        return Decimal(0)
    currency = text(subscription.get("currency"), "data.object.currency").lower()
    items = objects(member(subscription, "items", "data"))
    mrr = sum((_item_mrr(item, currency, notes) for item in items), Decimal(0))
    first = mapping(items[0].get("price") or items[0].get("plan")) if items else {}
    recurring = mapping(first.get("recurring")) or first
    interval = _interval({"interval": "month", **recurring} if not recurring.get("interval") else recurring,
                         "data.object.items.data.price.recurring")
    return _mrr_bounded(_forever_discount(subscription, mrr, currency, interval))


def _mrr_bounded(mrr: Decimal) -> Decimal:
    """MRR in cents, within what a revenue snapshot holds."""
    if mrr >= MAX_AMOUNT:
        raise Refusal(400, f"The subscription's MRR comes to {mrr:,.0f}, more than Bellwether records "
                           f"({MAX_AMOUNT:,}).")
    return mrr.quantize(CENT, rounding=ROUND_HALF_UP)


def _metadata_id(*metadatas: dict | None) -> str:
    key = connector_options(Connector.STRIPE)["metadata_key"]
    for metadata in metadatas:
        value = text(member(metadata, key), f"metadata.{key}")
        if value:
            return value
    return ""


def account_match(*, customer_id: str, external_id: str) -> Account | None:
    """The account an event is for: by the metadata external id (learning the customer id), by a customer id
    learnt before, or by an account whose external id is the customer id."""
    if external_id:
        account = Account.objects.filter(external_id=external_id).first()
        if account is not None:
            if customer_id:
                AccountRef.objects.update_or_create(connector=Connector.STRIPE, ref=customer_id,
                                                    defaults={"account": account})
            return account
    if not customer_id:
        return None
    ref = AccountRef.objects.filter(connector=Connector.STRIPE, ref=customer_id).select_related("account").first()
    if ref is not None:
        return ref.account
    return Account.objects.filter(external_id=customer_id).first()


def currency_check(currency: str, what: str) -> None:
    """The tenant's one currency: the first one received is adopted; any other is refused with the reason."""
    currency = currency.lower()
    if not currency:
        raise Refusal(400, f"{what} has no currency.")
    if not _CURRENCY.fullmatch(currency):
        raise Refusal(400, f"{what} has the currency {currency!r}, which is no ISO 4217 code (three letters).")
    settings = connector_settings(Connector.STRIPE)
    adopted = (settings.options or {}).get("currency", "")
    if not adopted:
        settings.options = {**(settings.options or {}), "currency": currency}
        settings.save()
        return
    if currency != adopted:
        raise Refusal(400, f"{what} is billed in {currency.upper()}, but this tenant's revenue is in "
                           f"{adopted.upper()}: Bellwether never converts or mixes currencies. If "
                           f"{adopted.upper()} is wrong, change it on the Stripe connector page; the event is "
                           "applied when Stripe sends it again.")


def _moment(epoch, where: str) -> datetime:
    """A time the event must carry (Unix seconds)."""
    read = moment(epoch, where)
    if read is None:
        raise Refusal(400, f"The event has no {where}.", [{"index": 0, "field": where, "message": "is required"}])
    return read


def _month(moment: datetime) -> str:
    return f"{moment:%Y-%m}"


def _account_total(account: Account) -> tuple[Decimal, bool]:
    """The account's MRR from its subscriptions, and whether any of them ever paid."""
    subscriptions = list(BillingSubscription.objects.filter(connector=Connector.STRIPE, account=account))
    total = sum((row.mrr for row in subscriptions if row.status in PAYING_STATUSES), Decimal(0))
    return total, any(row.ever_paid for row in subscriptions)


def _snapshots_write(account: Account, months: list[str], applied: Applied) -> None:
    total, ever_paid = _account_total(account)
    if total == 0 and not ever_paid:
        applied.notes.append("in trial or on a free plan: no MRR, no snapshot")
        return
    items = [{"account": account.external_id, "month": month, "mrr": str(total)} for month in months]
    ingestion.revenue_snapshots_ingest(items=items, caller=CALLER)
    applied.snapshots.extend(items)


def _subscription_store(*, subscription_id: str, customer_id: str, account: Account, status: str, currency: str,
                        mrr: Decimal, event_at: datetime) -> bool:
    """Record the subscription's state unless a later event was applied already; returns False if stale."""
    stored = BillingSubscription.objects.select_for_update().filter(
        connector=Connector.STRIPE, subscription_id=subscription_id).first()
    if stored is not None and stored.event_at > event_at:
        return False
    BillingSubscription.objects.update_or_create(
        connector=Connector.STRIPE, subscription_id=subscription_id,
        defaults={"customer_id": customer_id, "account": account, "status": status, "currency": currency,
                  "mrr": mrr, "event_at": event_at, "ever_paid": (stored is not None and stored.ever_paid) or mrr > 0})
    return True


def _customer_id(value) -> str:
    if isinstance(value, dict):  # an expanded customer
        return text(value.get("id"), "data.object.customer.id")
    return text(value, "data.object.customer")


def _subscription_event(event: dict, applied: Applied) -> Account | None:
    subscription = event["data"]["object"]
    customer_id = _customer_id(subscription.get("customer"))
    subscription_id = text(subscription.get("id"), "data.object.id")
    currency = text(subscription.get("currency"), "data.object.currency").lower()
    currency_check(currency, f"Subscription {subscription_id}")
    account = account_match(customer_id=customer_id, external_id=_metadata_id(subscription.get("metadata")))
    if account is None:
        return None
    mrr = subscription_mrr(subscription, applied.notes)
    status = ("canceled" if event["type"] == "customer.subscription.deleted"
              else text(subscription.get("status"), "data.object.status", limit=32))
    created = _moment(event.get("created") or subscription.get("created"), "created")
    if not subscription_id:
        raise Refusal(400, "The subscription has no id.", [{"index": 0, "field": "data.object.id",
                                                             "message": "is required"}])
    if not _subscription_store(subscription_id=subscription_id, customer_id=customer_id, account=account,
                               status=status, currency=currency, mrr=mrr, event_at=created):
        applied.notes.append("a later event of this subscription was applied already; nothing changed")
        return account
    ended = moment(subscription.get("ended_at") or subscription.get("canceled_at"), "data.object.ended_at")
    month = _month(ended) if status == "canceled" and ended else _month(created)
    _snapshots_write(account, [month], applied)
    return account


def _months_covered(start: datetime, end: datetime) -> list[str]:
    """The calendar months a billing period pays for, from its start's month: one for a month (or less), twelve
    for a year. A period ending a few days short of its day of the month (a month of 28 days) still counts."""
    count = (end.year - start.year) * 12 + end.month - start.month
    if end.day + 3 < start.day:
        count -= 1
    months = []
    for offset in range(min(max(count, 1), MAX_MONTHS_PER_INVOICE)):
        year, month = divmod(start.month - 1 + offset, 12)
        months.append(f"{start.year + year:04d}-{month + 1:02d}")
    return months


def _invoice_subscription_id(invoice: dict) -> str:
    return text(member(invoice, "parent", "subscription_details", "subscription") or invoice.get("subscription"),
                "data.object.subscription")


def _invoice_lines_mrr(invoice: dict, currency: str) -> Decimal:
    """MRR from an invoice's subscription lines as billed (for a subscription never seen as an event): each
    line's amount less its discounts, over the months its period covers; prorations left out."""
    total = Decimal(0)
    for line in objects(member(invoice, "lines", "data")):
        details = mapping(member(line, "parent", "subscription_item_details"))
        if line.get("proration") or details.get("proration"):
            continue
        if not (details or line.get("type") == "subscription" or line.get("subscription")):
            continue
        start, end = _period(line)
        if start is None or end is None:
            continue
        billed = _major(line.get("amount") or 0, currency, "data.object.lines.data.amount") - sum(
            (_major(part.get("amount") or 0, currency, "data.object.lines.data.discount_amounts.amount")
             for part in objects(line.get("discount_amounts"))), Decimal(0))
        total += billed / max(len(_months_covered(start, end)), 1)
    return _mrr_bounded(max(total, Decimal(0)))


def _period(line: dict) -> tuple[datetime | None, datetime | None]:
    period = mapping(line.get("period"))
    return (moment(period.get("start"), "data.object.lines.data.period.start"),
            moment(period.get("end"), "data.object.lines.data.period.end"))


def _invoice_event(event: dict, applied: Applied) -> Account | None:
    invoice = event["data"]["object"]
    customer_id = _customer_id(invoice.get("customer"))
    currency = text(invoice.get("currency"), "data.object.currency").lower()
    currency_check(currency, f"Invoice {text(invoice.get('id'), 'data.object.id')}")
    external_id = _metadata_id(member(invoice, "parent", "subscription_details", "metadata"),
                               member(invoice, "subscription_details", "metadata"), invoice.get("metadata"))
    account = account_match(customer_id=customer_id, external_id=external_id)
    if account is None:
        return None
    subscription_id = _invoice_subscription_id(invoice)
    periods = [period for period in map(_period, objects(member(invoice, "lines", "data"))) if None not in period]
    if not subscription_id or not periods:
        applied.notes.append("not a subscription invoice: a one-off payment is not recurring revenue")
        return account
    start = min(start for start, _ in periods)
    end = max(end for _, end in periods)
    known = BillingSubscription.objects.filter(connector=Connector.STRIPE, subscription_id=subscription_id).exists()
    if not known:
        mrr = _invoice_lines_mrr(invoice, currency) if invoice.get("amount_paid") else Decimal(0)
        _subscription_store(subscription_id=subscription_id, customer_id=customer_id, account=account,
                            status="active", currency=currency, mrr=mrr,
                            event_at=moment(event.get("created"), "created") or datetime.fromtimestamp(0, UTC))
    _snapshots_write(account, _months_covered(start, end), applied)
    return account


def _hold(event: dict, applied: Applied) -> None:
    obj = event["data"]["object"]
    customer_id = _customer_id(obj.get("customer"))
    key = _metadata_id(obj.get("metadata"), member(obj, "parent", "subscription_details", "metadata")) or customer_id
    HeldCall.objects.get_or_create(connector=Connector.STRIPE, message_id=text(event["id"], "id"), defaults={
        "kind": text(event["type"], "type")[:40], "account_key": key, "message": event,
        "reason": f"Stripe customer {customer_id} matches no account (no metadata "
                  f"'{connector_options(Connector.STRIPE)['metadata_key']}', no account with that id)"})
    applied.held = True
    applied.summary = (f"{event['type']} {event['id']}: customer {customer_id} matches no account; held until "
                       f"the account {key!r} exists")


def stripe_event_apply(event: dict, *, replaying: bool = False) -> Applied:
    """Apply one verified Stripe event, once: its id is recorded in the same transaction as its effect, so a
    replay (or Stripe's own retry after a lost answer) changes nothing. Refusal(400) for another currency."""
    event_id, kind = text(event.get("id"), "id"), text(event.get("type"), "type")
    obj = member(event, "data", "object")
    if not event_id or not kind or not isinstance(obj, dict):
        raise Refusal(400, "Not a Stripe event: it needs an id, a type and data.object.")
    with transaction.atomic():
        if not replaying:
            _, first = ReceivedEvent.objects.get_or_create(connector=Connector.STRIPE, event_id=event_id,
                                                           defaults={"kind": kind[:60]})
            if not first:
                return Applied(summary=f"{kind} {event_id} was applied already; nothing changed", duplicate=True)
        if kind not in HANDLED_EVENTS:
            return Applied(summary=f"{kind} {event_id}: not an event Bellwether reads; ignored", ignored=True)
        applied = Applied(summary="")
        handler = _subscription_event if kind in SUBSCRIPTION_EVENTS else _invoice_event
        account = handler(event, applied)
        if account is None:
            if not replaying:
                _hold(event, applied)
            return applied
        months = ", ".join(sorted({item["month"] for item in applied.snapshots})) or "no month"
        mrr = applied.snapshots[0]["mrr"] if applied.snapshots else "-"
        applied.summary = (f"{kind} {event_id}: account {account.external_id}, MRR {mrr} for {months}"
                           + (f" ({'; '.join(applied.notes)})" if applied.notes else ""))
        return applied


def stripe_held_replay(*, account_keys: set[str]) -> int:
    """Apply the Stripe events held for these account ids or customer ids (an event held under its metadata's
    account id is also found by its customer, once an operator links that customer); returns how many left the
    hold."""
    replayed = 0
    keys = sorted(account_keys)
    held_calls = HeldCall.objects.filter(Q(account_key__in=keys) | Q(message__data__object__customer__in=keys),
                                         connector=Connector.STRIPE)
    for held in held_calls.order_by("id"):
        try:
            with transaction.atomic():
                applied = stripe_event_apply(held.message, replaying=True)
                if not applied.summary:
                    continue  # still no account
                held.delete()
        except Refusal:
            continue  # another currency: it stays held, and its page says why
        replayed += 1
    return replayed
