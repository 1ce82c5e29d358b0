"""Segment's tracking calls, as Segment's and RudderStack's libraries send them, turned into customer data.

`group` upserts an account (its traits mapped to account fields, MRR to the month's revenue snapshot) and
makes the user one of its contacts; `identify` records a contact of the account it names; `track`, `page` and
`screen` become usage events of the account they name, or of their user's account. A call whose account does
not exist yet is held (HeldCall) and applied when the account or the user's group call arrives.

Everything is written through the bulk ingest services, in one transaction: a batch is applied whole or not
at all. A malformed call (no user, no event name, a bad timestamp, over 32 KB) refuses the batch with every
problem listed; a trait that does not fit its field (seats: "many") is left out and reported as a warning,
since Segment's clients never resend a refused batch and one odd trait must not lose a batch of events.
Events are deduplicated by `messageId`; `identify` and `group` are upserts, so a retried one changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import ingestion
from accounts.ingestion import accounts_resolve
from connectors.models import Connector, HeldCall
from connectors.options import connector_options
from core.errors import InvalidInput
from core.numbers import ascii_digits
from integrations.ingest import Caller, IngestResult
from integrations.services import batch_rejection_record
from integrations.validation import BatchRejected, FieldError, Text, Timestamp

MESSAGE_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
EVENT_TYPES = ("track", "page", "screen")
KNOWN_TYPES = ("identify", "group", *EVENT_TYPES, "alias")
MAX_WARNINGS = 50
# Held calls applied per round of a replay: a batch's worth of the bulk API.
MAX_REPLAY = 10_000
_ID = Text()
_TIMESTAMP = Timestamp()


@dataclass
class Call:
    """One valid message, with what every mapping needs already read from it."""

    index: int
    type: str
    message_id: str
    user_id: str  # userId, or anonymousId for an anonymous call
    known_user: bool  # a userId (not only an anonymousId): contacts are made only of known users
    timestamp: datetime
    named_account: str  # the account the call names itself ("" when none)
    message: dict
    traits: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What a batch did, as the 200 answer tells it."""

    accounts: IngestResult = field(default_factory=IngestResult)
    contacts: IngestResult = field(default_factory=IngestResult)
    events: IngestResult = field(default_factory=IngestResult)
    revenue: IngestResult = field(default_factory=IngestResult)
    held: int = 0
    replayed: int = 0
    ignored: int = 0
    warnings: list[dict] = field(default_factory=list)

    def body(self) -> dict:
        return {"success": True, "accounts": self.accounts.counts(), "contacts": self.contacts.counts(),
                "events": self.events.counts(), "revenue": self.revenue.counts(), "held": self.held,
                "replayed": self.replayed, "ignored": self.ignored, "warnings": self.warnings[:MAX_WARNINGS]}

    def summary(self) -> str:
        parts = [f"{self.events.created} new event(s)", f"{self.events.duplicates} duplicate(s)",
                 f"{self.accounts.created + self.accounts.updated} account(s) written",
                 f"{self.contacts.created + self.contacts.updated} contact(s) written"]
        if self.held:
            parts.append(f"{self.held} held for an unknown account")
        if self.replayed:
            parts.append(f"{self.replayed} held call(s) applied")
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning(s): {self.warnings[0]['message']}")
        return "; ".join(parts)


class BatchRefused(InvalidInput):
    """The batch was refused; `ingest_rejection` is the bulk ingest's own refusal, logged for data health."""

    def __init__(self, detail: str, errors: list[dict], ingest_rejection: BatchRejected | None = None) -> None:
        super().__init__(detail, errors)
        self.ingest_rejection = ingest_rejection


# --- reading the calls --------------------------------------------------------------------------------------

def _text(message: dict, name: str, errors: list[dict], index: int, *, required: bool = False) -> str:
    value = message.get(name)
    if value is None or value == "":
        if required:
            errors.append({"index": index, "field": name, "message": "is required"})
        return ""
    try:
        return _ID.parse(value)
    except FieldError as error:
        errors.append({"index": index, "field": name, "message": str(error)})
        return ""


def _object(message: dict, name: str, errors: list[dict], index: int) -> dict:
    value = message.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append({"index": index, "field": name, "message": "must be a JSON object"})
        return {}
    return value


