"""Turn an unreachable broker into a clear 503 instead of a 500 traceback."""

from django.http import JsonResponse
from django.template.response import TemplateResponse
from kombu.exceptions import OperationalError

from mysite.enqueue import BrokerUnavailable

MESSAGE = "The task queue is unavailable right now. Nothing was started; please try again shortly."


class BrokerUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, BrokerUnavailable | OperationalError):
            return None
        if request.path.startswith("/api/") or not request.accepts("text/html"):
            return JsonResponse({"error": MESSAGE}, status=503)
        response = TemplateResponse(
            request, "mysite/unavailable.html", {"message": MESSAGE}, status=503
        )
        return response.render()
