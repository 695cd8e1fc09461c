"""Turns domain errors into API responses: ``{"code", "detail", **params}``."""

from rest_framework.response import Response
from rest_framework.views import exception_handler

from members.exceptions import LoyaltyError


def api_exception_handler(exc, context):
    if isinstance(exc, LoyaltyError):
        body = {"code": exc.code, "detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        body.update({key: str(value) for key, value in exc.params.items()})
        return Response(body, status=exc.status)
    return exception_handler(exc, context)