def _timestamp(message: dict, errors: list[dict], index: int, received_at: datetime) -> datetime:
    for name in ("timestamp", "originalTimestamp"):
        if message.get(name) is not None:
            try:
                return _TIMESTAMP.parse(message[name])
            except FieldError as error:
                errors.append({"index": index, "field": name, "message": str(error)})
                return received_at
    return received_at


def _identify_traits(message: dict) -> dict:
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    traits = context.get("traits") if isinstance(context.get("traits"), dict) else {}
    return traits | (message["traits"] if isinstance(message.get("traits"), dict) else {})


def message_id_of(message: dict) -> str:
    """The call's messageId, or one made from its content: a retried call without one is still recognised."""
    given = message.get("messageId")
    if isinstance(given, str | int) and not isinstance(given, bool) and str(given).strip():
        return str(given).strip()[:200]
    return "sha256:" + hashlib.sha256(orjson.dumps(message, option=orjson.OPT_SORT_KEYS)).hexdigest()


def calls_read(messages: Sequence, *, options: dict, received_at: datetime, batch_context: dict | None = None,
               ) -> tuple[list[Call], list[int]]:
    """Every message checked; returns the valid calls and the indexes of the ignored ones (alias), or raises
    BatchRefused listing every problem of every message."""
    errors: list[dict] = []
    calls: list[Call] = []
    ignored: list[int] = []
    if not messages:
        raise BatchRefused("The batch is empty: send at least one call.", [])
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            errors.append({"index": index, "field": None, "message": "must be a JSON object"})
            continue
        size = len(orjson.dumps(message))
        if size > MESSAGE_LIMIT:
            errors.append({"index": index, "field": None,
                           "message": f"is {size:,} bytes; a call may be at most {MESSAGE_LIMIT:,} bytes (32 KB)"})
            continue
        kind = message.get("type")
        if kind not in KNOWN_TYPES:
            errors.append({"index": index, "field": "type", "message": f"must be one of: {', '.join(KNOWN_TYPES)}"})
            continue
        if kind == "alias":
            ignored.append(index)
            continue
        call = _call_read(index, kind, message, options, received_at, batch_context or {}, errors)
        if call is not None:
            calls.append(call)
    if errors:
        raise BatchRefused(f"The batch was rejected: {len(errors)} problem(s) in "
                           f"{len({error['index'] for error in errors})} call(s); nothing was stored.", errors)
    return calls, ignored


def _call_read(index: int, kind: str, message: dict, options: dict, received_at: datetime, batch_context: dict,
               errors: list[dict]) -> Call | None:
    before = len(errors)
    user_id = _text(message, "userId", errors, index)
    anonymous_id = _text(message, "anonymousId", errors, index)
    if not user_id and not anonymous_id and len(errors) == before:
        errors.append({"index": index, "field": "userId", "message": "userId or anonymousId is required"})
    context = batch_context | _object(message, "context", errors, index)
    traits = _object(message, "traits", errors, index)
    if kind == "identify":  # RudderStack's library sends an identify call's traits in its context
        traits = _object(context, "traits", errors, index) | traits
    properties = _object(message, "properties", errors, index)
    named = _text(context, "groupId", errors, index)
    if kind == "group":
        named = _text(message, "groupId", errors, index, required=True)
    elif kind == "identify" and not named and options["user_account_trait"]:
        named = _text(traits, options["user_account_trait"], errors, index)
    elif kind in EVENT_TYPES and not named and options["event_account_property"]:
        named = _text(properties, options["event_account_property"], errors, index)
    if kind == "track":
        _text(message, "event", errors, index, required=True)
    timestamp = _timestamp(message, errors, index, received_at)
    if len(errors) > before:
        return None
    return Call(index=index, type=kind, message_id=message_id_of(message), user_id=user_id or anonymous_id,
                known_user=bool(user_id), timestamp=timestamp, named_account=named, message=message, traits=traits)


# --- mapping calls to items ----------------------------------------------------------------------------------

def _trait(field_spec, value):
    """A trait as the account field expects it: ids and plans may be numbers, seats a numeric string, a renewal
    date a date-time."""
    from integrations.validation import Day, Integer

    if isinstance(field_spec, Integer) and isinstance(value, str) and ascii_digits(value.strip()):
        value = int(value.strip())
    elif isinstance(field_spec, Day) and isinstance(value, str) and len(value) > 10 and value[10] in "T ":
        value = value[:10]
    return field_spec.parse(value)


