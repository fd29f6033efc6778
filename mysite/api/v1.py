"""``/api/v1/``: the API instance, its error handlers and its routers.

Every answer that is not a success has the body of ``mysite.api.errors``.
Domain errors (``mysite.errors``: a ``Rejected`` or an ``Unavailable``) get
their status from ``http_status``, as pages do; the handlers below map the
framework's exceptions; anything else unexpected is a bug and a 500 (whose
body ``mysite.views.server_error`` makes JSON too).
"""

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from kombu.exceptions import OperationalError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from mysite.api.auth import AUTH, BucketThrottle
from mysite.api.errors import ApiError, error_response
from mysite.enqueue import BrokerUnavailable
from mysite.errors import Rejected, Unavailable
from mysite.middleware import error_answer

api = NinjaAPI(
    title="mysite API",
    version="1",
    description=(
        "Pictures, reports, notifications and payments, for programs. Send "
        "`Authorization: Bearer <token>` (make one under Settings, API tokens, "
        "or `manage.py create_api_token USER`). Errors have one body: "
        '`{"error": {"code", "message", "fields"}}`.'
    ),
    urls_namespace="api-v1",
    auth=AUTH,
    throttle=[BucketThrottle()],
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _error(request, status: int, message: str, *, code=None, fields=None):
    return error_response(status, message, code=code, fields=fields)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _error(request, exc.status, exc.message, code=exc.code, fields=exc.fields)


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        fields.setdefault(field_name(error.get("loc", ())), []).append(error.get("msg", "Invalid."))
    names = ", ".join(sorted(fields))
    return _error(request, 400, f"Invalid input: {names}.", fields=fields)


def field_name(loc) -> str:
    """``("body", "payload", "amount")`` -> ``"amount"``; ``("query", "limit")`` -> ``"limit"``."""
    parts = [str(part) for part in loc]
    if parts[:1] == ["body"] and len(parts) > 2:  # noqa: PLR2004  body, the schema's name, field
        parts = parts[2:]
    elif parts[:1] in (["query"], ["path"], ["header"], ["form"], ["file"], ["body"]):
        parts = parts[1:]
    return ".".join(parts) or "__all__"


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(request, 401, "Send a valid API token (Authorization: Bearer …) or sign in.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, "Not found.")


@api.exception_handler(MultiPartParserError)
def _unreadable_body(request, exc):
    return _error(request, 400, f"The multipart body could not be read: {exc}.")


@api.exception_handler(RequestDataTooBig)
@api.exception_handler(TooManyFieldsSent)
@api.exception_handler(TooManyFilesSent)
def _too_large(request, exc):
    return _error(request, 413, f"The request is too large: {exc}")


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc):
    return _error(request, 400, "The request could not be read.")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _error(request, 403, str(exc) or "You may not do this.")


@api.exception_handler(Rejected)
@api.exception_handler(Unavailable)
def _domain_error(request, exc):
    return error_answer(request, exc)


@api.exception_handler(OperationalError)
def _queue_down(request, exc):
    """kombu's, from a publish outside ``enqueue()``: the broker is down all the same."""
    return error_answer(request, BrokerUnavailable(str(exc)))


api.add_router("/tasks/", "mysite.api.tasks.router")
api.add_router("/images/", "images.api.router")
api.add_router("/reports/", "reports.api.router")
api.add_router("/", "notifications.api.router")  # /notifications/ and /broadcasts/
api.add_router("/", "payments.api.router")  # /accounts/ and /payments/
