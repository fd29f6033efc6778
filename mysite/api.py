"""Small helpers shared by every JSON endpoint."""

from functools import wraps

from django.http import JsonResponse


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
