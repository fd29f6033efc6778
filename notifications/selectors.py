"""Reads of the notifications app."""

from django.db.models import QuerySet

from notifications.models import Channel, Notification


def inbox(*, user, unread: bool = False) -> QuerySet[Notification]:
    """``user``'s delivered in-app messages, newest first (``unread``: only those not read)."""
    notifications = Notification.objects.filter(
        recipient=user, channel=Channel.IN_APP, status=Notification.Status.SENT
    )
    if unread:
        notifications = notifications.filter(read_at=None)
    return notifications.order_by("-created_at", "-id")
