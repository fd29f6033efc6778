"""Reads of the notifications app."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from notifications.models import Broadcast, Channel, Notification


def inbox(*, user, unread: bool = False) -> QuerySet[Notification]:
    """``user``'s delivered in-app messages, newest first (``unread``: only those not read)."""
    notifications = Notification.objects.filter(
        recipient=user, channel=Channel.IN_APP, status=Notification.Status.SENT
    )
    if unread:
        notifications = notifications.filter(read_at=None)
    return notifications.order_by("-created_at", "-id")


def inbox_get(*, user, notification_id: int) -> Notification:
    """One message of ``user``'s inbox, or 404: someone else's does not exist for them."""
    return get_object_or_404(inbox(user=user), pk=notification_id)


def inbox_unread_count(*, user) -> int:
    """How many of ``user``'s in-app messages are unread (the header's badge)."""
    return inbox(user=user, unread=True).count()


def broadcast_get(*, broadcast_id: int) -> Broadcast:
    """One broadcast, or 404."""
    return get_object_or_404(Broadcast, pk=broadcast_id)


def broadcasts_recent(*, limit: int) -> QuerySet[Broadcast]:
    """The latest ``limit`` broadcasts, newest first."""
    return Broadcast.objects.select_related("created_by").order_by("-created_at", "-id")[:limit]
