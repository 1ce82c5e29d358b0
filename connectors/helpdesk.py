"""Tickets and CSAT from the helpdesk: Zendesk's and Intercom's webhooks as support tickets (created, updated,
solved) and CSAT answers, through the same ingest services as the bulk API.

Zendesk sends what its webhook's body template says (ZENDESK_BODY, shown on the connector's page): the ticket with
its organization's external id (the account). Intercom sends its own notification: a conversation, whose account
is its contact's (a user the tracking API knows) or the one a conversation attribute names. Each delivery is
applied once (Zendesk's invocation id, Intercom's notification id); a call whose account is unknown is held and
applied when the account appears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction

from accounts import ingestion
from accounts.models import Account, Contact, TicketPriority
from connectors.http import Refusal
from connectors.models import Connector, HeldCall, ReceivedEvent
from connectors.options import connector_options
from integrations.ingest import Caller
from integrations.validation import BatchRejected

ZENDESK_BODY = """{"ticket": {"id": "{{ticket.id}}", "status": "{{ticket.status}}", "priority": "{{ticket.priority}}",
 "subject": "{{ticket.title}}", "created_at": "{{ticket.created_at_with_timestamp}}",
 "updated_at": "{{ticket.updated_at_with_timestamp}}",
 "organization_external_id": "{{ticket.organization.external_id}}",
 "satisfaction_rating": "{{satisfaction.current_rating}}",
 "satisfaction_comment": "{{satisfaction.current_comment}}"}}"""
SOLVED = ("solved", "closed")
# Zendesk's CSAT is good or bad; on the 1-5 scale of CSAT they are its ends.
ZENDESK_RATINGS = {"good": 5, "bad": 1}
INTERCOM_TOPICS = ("conversation.user.created", "conversation.admin.replied", "conversation.admin.closed",
                   "conversation.admin.opened", "conversation.rating.added")


@dataclass
class Delivery:
    """One helpdesk call read: its id, the account it names (or the user whose account it is), what to store."""

    connector: str
    event_id: str
    kind: str
    account_key: str = ""
    user_id: str = ""
    ticket: dict | None = None
    survey: dict | None = None
    notes: list[str] = field(default_factory=list)


def _iso(epoch) -> str | None:
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat() if epoch else None


def zendesk_read(document: dict, invocation_id: str) -> Delivery:
    ticket = document.get("ticket")
    if not isinstance(ticket, dict) or not str(ticket.get("id") or "").strip():
        raise Refusal(400, 'Not the ticket this webhook expects: the body needs {"ticket": {"id": ...}}; use the '
                           "body shown on the Zendesk connector's page.")
    ticket_id = str(ticket["id"]).strip()
    status = str(ticket.get("status") or "").strip().lower()
    event_id = invocation_id or f"{ticket_id}:{ticket.get('updated_at')}"
    delivery = Delivery(connector=Connector.ZENDESK, event_id=event_id, kind=f"ticket {status or 'updated'}",
                        account_key=str(ticket.get("organization_external_id") or "").strip())
    item = {"id": f"zendesk-{ticket_id}", "opened_at": ticket.get("created_at"),
            "subject": str(ticket.get("subject") or "")[:500],
            "resolved_at": ticket.get("updated_at") if status in SOLVED else None}
    priority = str(ticket.get("priority") or "").strip().lower()
    if priority in TicketPriority.values:
        item["priority"] = priority
    delivery.ticket = item
    rating = str(ticket.get("satisfaction_rating") or "").strip().lower()
    if rating in ZENDESK_RATINGS:
        delivery.survey = {"id": f"zendesk-csat-{ticket_id}", "kind": "csat", "score": ZENDESK_RATINGS[rating],
                           "comment": str(ticket.get("satisfaction_comment") or "")[:10_000],
                           "responded_at": ticket.get("updated_at")}
    return delivery


def intercom_read(document: dict) -> Delivery:
    topic = str(document.get("topic") or "")
    conversation = ((document.get("data") or {}).get("item") if isinstance(document.get("data"), dict) else None)
    if not document.get("id") or not topic or not isinstance(conversation, dict):
        raise Refusal(400, "Not an Intercom notification: it needs an id, a topic and data.item.")
    delivery = Delivery(connector=Connector.INTERCOM, event_id=str(document["id"]), kind=topic)
    if topic not in INTERCOM_TOPICS:
        return delivery  # a ping, or a topic Bellwether does not read: acknowledged, nothing stored
    if not conversation.get("id"):
        raise Refusal(400, f"The {topic} notification carries no conversation id.")
    attribute = connector_options(Connector.INTERCOM)["account_attribute"]
    delivery.account_key = str((conversation.get("custom_attributes") or {}).get(attribute) or "").strip()
    contacts = (conversation.get("contacts") or {}).get("contacts") or []
    delivery.user_id = next((str(contact["external_id"]) for contact in contacts if contact.get("external_id")), "")
    statistics = conversation.get("statistics") or {}
    closed = conversation.get("state") == "closed"
    delivery.ticket = {
        "id": f"intercom-{conversation['id']}", "opened_at": _iso(conversation.get("created_at")),
        "first_response_at": _iso(statistics.get("first_admin_reply_at")),
        "resolved_at": _iso(statistics.get("last_close_at") or conversation.get("updated_at")) if closed else None,
        "priority": TicketPriority.HIGH if conversation.get("priority") == "priority" else TicketPriority.NORMAL,
        "subject": str(conversation.get("title") or (conversation.get("source") or {}).get("subject") or "")[:500],
    }
    rating = conversation.get("conversation_rating") or {}
    if rating.get("rating"):
        delivery.survey = {"id": f"intercom-csat-{conversation['id']}", "kind": "csat", "score": rating["rating"],
                           "comment": str(rating.get("remark") or "")[:10_000],
                           "responded_at": _iso(rating.get("created_at") or conversation.get("updated_at"))}
    return delivery


def _account(delivery: Delivery) -> Account | None:
    if delivery.account_key:
        return Account.objects.filter(external_id=delivery.account_key).first()
    if delivery.user_id:
        contact = Contact.objects.filter(external_id=delivery.user_id).select_related("account").first()
        return contact.account if contact else None
    return None


def _store(delivery: Delivery, account: Account) -> str:
    caller = Caller(source=delivery.connector)
    done = []
    try:
        if delivery.ticket:
            result = ingestion.support_tickets_ingest(items=[{**delivery.ticket, "account": account.external_id}],
                                                      caller=caller)
            done.append(f"ticket {'created' if result.created else 'updated' if result.updated else 'unchanged'}")
        if delivery.survey:
            result = ingestion.survey_responses_ingest(items=[{**delivery.survey, "account": account.external_id}],
                                                       caller=caller)
            done.append("CSAT recorded" if result.created else "CSAT already recorded")
    except BatchRejected as rejection:
        problems = "; ".join(f"{error['field']}: {error['message']}" for error in rejection.errors)
        raise Refusal(400, f"The {delivery.connector.title()} call was refused: {problems}.",
                      rejection.errors) from None
    return ", ".join(done) or "nothing to store"


def helpdesk_apply(delivery: Delivery, *, message: dict, replaying: bool = False) -> tuple[dict, str]:
    """Store the delivery's ticket and CSAT once; hold it when its account is unknown. Returns the answer's body
    and the log's summary."""
    with transaction.atomic():
        if not replaying:
            _, first = ReceivedEvent.objects.get_or_create(connector=delivery.connector, event_id=delivery.event_id,
                                                           defaults={"kind": delivery.kind[:60]})
            if not first:
                return ({"received": True, "duplicate": True},
                        f"{delivery.kind} {delivery.event_id} was applied already; nothing changed")
        if delivery.ticket is None:
            return {"received": True, "ignored": True}, f"{delivery.kind}: not a call Bellwether reads; ignored"
        account = _account(delivery)
        if account is None:
            if not replaying:
                HeldCall.objects.get_or_create(connector=delivery.connector, message_id=delivery.event_id, defaults={
                    "kind": delivery.kind[:40], "account_key": delivery.account_key, "user_id": delivery.user_id,
                    "message": message, "reason": _hold_reason(delivery)})
            return {"received": True, "held": True}, f"{delivery.kind}: held, {_hold_reason(delivery)}"
        done = _store(delivery, account)
        return {"received": True, "account": account.external_id, "detail": done}, (
            f"{delivery.kind} {delivery.ticket['id']}: account {account.external_id}, {done}")


def _hold_reason(delivery: Delivery) -> str:
    if delivery.account_key:
        return f"account {delivery.account_key!r} does not exist yet"
    if delivery.user_id:
        return f"user {delivery.user_id!r} belongs to no known account yet"
    return "the call names no account (no organization external id, no contact with a user id)"


def helpdesk_held_replay(*, account_keys: set[str]) -> int:
    """Apply the helpdesk calls held for these accounts; returns how many left the hold."""
    replayed = 0
    held = HeldCall.objects.filter(connector__in=(Connector.ZENDESK, Connector.INTERCOM), account_key__in=account_keys)
    for row in held.order_by("id"):
        delivery = (zendesk_read(row.message["body"], row.message_id) if row.connector == Connector.ZENDESK
                    else intercom_read(row.message["body"]))
        try:
            body, _ = helpdesk_apply(delivery, message=row.message, replaying=True)
        except Refusal:
            continue
        if not body.get("held"):
            row.delete()
            replayed += 1
    return replayed
