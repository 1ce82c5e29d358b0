"""The endpoints the vendors' tools call on the tenant's host: Segment's tracking API (for Segment's and
RudderStack's libraries) and the signed webhooks of Stripe, Zendesk and Intercom. Plain Django views: they speak
the vendors' protocols, not Bellwether's API."""

from __future__ import annotations

import base64

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from connectors.billing import stripe_event_apply
from connectors.helpdesk import helpdesk_apply, intercom_read, zendesk_read
from connectors.http import Refusal, body_read, call_log, json_answer, json_object, refusal_of, throttle_check
from connectors.models import Connector
from connectors.options import connector_settings
from connectors.segment import BATCH_LIMIT, BatchRefused, segment_calls_apply
from connectors.signatures import intercom_signature_check, stripe_signature_check, zendesk_signature_check
from core.errors import InvalidInput
from integrations.ingest import Caller
from integrations.models import ApiKey, Scope
from integrations.services import api_key_authenticate

WRITE_KEY_HELP = ("send the write key (an API key with the ingest scope) as the HTTP Basic user name with an empty "
                  "password, or as writeKey in the body")


def _header_key(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() != "basic":
        return None
    try:
        user, _, _password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
    except ValueError:  # binascii.Error, a character that is not ASCII, bytes that are not UTF-8
        raise Refusal(401, f"Malformed HTTP Basic credentials: {WRITE_KEY_HELP}.") from None
    return user


def write_key_authenticate(request: HttpRequest, document: dict) -> ApiKey:
    """The tenant's active ingest key sent as Segment's libraries send it; another tenant's key is unknown here."""
    secret = _header_key(request) or document.get("writeKey")
    if not secret or not isinstance(secret, str):
        raise Refusal(401, f"No write key: {WRITE_KEY_HELP}.")
    api_key = api_key_authenticate(secret=secret)
    if api_key is None:
        raise Refusal(401, "Invalid or revoked write key for this tenant.")
    if Scope.INGEST not in api_key.scopes:
        raise Refusal(403, "This key has no 'ingest' scope; a write key needs it.")
    return api_key


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class SegmentEndpoint(View):
    """POST /v1/batch (a list of calls) or /v1/<type> (one call) of Segment's HTTP Tracking API."""

    http_method_names = ["post"]
    call_type: str | None = None  # None: the batch endpoint

    def _messages(self, document: dict) -> tuple[list, dict | None]:
        if self.call_type is None:
            batch = document.get("batch")
            if not isinstance(batch, list):
                raise Refusal(400, 'The body must be a JSON object with a "batch" list of calls.')
            context = document.get("context")
            return batch, context if isinstance(context, dict) else None
        message = {name: value for name, value in document.items() if name != "writeKey"}
        if message.setdefault("type", self.call_type) != self.call_type:
            raise Refusal(400, f"This endpoint takes {self.call_type} calls; the call says type {message['type']!r}.",
                          [{"index": 0, "field": "type", "message": f"must be {self.call_type!r}"}])
        return [message], None

    def post(self, request: HttpRequest) -> HttpResponse:
        api_key = None
        try:
            document = json_object(body_read(request, limit=BATCH_LIMIT))
            api_key = write_key_authenticate(request, document)
            throttle_check(request, api_key.pk)
            messages, context = self._messages(document)
            outcome = segment_calls_apply(messages=messages, batch_context=context,
                                          caller=Caller(api_key=api_key, source=Connector.SEGMENT))
        except BatchRefused as refused:
            refusal = Refusal(400, refused.detail, refused.errors)
        except InvalidInput as invalid:
            refusal = refusal_of(invalid)
        except Refusal as refused:
            refusal = refused
        else:
            call_log(connector=Connector.SEGMENT, status=200, summary=outcome.summary(), api_key=api_key)
            return json_answer(outcome.body())
        call_log(connector=Connector.SEGMENT, status=refusal.status, summary=refusal.reason, api_key=api_key,
                 authenticated=api_key is not None)
        return refusal.response()


# One vendor event is small; Stripe's largest (an invoice with many lines) stays well under this.
WEBHOOK_LIMIT = 1024 * 1024


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class SignedWebhook(View):
    """A vendor's webhook: the body is verified with the tenant's signing secret before anything reads it, then
    applied; the answer is 200 with what it did, or the refusal with why."""

    http_method_names = ["post"]
    connector: str

    def verify(self, request: HttpRequest, body: bytes, secret: str) -> None:
        raise NotImplementedError

    def apply(self, document: dict) -> tuple[dict, str]:
        """The answer's body and the log's summary."""
        raise NotImplementedError

    def post(self, request: HttpRequest) -> HttpResponse:
        verified = False
        try:
            body = body_read(request, limit=WEBHOOK_LIMIT)
            self.verify(request, body, connector_settings(self.connector).secret)
            verified = True
            try:
                answer, summary = self.apply(json_object(body))
            except InvalidInput as invalid:  # what the ingest services refuse (rolled back with the event)
                raise refusal_of(invalid) from None
        except Refusal as refusal:
            call_log(connector=self.connector, status=refusal.status, summary=refusal.reason, authenticated=verified)
            return refusal.response()
        call_log(connector=self.connector, status=200, summary=summary)
        return json_answer(answer)


class StripeWebhook(SignedWebhook):
    """Stripe's events: subscriptions and paid invoices as MRR snapshots (connectors.billing)."""

    connector = Connector.STRIPE

    def verify(self, request: HttpRequest, body: bytes, secret: str) -> None:
        stripe_signature_check(header=request.headers.get("Stripe-Signature", ""), payload=body, secret=secret)

    def apply(self, document: dict) -> tuple[dict, str]:
        applied = stripe_event_apply(document)
        return applied.body(), applied.summary


class ZendeskWebhook(SignedWebhook):
    """Zendesk's webhook (from a trigger on ticket created, updated or solved): tickets and CSAT."""

    connector = Connector.ZENDESK

    def verify(self, request: HttpRequest, body: bytes, secret: str) -> None:
        zendesk_signature_check(signature=request.headers.get("X-Zendesk-Webhook-Signature", ""),
                                timestamp=request.headers.get("X-Zendesk-Webhook-Signature-Timestamp", ""),
                                payload=body, secret=secret)
        self.invocation_id = request.headers.get("X-Zendesk-Webhook-Invocation-Id", "")

    def apply(self, document: dict) -> tuple[dict, str]:
        return helpdesk_apply(zendesk_read(document, self.invocation_id), message={"body": document})


class IntercomWebhook(SignedWebhook):
    """Intercom's notifications (conversation created, replied, closed, rated): tickets and CSAT."""

    connector = Connector.INTERCOM

    def verify(self, request: HttpRequest, body: bytes, secret: str) -> None:
        intercom_signature_check(header=request.headers.get("X-Hub-Signature", ""), payload=body, secret=secret)

    def apply(self, document: dict) -> tuple[dict, str]:
        return helpdesk_apply(intercom_read(document), message={"body": document})
