"""Turn an unreachable broker or media storage into a clear 503, not a 500 traceback."""

import logging

from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import resolve, reverse
from django.utils.functional import cached_property
from kombu.exceptions import OperationalError

from mysite.enqueue import BrokerUnavailable
from mysite.storage import StorageUnavailable

logger = logging.getLogger(__name__)

MESSAGE = "The task queue is unavailable right now. Nothing was started; please try again shortly."
STORAGE_MESSAGE = (
    "File storage is unavailable right now. Nothing was saved; please try again shortly."
)


class BrokerUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, StorageUnavailable):
            message = STORAGE_MESSAGE
        elif isinstance(exception, BrokerUnavailable | OperationalError):
            message = MESSAGE
        else:
            return None
        logger.warning(
            "%s %s: 503: %s: %s", request.method, request.path, type(exception).__name__, exception
        )
        if request.path.startswith("/api/") or not request.accepts("text/html"):
            return JsonResponse({"error": message}, status=503)
        response = TemplateResponse(
            request, "mysite/unavailable.html", {"message": message}, status=503
        )
        return response.render()


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
