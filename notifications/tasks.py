"""Celery tasks of the notifications app: thin, they call services.

Routed to the `notifications` queue by CELERY_TASK_ROUTES (an I/O-bound pool).
"""

from celery import shared_task
from django.conf import settings

from mysite.retry import RETRY_MAX_SECONDS, retry_delay
from notifications import services
from notifications.backends import TransientDeliveryError


@shared_task(
    bind=True, max_retries=settings.NOTIFICATION_MAX_RETRIES, time_limit=60, soft_time_limit=50
)
def send_notification(self, notification_id: int) -> dict:
    """Deliver one notification; transient errors retry with backoff (and Retry-After)."""
    try:
        notification = services.notification_deliver(notification_id=notification_id)
    except TransientDeliveryError as exc:
        if self.request.retries >= self.max_retries:
            notification = services.notification_fail(
                notification_id=notification_id, reason=f"Gave up after retries: {exc}"
            )
            return {"notification": notification_id, "status": notification.status}
        # A provider's Retry-After is honoured, within our own cap.
        countdown = min(
            max(exc.retry_after or 0, retry_delay(self.request.retries)), RETRY_MAX_SECONDS
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    return {"notification": notification_id, "status": notification.status}
