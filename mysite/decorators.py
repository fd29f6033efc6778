"""Decorators the pages share."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def staff_required(reason: str):
    """A page for staff: the anonymous go to the login page, others get 403 saying ``reason``."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_staff:
                raise PermissionDenied(reason)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
