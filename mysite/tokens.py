"""API tokens: made, checked and revoked here, and nowhere else.

A token is ``mysite_`` and 43 characters of ``secrets.token_urlsafe`` (256
random bits). Its SHA-256 is what the database keeps: a token that random
needs no slow hash, and a stolen table holds nothing that logs in.
"""

import hashlib
import secrets
import unicodedata
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from mysite.errors import Rejected
from mysite.models import ApiToken

SCHEME = "mysite_"
PREFIX_LENGTH = 12  # "mysite_" and five characters of the secret
NAME_MAX = cast(int, ApiToken._meta.get_field("name").max_length)  # a CharField: always set
NAME_REQUIRED = "Give the token a name, e.g. the program that will use it."


class TokenRejected(Rejected):
    """A token could not be made as asked (a name too long, blank)."""

    code = "token_rejected"


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row, and the token itself (shown once, never kept)."""
    token = ApiToken(user=user, name=name)
    return token, token_issue(token)


def token_issue(token: ApiToken) -> str:
    """Give the unsaved ``token`` (its user and name set) a secret and save it; the
    token itself, to show once. The admin's add form saves through here."""
    token.name = name_check(token.name)
    raw = SCHEME + secrets.token_urlsafe(32)
    token.prefix, token.key_hash = raw[:PREFIX_LENGTH], token_digest(raw)
    token.save()
    return raw


def name_check(name: str) -> str:
    """The name, stripped; ``TokenRejected`` when blank, too long or with control characters."""
    name = name.strip()
    if not name:
        raise TokenRejected(NAME_REQUIRED)
    if len(name) > NAME_MAX:
        raise TokenRejected(f"A token's name has at most {NAME_MAX} characters.")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise TokenRejected("A token's name cannot contain control characters.")
    return name


def token_revoke(*, token: ApiToken) -> None:
    """Stop ``token`` from working, from its next request on (idempotent)."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_user(raw: str):
    """The active user whose live token ``raw`` is, or None; notes when it was used."""
    if not raw.startswith(SCHEME) or len(raw) > 100:  # noqa: PLR2004
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=token_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    stale = now - timedelta(seconds=settings.API_TOKEN_TOUCH_SECONDS)
    if token.last_used_at is None or token.last_used_at < stale:
        # One conditional write a minute, whatever the request rate.
        ApiToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=token.pk
        ).update(last_used_at=now)
    return token.user


def token_list_owned(*, user):
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def token_get_owned(*, user, pk: int) -> ApiToken | None:
    return ApiToken.objects.filter(user=user, pk=pk).first()