def _account_items(groups: list[Call], options: dict, warnings: list[dict]
                   ) -> tuple[list[dict], list[int], list[dict], list[int]]:
    """Account items (merged per groupId, later calls winning) and revenue items from the group calls' traits,
    each with the message index it came from."""
    from integrations.validation import Money
    from users.models import User

    mapping = {name: trait for name, trait in options["account_traits"].items() if trait}
    emails = {str(call.message["traits"].get(mapping["owner"], "")).strip().lower()
              for call in groups if "owner" in mapping and isinstance(call.message.get("traits"), dict)}
    owners = set(User.objects.filter(email__in=emails - {""}, is_active=True).values_list("email", flat=True))
    accounts: dict[str, dict] = {}
    sources: dict[str, int] = {}
    revenue: dict[tuple[str, str], dict] = {}
    revenue_sources: dict[tuple[str, str], int] = {}
    for call in groups:
        traits = call.message.get("traits") or {}
        item = accounts.setdefault(call.named_account, {"external_id": call.named_account})
        sources[call.named_account] = call.index
        for name, trait in mapping.items():
            if traits.get(trait) in (None, ""):
                continue
            if name == "mrr":
                try:
                    mrr = Money().parse(traits[trait])
                except FieldError as error:
                    warnings.append({"index": call.index, "field": f"traits.{trait}", "message": f"{error}; ignored"})
                    continue
                key = (call.named_account, f"{call.timestamp:%Y-%m}")
                revenue[key] = {"account": key[0], "month": key[1], "mrr": str(mrr)}
                revenue_sources[key] = call.index
                continue
            try:
                value = _trait(ingestion.ACCOUNT_SPEC.fields[name], traits[trait])
            except FieldError as error:
                warnings.append({"index": call.index, "field": f"traits.{trait}", "message": f"{error}; ignored"})
                continue
            if name == "owner" and value not in owners:
                warnings.append({"index": call.index, "field": f"traits.{trait}",
                                 "message": f"no active user with email {value!r} in this tenant; owner left as is"})
                continue
            item[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return (list(accounts.values()), [sources[key] for key in accounts],
            list(revenue.values()), [revenue_sources[key] for key in revenue])


def _contact_fields(call: Call, warnings: list[dict]) -> dict:
    """Email and name from an identify call's traits (Segment's reserved `email`, `name`, `firstName`...)."""
    traits = call.traits
    fields: dict = {}
    if traits.get("email"):
        try:
            fields["email"] = ingestion.CONTACT_SPEC.fields["email"].parse(traits["email"])
        except FieldError as error:
            warnings.append({"index": call.index, "field": "traits.email", "message": f"{error}; ignored"})
    name = traits.get("name") or " ".join(str(traits[part]) for part in ("firstName", "lastName") if traits.get(part))
    if name:
        try:
            fields["name"] = ingestion.CONTACT_SPEC.fields["name"].parse(name)
        except FieldError as error:
            warnings.append({"index": call.index, "field": "traits.name", "message": f"{error}; ignored"})
    return fields


def _event_name(call: Call) -> str:
    message = call.message
    if call.type == "track":
        return _ID.parse(message["event"])
    label = " ".join(str(message[part]).strip() for part in ("category", "name") if message.get(part))
    noun = "Page" if call.type == "page" else "Screen"
    return f"Viewed {label} {noun}" if label else f"Loaded a {noun}"


def _event_properties(call: Call) -> dict:
    properties = dict(call.message.get("properties") or {})
    if call.type != "track":
        for part in ("name", "category"):
            if call.message.get(part):
                properties.setdefault(part, call.message[part])
    return properties


def _contacts_stored(user_ids: Iterable[str]) -> dict[str, str]:
    """Each known user's account (external id), in one query."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.external_id, a.external_id FROM accounts_contact c "
                       "JOIN accounts_account a ON a.id = c.account_id WHERE c.external_id = ANY(%s)", [ids])
        return dict(cursor.fetchall())


@dataclass
class _Plan:
    """Where each call goes: contact and event items (with their message indexes) and the calls to hold."""

    contacts: dict[str, dict] = field(default_factory=dict)
    contact_sources: dict[str, int] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    event_sources: list[int] = field(default_factory=list)
    held: list[tuple[Call, str]] = field(default_factory=list)
    applied: list[Call] = field(default_factory=list)
    repeated_events: int = 0  # the same messageId twice in one batch: the first is stored

    def contact_seen(self, call: Call, account: str | None, fields: dict | None = None) -> None:
        item = self.contacts.get(call.user_id)
        if item is None:
            item = self.contacts[call.user_id] = {"id": call.user_id, "first_seen_at": call.timestamp,
                                                  "last_seen_at": call.timestamp}
        item["first_seen_at"] = min(item["first_seen_at"], call.timestamp)
        item["last_seen_at"] = max(item["last_seen_at"], call.timestamp)
        if account:
            item["account"] = account
        item.update(fields or {})
        self.contact_sources[call.user_id] = call.index


def _plan(calls: list[Call], accounts_known: set[str], warnings: list[dict]) -> _Plan:
    """Resolve every identify, group and event call to its account, in the order the calls were made."""
    plan = _Plan()
    stored = _contacts_stored(call.user_id for call in calls if call.known_user)
    seen_ids: set[str] = set()
    for call in calls:
        if call.type == "group":
            if call.known_user:
                plan.contact_seen(call, call.named_account)
            plan.applied.append(call)
            continue
        account = _account_of(call, plan, stored, accounts_known)
        if account is None:
            plan.held.append((call, _hold_reason(call)))
            continue
        plan.applied.append(call)
        if call.type == "identify":
            if call.known_user:
                plan.contact_seen(call, call.named_account or None, _contact_fields(call, warnings))
            continue
        if call.message_id in seen_ids:
            plan.repeated_events += 1
            continue
        seen_ids.add(call.message_id)
        plan.events.append({"id": call.message_id, "account": account, "user": call.user_id,
                            "event": _event_name(call), "timestamp": call.timestamp.isoformat(),
                            "properties": _event_properties(call)})
        plan.event_sources.append(call.index)
        if call.known_user:
            is_new = call.user_id not in stored and call.user_id not in plan.contacts
            plan.contact_seen(call, account if is_new else None)
    return plan


def _account_of(call: Call, plan: _Plan, stored: dict[str, str], accounts_known: set[str]) -> str | None:
    """The account a call belongs to: the one it names, else its user's (this batch's group or identify calls
    first, then the stored contact); None when that account does not exist yet."""
    if call.named_account:
        return call.named_account if call.named_account in accounts_known else None
    if not call.known_user:
        return None
    account = plan.contacts.get(call.user_id, {}).get("account") or stored.get(call.user_id)
    return account if account in accounts_known else None


def _hold_reason(call: Call) -> str:
    if call.named_account:
        return f"account {call.named_account!r} does not exist yet (no group call or account import named it)"
    if not call.known_user:
        return "an anonymous call names no account (context.groupId)"
    return f"user {call.user_id!r} belongs to no known account yet (no group call, no context.groupId)"


# --- writing ---------------------------------------------------------------------------------------------------

def _ingest(ingest, items: list[dict], sources: list[int], caller: Caller, what: str) -> IngestResult:
    """One bulk ingest of the batch's items; its refusal names the calls (message indexes) it came from."""
    if not items:
        return IngestResult()
    try:
        return ingest(items=items, caller=caller)
    except BatchRejected as rejection:
        errors = [{**error, "index": sources[error["index"]] if error.get("index") is not None else None,
                   "message": f"as {what}: {error['message']}"} for error in rejection.errors]
        raise BatchRefused(f"The batch was rejected: {len(errors)} problem(s); nothing was stored.", errors,
                           ingest_rejection=rejection) from None


