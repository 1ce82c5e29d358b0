"""API keys through the API (admin scope). Data health reads customer data too: accounts.api.views."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ERROR_RESPONSES
from core.api.permissions import AdminScope
from core.api.scopes import Scope
from core.errors import InvalidInput
from integrations.api.idempotency import idempotent
from integrations.models import ApiKey
from integrations.services import ApiKeyError, api_key_create, api_key_revoke


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), min_length=1)


class ApiKeyCreated(ApiKeyOut):
    key = serializers.CharField(help_text="The secret, shown this once only.")

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "key"]


@extend_schema(tags=["settings"])
class ApiKeyList(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses={200: ApiKeyOut(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ApiKeyOut(ApiKey.objects.order_by("-created_at"), many=True).data)

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyCreated, **ERROR_RESPONSES})
    @idempotent(stored_body=lambda body: {**body, "key": None, "detail": "Key already issued; its secret was "
                                                                          "shown only in the first response."})
    def post(self, request: Request) -> Response:
        payload = ApiKeyIn(data=request.data)
        payload.is_valid(raise_exception=True)
        created_by = None if isinstance(request.auth, ApiKey) else request.user
        try:
            issued = api_key_create(created_by=created_by, **payload.validated_data)
        except ApiKeyError as error:
            raise InvalidInput(str(error)) from None
        body = ApiKeyOut(issued.api_key).data | {"key": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["settings"], request=None, responses={200: ApiKeyOut, **ERROR_RESPONSES})
class ApiKeyRevoke(APIView):
    permission_classes = [AdminScope]

    def post(self, request: Request, pk: int) -> Response:
        api_key = get_object_or_404(ApiKey, pk=pk)
        api_key_revoke(api_key=api_key)
        api_key.refresh_from_db()
        return Response(ApiKeyOut(api_key).data)
