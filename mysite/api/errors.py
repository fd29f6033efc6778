"""One error body for every API answer that is not a success.

``{"error": {"code": "not_found", "message": "Unknown payment.", "fields": {}}}``
with the HTTP status the kind of error calls for. Raise ``ApiError`` in a
router, or let a domain error through: ``mysite.errors.http_status`` gives
its status, for the API and the pages alike.
"""

from http import HTTPStatus

from django.http import JsonResponse
from ninja import Schema

CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}


class ErrorOut(Schema):
    error: ErrorDetail


class ApiError(Exception):
    """An answer other than success: ``raise ApiError(404, "Unknown image.")``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
        self.fields = fields or {}


def error_body(
    status: int, message: str, *, code: str | None = None, fields: dict | None = None
) -> dict:
    error = ApiError(status, message, code=code, fields=fields)
    return {"error": {"code": error.code, "message": error.message, "fields": error.fields}}


def error_response(
    status: int, message: str, *, code: str | None = None, fields: dict | None = None
) -> JsonResponse:
    return JsonResponse(error_body(status, message, code=code, fields=fields), status=status)


# Answers any operation may give: bad input, no or a revoked token, a body too
# large, too many requests, the queue or storage down. ``responses()`` adds them.
COMMON = (400, 401, 413, 429, 503)


def responses(ok: dict, *errors: int) -> dict:
    """An operation's ``response=``: its successes, the common errors and its own."""
    return {**ok, **dict.fromkeys(sorted({*COMMON, *errors}), ErrorOut)}
