"""What of the notifications app can be left in flight, for the sweep (mysite/sweep.py)."""

from itertools import groupby

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now

from mysite.enqueue import enqueue
from mysite.sweep import Sweep, unfinished_with_none_in_flight
from notifications.models import Broadcast, Notification
from notifications.services import broadcast_recount


def notifications_requeue(notifications: list[Notification]) -> None:
    """Send each again: one alone under its own task id, a broadcast's in chunks.

    A notification left SENDING belongs to a run that died (the limit is far
    above the task's time limit); whether the provider got it before then
    cannot be known, so it is sent again: at least once, never lost.
    """
    from notifications.tasks import send_broadcast_chunk, send_notification

    alone = [n for n in notifications if n.broadcast_id is None]
    for notification in alone:
        notification.task_id = enqueue(
            send_notification,
            args=[notification.pk],
            priority=notification.priority,
            task_id=notification.task_id or None,
        )
    Notification.objects.bulk_update(alone, ["task_id"])
    in_broadcasts = sorted(
        (n for n in notifications if n.broadcast_id is not None), key=lambda n: n.broadcast_id or 0
    )
    chunk = settings.NOTIFICATION_BROADCAST_CHUNK
    for broadcast_id, members in groupby(in_broadcasts, key=lambda n: n.broadcast_id):
        queued = list(members)
        ids = [n.pk for n in queued]
        for start in range(0, len(ids), chunk):
            enqueue(
                send_broadcast_chunk,
                args=[broadcast_id, ids[start : start + chunk]],
                priority=queued[0].priority,
            )
    Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(
        status=Notification.Status.QUEUED, updated_at=Now()
    )


def broadcasts_finish(broadcasts: list[Broadcast]) -> None:
    """Count again each broadcast whose notifications are all final but that
    is not finished: its counters drifted (each end counts itself, in its own
    transaction, so only a hand-edited row or an older worker's count gets here)."""
    for broadcast in broadcasts:
        broadcast_recount(broadcast_id=broadcast.pk)


IN_FLIGHT = Q(status__in=[Notification.Status.QUEUED, Notification.Status.SENDING])

SWEEPS = [
    Sweep(
        model="notifications.Notification",
        in_flight=IN_FLIGHT,
        since="updated_at",
        after="NOTIFICATIONS_SWEEP_AFTER",
        requeue=notifications_requeue,
        task="notifications.tasks.send_notification",
    ),
    Sweep(
        model="notifications.Broadcast",
        in_flight=unfinished_with_none_in_flight(
            Notification.objects.filter(IN_FLIGHT), parent="broadcast"
        ),
        since="created_at",
        after="NOTIFICATIONS_SWEEP_AFTER",
        requeue=broadcasts_finish,
        task="notifications.tasks.send_broadcast_chunk",
    ),
]
