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

from django.db import transaction

from accounts import ingestion
from accounts.models import Account, Contact, TicketPriority
from connectors.documents import mapping, member, moment, objects, prose, text, whole
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


def _iso(epoch, where: str) -> str | None:
    read = moment(epoch, where)
    return read.isoformat() if read else None


def zendesk_read(document: dict, invocation_id: str) -> Delivery:
    ticket = document.get("ticket")
    ticket_id = text(member(ticket, "id"), "ticket.id") if isinstance(ticket, dict) else ""
    if not ticket_id:
        raise Refusal(400, 'Not the ticket this webhook expects: the body needs {"ticket": {"id": ...}}; use the '
                           "body shown on the Zendesk connector's page.")
    status = text(ticket.get("status"), "ticket.status").lower()
    updated_at = text(ticket.get("updated_at"), "ticket.updated_at")
    event_id = text(invocation_id, "X-Zendesk-Webhook-Invocation-Id") or f"{ticket_id}:{updated_at}"[:200]
    delivery = Delivery(connector=Connector.ZENDESK, event_id=event_id, kind=f"ticket {status or 'updated'}",
                        account_key=text(ticket.get("organization_external_id"), "ticket.organization_external_id"))
    item = {"id": f"zendesk-{ticket_id}", "opened_at": text(ticket.get("created_at"), "ticket.created_at"),
            "subject": prose(ticket.get("subject"), "ticket.subject", limit=500),
            "resolved_at": updated_at if status in SOLVED else None}
    priority = text(ticket.get("priority"), "ticket.priority").lower()
    if priority in TicketPriority.values:
        item["priority"] = priority
    delivery.ticket = item
    rating = text(ticket.get("satisfaction_rating"), "ticket.satisfaction_rating").lower()
    if rating in ZENDESK_RATINGS:
        delivery.survey = {"id": f"zendesk-csat-{ticket_id}", "kind": "csat", "score": ZENDESK_RATINGS[rating],
                           "comment": prose(ticket.get("satisfaction_comment"), "ticket.satisfaction_comment",
                                            limit=10_000),
                           "responded_at": updated_at}
    return delivery


def intercom_read(document: dict) -> Delivery:
    topic = text(document.get("topic"), "topic")
    conversation = member(document, "data", "item")
    notification_id = text(document.get("id"), "id")
    if not notification_id or not topic or not isinstance(conversation, dict):
        raise Refusal(400, "Not an Intercom notification: it needs an id, a topic and data.item.")
    delivery = Delivery(connector=Connector.INTERCOM, event_id=notification_id, kind=topic)
    if topic not in INTERCOM_TOPICS:
        return delivery  # a ping, or a topic Bellwether does not read: acknowledged, nothing stored
    conversation_id = text(conversation.get("id"), "data.item.id")
    if not conversation_id:
        raise Refusal(400, f"The {topic} notification carries no conversation id.")
    attribute = connector_options(Connector.INTERCOM)["account_attribute"]
    delivery.account_key = text(member(conversation, "custom_attributes", attribute),
                                f"data.item.custom_attributes.{attribute}")
    contacts = objects(member(conversation, "contacts", "contacts"))
    delivery.user_id = next((text(contact["external_id"], "data.item.contacts.contacts.external_id")
                             for contact in contacts if contact.get("external_id")), "")
    statistics = mapping(conversation.get("statistics"))
    closed = conversation.get("state") == "closed"
    updated_at = conversation.get("updated_at")
    delivery.ticket = {
        "id": f"intercom-{conversation_id}", "opened_at": _iso(conversation.get("created_at"), "data.item.created_at"),
        "first_response_at": _iso(statistics.get("first_admin_reply_at"), "data.item.statistics.first_admin_reply_at"),
        "resolved_at": _iso(statistics.get("last_close_at") or updated_at, "data.item.statistics.last_close_at")
        if closed else None,
        "priority": TicketPriority.HIGH if conversation.get("priority") == "priority" else TicketPriority.NORMAL,
        "subject": prose(conversation.get("title") or member(conversation, "source", "subject"),
                         "data.item.title", limit=500),
    }
    rating = mapping(conversation.get("conversation_rating"))
    if rating.get("rating"):
        delivery.survey = {"id": f"intercom-csat-{conversation_id}", "kind": "csat",
                           "score": whole(rating["rating"], "data.item.conversation_rating.rating", default=0,
                                          maximum=10),
                           "comment": prose(rating.get("remark"), "data.item.conversation_rating.remark", limit=10_000),
                           "responded_at": _iso(rating.get("created_at") or updated_at,
                                                "data.item.conversation_rating.created_at")}
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
