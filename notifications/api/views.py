"""Webhooks through the API: admins configure endpoints, read every delivery's log, resend and test."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ERROR_RESPONSES
from core.api.pagination import cursor_pagination
from core.api.permissions import AdminScope
from core.errors import InvalidInput
from integrations.api.idempotency import idempotent
from integrations.models import ApiKey
from notifications import webhooks
from notifications.models import SUBSCRIBABLE_EVENTS, DeliveryStatus, Webhook, WebhookDelivery, WebhookFormat


class WebhookOut(serializers.ModelSerializer):
    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "events", "format", "is_active", "created_at"]


class WebhookWithSecret(WebhookOut):
    secret = serializers.CharField(help_text="Signs each delivery: HMAC-SHA256 of '<t>.<body>'.")

    class Meta(WebhookOut.Meta):
        fields = [*WebhookOut.Meta.fields, "secret"]


class WebhookIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    url = serializers.CharField(max_length=500)
    events = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), min_length=1)
    format = serializers.ChoiceField(choices=WebhookFormat.choices, default=WebhookFormat.BELLWETHER,
                                     help_text="bellwether: the signed event; slack: a Slack incoming-webhook message.")
    is_active = serializers.BooleanField(default=True)


class DeliveryOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook", "event", "event_id", "status", "attempts", "next_attempt_at", "response_status",
                  "response_body", "error", "duration_ms", "created_at", "last_attempt_at", "delivered_at",
                  "payload"]


def _changed(call):
    """Run a service call; its WebhookError is the client's 400, naming the field at fault."""
    try:
        return call()
    except webhooks.WebhookError as error:
        raise InvalidInput(str(error), errors=[{"index": None, "field": error.field, "message": str(error)}]) from None


@extend_schema(tags=["webhooks"])
class WebhookList(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses={200: WebhookOut(many=True)})
    def get(self, request: Request) -> Response:
        return Response(WebhookOut(Webhook.objects.all(), many=True).data)

    @extend_schema(request=WebhookIn, responses={201: WebhookWithSecret, **ERROR_RESPONSES})
    @idempotent
    def post(self, request: Request) -> Response:
        payload = WebhookIn(data=request.data)
        payload.is_valid(raise_exception=True)
        created_by = None if isinstance(request.auth, ApiKey) else request.user
        webhook = _changed(lambda: webhooks.webhook_create(created_by=created_by, **payload.validated_data))
        return Response(WebhookWithSecret(webhook).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["webhooks"])
class WebhookDetail(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses={200: WebhookWithSecret, 404: ERROR_RESPONSES[400]})
    def get(self, request: Request, pk: int) -> Response:
        return Response(WebhookWithSecret(get_object_or_404(Webhook, pk=pk)).data)

    @extend_schema(request=WebhookIn(partial=True), responses={200: WebhookOut, **ERROR_RESPONSES})
    def patch(self, request: Request, pk: int) -> Response:
        webhook = get_object_or_404(Webhook, pk=pk)
        payload = WebhookIn(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        changes = {field: value for field, value in payload.validated_data.items() if field in request.data}
        webhook = _changed(lambda: webhooks.webhook_update(webhook=webhook, **changes))
        return Response(WebhookOut(webhook).data)

    @extend_schema(responses={204: None, 404: ERROR_RESPONSES[400]})
    def delete(self, request: Request, pk: int) -> Response:
        get_object_or_404(Webhook, pk=pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["webhooks"], request=None, responses={200: WebhookWithSecret, 404: ERROR_RESPONSES[400]})
class WebhookSecretRotate(APIView):
    """A new signing secret; the old one stops working at once."""

    permission_classes = [AdminScope]

    def post(self, request: Request, pk: int) -> Response:
        webhook = get_object_or_404(Webhook, pk=pk)
        webhooks.webhook_secret_rotate(webhook=webhook)
        return Response(WebhookWithSecret(webhook).data)


@extend_schema(tags=["webhooks"], request=None, responses={202: DeliveryOut, 404: ERROR_RESPONSES[400]})
class WebhookPing(APIView):
    """Send a signed test delivery now; its result appears in the delivery log."""

    permission_classes = [AdminScope]

    def post(self, request: Request, pk: int) -> Response:
        delivery = webhooks.ping_send(webhook=get_object_or_404(Webhook, pk=pk))
        return Response(DeliveryOut(delivery).data, status=status.HTTP_202_ACCEPTED)


ByCreatedAt = cursor_pagination("-created_at", "-id")


@extend_schema(tags=["webhooks"], parameters=[
    OpenApiParameter("status", str, enum=DeliveryStatus.values), OpenApiParameter("event", str)])
class WebhookDeliveries(generics.ListAPIView):
    """Every delivery of one endpoint, newest first, with each attempt's answer."""

    permission_classes = [AdminScope]
    serializer_class = DeliveryOut
    pagination_class = ByCreatedAt

    def get_queryset(self):
        webhook = get_object_or_404(Webhook, pk=self.kwargs["pk"])
        deliveries = webhook.deliveries.all()
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in DeliveryStatus.values:
                raise InvalidInput(f"status must be one of {', '.join(DeliveryStatus.values)}.")
            deliveries = deliveries.filter(status=wanted)
        if self.request.query_params.get("event"):
            deliveries = deliveries.filter(event=self.request.query_params["event"])
        return deliveries


@extend_schema(tags=["webhooks"], request=None, responses={202: DeliveryOut, **ERROR_RESPONSES})
class DeliveryRedeliver(APIView):
    """Send a delivery again with fresh attempts (after the endpoint is fixed); same event id."""

    permission_classes = [AdminScope]

    def post(self, request: Request, pk: int) -> Response:
        delivery = get_object_or_404(WebhookDelivery, pk=pk)
        if not webhooks.delivery_redeliver(delivery=delivery):
            raise InvalidInput("This delivery is being attempted now; try again when the attempt has finished.")
        delivery.refresh_from_db()
        return Response(DeliveryOut(delivery).data, status=status.HTTP_202_ACCEPTED)