def _hold(held: list[tuple[Call, str]]) -> int:
    """Keep the calls whose account is unknown; a call held already (a retried batch) is kept once."""
    if not held:
        return 0
    rows = [HeldCall(connector=Connector.SEGMENT, message_id=call.message_id, kind=call.type,
                     account_key=call.named_account, user_id=call.user_id if call.known_user else "",
                     message=call.message, reason=reason) for call, reason in held]
    HeldCall.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _apply(calls: list[Call], caller: Caller, options: dict, outcome: Outcome, *, hold: bool) -> tuple[_Plan, set]:
    groups = [call for call in calls if call.type == "group"]
    account_items, account_sources, revenue_items, revenue_sources = _account_items(groups, options, outcome.warnings)
    existing = accounts_resolve(item["external_id"] for item in account_items)
    for item in account_items:
        if item["external_id"] not in existing:
            item.setdefault("name", item["external_id"])  # a new account's group call may carry no name trait
    accounts = _ingest(ingestion.accounts_ingest, account_items, account_sources, caller, "an account")
    revenue = _ingest(ingestion.revenue_snapshots_ingest, revenue_items, revenue_sources, caller, "revenue")
    named = {call.named_account for call in calls if call.named_account}
    known_users = [call.user_id for call in calls if call.known_user]
    accounts_known = set(accounts_resolve(named | set(_contacts_stored(known_users).values())))
    plan = _plan(calls, accounts_known, outcome.warnings)
    contact_items = [{**item, "first_seen_at": item["first_seen_at"].isoformat(),
                      "last_seen_at": item["last_seen_at"].isoformat()} for item in plan.contacts.values()]
    contacts = _ingest(ingestion.contacts_ingest, contact_items,
                       [plan.contact_sources[user] for user in plan.contacts], caller, "a contact")
    events = _ingest(ingestion.usage_events_ingest, plan.events, plan.event_sources, caller, "an event")
    for total, part in ((outcome.accounts, accounts), (outcome.revenue, revenue), (outcome.contacts, contacts),
                        (outcome.events, events)):
        total.created += part.created
        total.updated += part.updated
        total.duplicates += part.duplicates
    outcome.events.duplicates += plan.repeated_events
    if hold:
        outcome.held += _hold(plan.held)
    return plan, {item["external_id"] for item in account_items}


