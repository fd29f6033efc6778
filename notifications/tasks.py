"""Celery tasks of the notifications app: thin, they call services.

Routed to the `notifications` queue by CELERY_TASK_ROUTES (an I/O-bound pool).
"""

import logging

from celery import shared_task
from celery.exceptions import Retry
from django.db.models import Q

from mysite.enqueue import enqueue
from mysite.ratelimit import RateLimiterUnavailable
from mysite.retry import retry_delay
from mysite.taskbase import WorkRow
from notifications import services
from notifications.backends import TransientDeliveryError
from notifications.models import Notification

logger = logging.getLogger(__name__)


def _give_up(*, notification_id: int, reason: str):
    """The task's last word: the notification failed (its broadcast counts it)."""
    return _outcome(services.notification_fail(notification_id=notification_id, reason=reason))


@shared_task(
    bind=True,
    transient=(TransientDeliveryError,),
    max_retries=5,
    row=WorkRow(
        "notifications.Notification",
        arg="notification_id",
        done=Q(status__in=[Notification.Status.SENT, Notification.Status.CANCELLED]),
        reopen=services.notification_reopen,
        fail=_give_up,
    ),
    time_limit=60,
    soft_time_limit=50,
)
def send_notification(self, notification_id: int, waits: int = 0) -> dict:
    """Deliver one notification; transient errors retry with backoff (and Retry-After).

    A send that waits for its channel's turn under the rate limit, or for the
    limiter's Redis to come back (the project's backoff), runs this task again
    later with the same id and without counting a retry: the retries are for
    the provider's errors. ``waits`` counts those waits.
    """
    try:
        notification = services.notification_deliver(notification_id=notification_id, waits=waits)
    except services.RateLimited as exc:
        raise _later(self, countdown=exc.countdown, waits=waits + 1) from None
    except RateLimiterUnavailable as exc:
        countdown = retry_delay(waits)
        logger.warning("notification %s: %s; again in %.1fs", notification_id, exc, countdown)
        raise _later(self, countdown=countdown, waits=waits + 1) from None
    return _outcome(notification)


def _later(task, *, countdown: float, **kwargs) -> Retry:
    """Publish ``task`` again to run in ``countdown`` s: the same id, the same
    retry count (``Task.retry`` would add one), ``kwargs`` replaced. Returns
    the ``Retry`` to raise (the task's state is RETRY meanwhile)."""
    request = task.request
    signature = task.signature_from_request(
        request, kwargs=kwargs, countdown=countdown, retries=request.retries
    )
    signature.apply_async()
    return Retry(when=countdown, sig=signature)


def _outcome(notification) -> dict:
    return {"notification": notification.pk, "status": notification.status}


@shared_task(
    row=WorkRow("notifications.Broadcast", arg="broadcast_id", done=Q(finished_at__isnull=False)),
    time_limit=5 * 60,
    soft_time_limit=4 * 60,
)
def send_broadcast_chunk(broadcast_id: int, notification_ids: list[int], waits: int = 0) -> dict:
    """Deliver one chunk of a broadcast; transient failures go on as single tasks.

    What the chunk hands back (no turn free soon under the rate limit, the
    limiter down, worked long enough) goes on as a new chunk task.
    """
    outcome = services.broadcast_deliver_chunk(
        broadcast_id=broadcast_id, notification_ids=notification_ids, waits=waits
    )
    for notification_id in outcome.retry_ids:
        enqueue(
            send_notification,
            args=[notification_id],
            countdown=retry_delay(0),
            priority=outcome.priority,
        )
    if outcome.rest_ids:
        enqueue(
            send_broadcast_chunk,
            args=[broadcast_id, outcome.rest_ids],
            kwargs={"waits": outcome.rest_waits},
            countdown=outcome.rest_countdown,
            priority=outcome.priority,
        )
    return {
        "broadcast": broadcast_id,
        "chunk": len(notification_ids),
        "retrying": len(outcome.retry_ids),
        "later": len(outcome.rest_ids),
    }
