"""Who is asking: a bearer token (programs) or the session (our pages, with CSRF)."""

import logging
import threading

from django.conf import settings
from ninja.security import HttpBearer, SessionAuth
from ninja.throttling import BaseThrottle

from mysite import ratelimit, tokens
from mysite.api.errors import ApiError

logger = logging.getLogger(__name__)


class TokenAuth(HttpBearer):
    """``Authorization: Bearer mysite_…``: no cookie, so no CSRF to check."""

    def authenticate(self, request, token: str):
        user = tokens.token_user(token)
        if user is not None:
            request.user = user  # the views and services read request.user
            request.api_token = token
        return user


class SessionCsrfAuth(SessionAuth):
    """The signed-in browser: the session cookie, and a CSRF token on writes."""

    def __call__(self, request):
        # No session, nothing to protect: a 401 (not a CSRF 403) for a program
        # whose token was refused.
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)

    def authenticate(self, request, key):
        user = request.user
        return user if user.is_authenticated else None


AUTH = [TokenAuth(), SessionCsrfAuth(csrf=True)]


def staff_required(request) -> None:
    if not request.user.is_staff:
        raise ApiError(403, "Only staff may do this.")


class BucketThrottle(BaseThrottle):
    """``API_THROTTLE_RATE`` requests a second per token (else per user), in bursts
    of ``API_THROTTLE_BURST``: a token bucket in Redis (``mysite.ratelimit``), so
    every web process and host draws from the same bucket. Over it: 429 with
    ``Retry-After``. If the limiter's Redis is down, requests go through."""

    def __init__(self):
        self.local = threading.local()  # one instance serves every thread

    def allow_request(self, request) -> bool:
        token = getattr(request, "api_token", None)
        key = f"api:token:{tokens.token_digest(token)}" if token else None
        if key is None and request.user.is_authenticated:
            key = f"api:user:{request.user.pk}"
        key = key or f"api:ip:{self.get_ident(request)}"
        try:
            wait = ratelimit.acquire(
                key, rate=settings.API_THROTTLE_RATE, burst=settings.API_THROTTLE_BURST
            )
        except ratelimit.RateLimiterUnavailable:
            logger.warning("API throttle: the limiter's Redis is down; letting %s through", key)
            return True
        self.local.wait = wait
        return wait == 0

    def wait(self) -> float | None:
        # Ninja asks right after allow_request, on the same thread.
        return getattr(self.local, "wait", None)