def _held_calls(*, account_keys: set[str], user_ids: set[str]) -> list[HeldCall]:
    if not account_keys and not user_ids:
        return []
    return list(HeldCall.objects.filter(connector=Connector.SEGMENT).filter(
        Q(account_key__in=account_keys) | Q(account_key="", user_id__in=user_ids)
    ).order_by("received_at", "id")[:MAX_REPLAY])


def _held_call(position: int, row: HeldCall) -> Call:
    """A held call as it was read when it arrived (its time travels with it, in `_timestamp`)."""
    return Call(index=position, type=row.kind, message_id=row.message_id,
                user_id=row.user_id or str(row.message.get("anonymousId") or ""), known_user=bool(row.user_id),
                timestamp=_TIMESTAMP.parse(row.message["_timestamp"]), named_account=row.account_key,
                message=row.message, traits=_identify_traits(row.message))


def held_calls_replay(*, account_keys: set[str], user_ids: set[str] = frozenset(), caller: Caller | None = None,
                      outcome: Outcome | None = None, rounds: int = 3) -> Outcome:
    """Apply the held calls that name these accounts, or whose user now has one; the ones that resolve leave
    the hold. A replayed identify can resolve its user's held events, so this repeats a few rounds."""
    outcome = outcome or Outcome()
    caller = caller or Caller(source="segment")
    options = connector_options(Connector.SEGMENT)
    with transaction.atomic():
        for _ in range(rounds):
            held = _held_calls(account_keys=account_keys, user_ids=user_ids)
            if not held:
                break
            calls = [_held_call(position, row) for position, row in enumerate(held)]
            plan, _ = _apply(calls, caller, options, outcome, hold=False)
            resolved = [call.message_id for call in plan.applied]
            HeldCall.objects.filter(connector=Connector.SEGMENT, message_id__in=resolved).delete()
            outcome.replayed += len(resolved)
            if not resolved:
                break
            account_keys = set()
            user_ids = {call.user_id for call in plan.applied if call.known_user}
    return outcome


def segment_calls_apply(*, messages: Sequence, caller: Caller, batch_context: dict | None = None,
                        received_at: datetime | None = None) -> Outcome:
    """Apply a batch of tracking calls whole, or refuse it (BatchRefused, logged for data health)."""
    received_at = received_at or timezone.now()
    options = connector_options(Connector.SEGMENT)
    calls, ignored = calls_read(messages, options=options, received_at=received_at, batch_context=batch_context)
    for call in calls:
        # The time the call happened travels with a held call, since a replay has no batch to read it from.
        call.message = {**call.message, "_timestamp": call.timestamp.astimezone(UTC).isoformat()}
    outcome = Outcome(ignored=len(ignored))
    try:
        with transaction.atomic():
            plan, accounts_written = _apply(calls, caller, options, outcome, hold=True)
            users = {user for user, item in plan.contacts.items() if "account" in item}
            if accounts_written or users:
                held_calls_replay(account_keys=accounts_written, user_ids=users, caller=caller, outcome=outcome)
    except BatchRefused as refusal:
        if refusal.ingest_rejection is not None:
            batch_rejection_record(rejection=refusal.ingest_rejection)
        raise
    return outcome
