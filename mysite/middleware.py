"""An unreachable broker or media storage: a clear answer, never a 500 traceback.

One rule for every app: work that a domain row records (an image, a report,
a notification, a payment) is saved even when the broker is down, and the
sweep queues it once the broker is back; the page says so and the API
answers 202 with a ``queue`` note. Anything else that needed the broker (a
task no row records, e.g. the dashboard's demo) or the storage is a 503, with
nothing saved.

The same handler answers any domain error a view let through
(``mysite.errors``): an ``Unavailable`` is that 503 (with ``Retry-After``), a
``Rejected`` the status of its kind, with its message. Views that show a
refusal on a form catch it themselves (``form_rejected``).
"""

import json
import logging
from http import HTTPStatus

from django.contrib import messages
from django.http import HttpResponseBase, JsonResponse
from django.template.response import TemplateResponse
from django.urls import resolve, reverse
from django.utils.functional import cached_property
from kombu.exceptions import OperationalError

from mysite.api.errors import error_response
from mysite.enqueue import QUEUE_DOWN_MESSAGE, BrokerUnavailable, unpublished, unpublished_reset
from mysite.errors import Rejected, Unavailable, http_status, retry_after
from mysite.storage import StorageUnavailable

logger = logging.getLogger(__name__)

MESSAGE = BrokerUnavailable.public_message
STORAGE_MESSAGE = StorageUnavailable.public_message


class BrokerUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        unpublished_reset()
        response = self.get_response(request)
        if unpublished() and response.status_code < 400:  # noqa: PLR2004
            response = saved_for_later(request, response)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError):  # kombu's: a publish outside enqueue()
            exception = BrokerUnavailable(str(exception))
        if not isinstance(exception, Rejected | Unavailable):
            return None
        return error_answer(request, exception)


def error_answer(request, exc: Rejected | Unavailable):
    """The answer to a domain error: the API's JSON body, or a page; a logged 503
    with ``Retry-After`` for an ``Unavailable``."""
    status = http_status(exc)
    if isinstance(exc, Unavailable):
        logger.warning("%s %s: 503: %s: %s", request.method, request.path, type(exc).__name__, exc)
        message, code, fields = exc.public_message, None, None
        headers = {"Retry-After": retry_after(exc)}
    else:
        message, code, fields, headers = exc.message, exc.code, exc.fields, {}
    response: HttpResponseBase
    if request.path.startswith("/api/") or not request.accepts("text/html"):
        response = error_response(status, message, code=code, fields=fields)
    else:
        heading = HTTPStatus(status).phrase.capitalize()
        context = {"heading": heading, "message": message}
        response = TemplateResponse(request, "mysite/error.html", context, status=status).render()
    for header, value in headers.items():
        response[header] = value
    return response


def saved_for_later(request, response):
    """Say that the work was saved but not started: the broker was down."""
    logger.warning("%s %s: saved, the broker was down", request.method, request.path)
    if response.get("Content-Type", "").startswith("application/json"):
        body = json.loads(response.content or b"{}")
        if isinstance(body, dict):
            body["queue"] = QUEUE_DOWN_MESSAGE
        return JsonResponse(body, status=202, safe=False)
    messages.warning(request, QUEUE_DOWN_MESSAGE)
    return response


class JsonApiErrorsMiddleware:
    """Under ``/api/``, every error is the API's JSON error body, even those that
    Django or Ninja answer before our code runs (a 405, a 413, a 400 bad host)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        is_json = response.get("Content-Type", "").startswith("application/json")
        if response.status_code < 400 or is_json or not request.path.startswith("/api/"):  # noqa: PLR2004
            return response
        status = response.status_code
        json_response = error_response(status, HTTPStatus(status).phrase.capitalize() + ".")
        for header in ("Allow", "Retry-After"):
            if header in response:
                json_response[header] = response[header]
        return json_response


class InternalEndpointsMiddleware:
    """Answer probes and metric scrapes before host validation and the HTTPS redirect.

    Kubernetes probes, Docker healthchecks and Prometheus reach a container by
    its IP over plain HTTP: the Host header is that IP, which ALLOWED_HOSTS
    rightly refuses (400), and a redirect to HTTPS would fail the probe. These
    views read no cookies and write nothing, so they run here, straight away.
    """

    URL_NAMES = ("healthz", "readyz", "metrics")

    def __init__(self, get_response):
        self.get_response = get_response

    @cached_property
    def paths(self) -> frozenset[str]:
        """Their paths, worked out once: every other request passes by a set lookup."""
        return frozenset(reverse(name) for name in self.URL_NAMES)

    def __call__(self, request):
        if request.path not in self.paths:
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)
