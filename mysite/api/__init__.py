"""The JSON API, ``/api/v1/``: Django Ninja, one router per app (``<app>/api.py``).

- ``mysite.api.v1``: the ``NinjaAPI`` (auth, throttling, error handlers, routers).
- ``mysite.api.errors``: the one error body, ``{"error": {"code", "message", "fields"}}``.
- ``mysite.api.auth``: bearer tokens for programs, the session (with CSRF) for our pages.
- ``mysite.api.pagination``: limit/offset pages with a ``next`` link, bounded in size.
"""

from functools import wraps

from django.http import JsonResponse

# The hand-written endpoints' helpers, until each app's router replaces them.


def json_error(message: str, *, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def api_login_required(view):
    """Like ``login_required``, but answers 401 JSON instead of redirecting."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return json_error("Authentication required.", status=401)
        return view(request, *args, **kwargs)

    return wrapper
