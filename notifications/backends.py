"""Channel backends, chosen per channel in settings.NOTIFICATION_CHANNELS.

A backend sends one notification to an address it is given. It raises
``TransientDeliveryError`` for what may pass (timeouts, connection errors,
HTTP 5xx and 429, SMTP 4xx) and ``PermanentDeliveryError`` for what will not
(no address, HTTP 4xx, SMTP 5xx). Retrying is the task's business, not theirs.
"""

import json
import logging
import smtplib
from functools import cache
from http import HTTPStatus

import urllib3
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from mysite.errors import Unavailable

logger = logging.getLogger(__name__)

SMTP_TRANSIENT = range(400, 500)  # 4xx: try again later; 5xx: never


class DeliveryError(Exception):
    retry_after: float | None = None


class TransientDeliveryError(DeliveryError, Unavailable):
    """The provider may take it later (``retry_after``: when it said to)."""


class PermanentDeliveryError(DeliveryError):
    pass


class Backend:
    def __init__(self, **options):
        self.options = options

    def send(self, notification, address: str) -> str:
        """Deliver; return the provider's message id."""
        raise NotImplementedError


class EmailBackend(Backend):
    """Through Django's email framework (SMTP in production)."""

    def send(self, notification, address: str) -> str:
        # The same Message-ID on every attempt, so a resend after a crash can be
        # recognised as a duplicate by the receiving side.
        message_id = f"<notification-{notification.pk}@{settings.EMAIL_HOST}>"
        message = EmailMessage(
            subject=notification.subject,
            body=notification.body,
            to=[address],
            headers={"Message-ID": message_id},
        )
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _smtp_error(code, reply) from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"SMTP: {exc}") from exc
        return message_id


def _smtp_error(code: int, reply) -> DeliveryError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    error = f"SMTP {code}: {text}"
    return (
        TransientDeliveryError(error) if code in SMTP_TRANSIENT else PermanentDeliveryError(error)
    )


@cache
def _pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=4, maxsize=8, retries=False)


class HttpBackend(Backend):
    """JSON POST to a provider URL (SMS or push), over a pooled connection."""

    def send(self, notification, address: str) -> str:
        payload = {
            "to": address,
            "subject": notification.subject,
            "body": notification.body,
            "reference": str(notification.pk),
        }
        try:
            response = _pool().request(
                "POST",
                self.options["URL"],
                body=json.dumps(payload).encode(),
                headers={
                    "Content-Type": "application/json",
                    # Providers that honour it send a retried request only once.
                    "Idempotency-Key": f"notification-{notification.pk}",
                },
                timeout=urllib3.Timeout(total=self.options.get("TIMEOUT", 5)),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise TransientDeliveryError(f"provider unreachable: {exc}") from exc
        text = response.data.decode(errors="replace")[:500]
        if response.status == HTTPStatus.TOO_MANY_REQUESTS:
            raise TransientDeliveryError(
                f"HTTP 429: {text}", retry_after=_seconds(response.headers.get("Retry-After"))
            )
        if response.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise TransientDeliveryError(f"HTTP {response.status}: {text}")
        if response.status >= HTTPStatus.MULTIPLE_CHOICES:
            raise PermanentDeliveryError(f"HTTP {response.status}: {text}")
        try:
            return str(json.loads(text).get("id", ""))
        except (ValueError, AttributeError):
            return ""


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class ConsoleBackend(Backend):
    """Logs instead of sending: the local stand-in for a provider."""

    def send(self, notification, address: str) -> str:
        logger.info("%s to %s: %s", notification.channel, address, notification.body)
        return f"console-{notification.pk}"


class InAppBackend(Backend):
    """The stored row is the message; the inbox shows it."""

    def send(self, notification, address: str) -> str:
        return f"in-app-{notification.pk}"


def backend_for(channel: str) -> Backend:
    """The backend configured for ``channel``."""
    config = settings.NOTIFICATION_CHANNELS[channel]
    options = {key: value for key, value in config.items() if key != "BACKEND"}
    return import_string(config["BACKEND"])(**options)
