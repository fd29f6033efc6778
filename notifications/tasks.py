"""Celery tasks of the notifications app: thin, they call services.

Routed to the `notifications` queue by CELERY_TASK_ROUTES (an I/O-bound pool).
"""

from celery import shared_task
from django.conf import settings

from mysite.enqueue import enqueue
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
            return _outcome(notification)
        # A provider's Retry-After is honoured, within our own cap.
        countdown = min(
            max(exc.retry_after or 0, retry_delay(self.request.retries)), RETRY_MAX_SECONDS
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    return _outcome(notification)


def _outcome(notification) -> dict:
    if notification.broadcast_id:  # a broadcast's straggler: keep its progress true
        services.broadcast_progress_update(broadcast_id=notification.broadcast_id)
    return {"notification": notification.pk, "status": notification.status}


@shared_task(time_limit=5 * 60, soft_time_limit=4 * 60)
def send_broadcast_chunk(broadcast_id: int, notification_ids: list[int]) -> dict:
    """Deliver one chunk of a broadcast; transient failures go on as single tasks."""
    retry_ids = services.broadcast_deliver_chunk(
        broadcast_id=broadcast_id, notification_ids=notification_ids
    )
    for notification_id in retry_ids:
        enqueue(send_notification, args=[notification_id], countdown=retry_delay(0))
    return {"broadcast": broadcast_id, "chunk": len(notification_ids), "retrying": len(retry_ids)}
