"""The one exception handler: the domain's InvalidInput, Django's ValidationError and the database's refusal of
a value become a 400 (or the status given) with the errors naming the fields, in the documented Error shape."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.api.database_errors import DETAIL, database_errors, database_refusal_log
from core.errors import InvalidInput


class ItemErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True)
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = ItemErrorSerializer(many=True, required=False)


ERROR_RESPONSES = {
    400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 413: ErrorSerializer,
    415: ErrorSerializer, 422: ErrorSerializer, 429: ErrorSerializer,
}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, InvalidInput):
        body = {"detail": exc.detail}
        if exc.errors:
            body["errors"] = exc.errors
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            errors = [{"index": None, "field": field, "message": message}
                      for field, messages in exc.message_dict.items() for message in messages]
        else:
            errors = [{"index": None, "field": None, "message": message} for message in exc.messages]
        return Response({"detail": "Invalid input.", "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DataError | IntegrityError):
        database_refusal_log(exc)
        return Response({"detail": DETAIL, "errors": database_errors(exc)}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, ValidationError) and response is not None:
        response.data = _documented_validation_body(response.data)
    return response


def _documented_validation_body(data) -> dict:
    """A serializer's `{field: [messages]}` as the documented Error (`detail` and `errors`), keeping the field
    keys at the top level as well, since clients read them there."""
    if not isinstance(data, dict):
        return {"detail": "Invalid input.", "errors": [{"index": None, "field": None, "message": str(message)}
                                                       for message in _flat(data)]}
    errors = [{"index": None, "field": field, "message": str(message)}
              for field, messages in data.items() for message in _flat(messages)]
    return {**data, "detail": str(data.get("detail", "Invalid input.")), "errors": errors}


def _flat(messages) -> list:
    """Nested serializer errors (lists of dicts for many=True) as one list of messages."""
    if isinstance(messages, dict):
        return [f"{key}: {message}" for key, value in messages.items() for message in _flat(value)]
    if isinstance(messages, list):
        return [message for item in messages for message in _flat(item)]
    return [messages]
