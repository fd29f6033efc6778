"""``/api/v1/notifications/`` (my inbox; staff: send one) and ``/api/v1/broadcasts/`` (staff).

Registered at ``/api/v1/`` in ``mysite/api/v1.py``, so the paths here are whole.
"""

from datetime import datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from mysite.api.auth import staff_required
from mysite.api.errors import responses
from mysite.api.pagination import Page
from notifications import selectors, services
from notifications.models import Broadcast, Notification

router = Router(tags=["notifications"])

Channel = Literal["email", "sms", "push", "in_app"]
PRIORITY = "low, normal, high or urgent, or a number 0-9 (higher first)."
BROADCAST_USERNAMES_MAX = 10_000


def _max(model, name: str) -> int:
    return services.max_length(model, name)


class InboxItem(Schema):
    id: int
    subject: str
    body: str
    link: str = Field(description="A page of this site the message is about, or empty.")
    priority: int
    sent_at: datetime | None
    read_at: datetime | None
    unread: bool

    @staticmethod
    def resolve_unread(notification: Notification) -> bool:
        return notification.read_at is None


class UnreadCount(Schema):
    unread: int


class Marked(Schema):
    marked: int = Field(description="How many messages were marked read.")


class NotificationIn(Schema):
    recipient: str = Field(
        description="The recipient's username.",
        min_length=1,
        max_length=_max(get_user_model(), get_user_model().USERNAME_FIELD),
    )
    channel: Channel
    body: str = Field(min_length=1)
    subject: str = Field("", max_length=_max(Notification, "subject"))
    link: str = Field("", max_length=_max(Notification, "link"))
    priority: str | int = Field("normal", description=PRIORITY)
    dedupe_key: str | None = Field(
        None,
        max_length=_max(Notification, "dedupe_key"),
        description="The same key for the same recipient twice sends once.",
    )


class NotificationOut(Schema):
    id: int
    recipient: str
    channel: str
    subject: str
    status: str = Field(description="queued, sending, sent, failed or cancelled.")
    priority: int
    dedupe_key: str
    task_id: str
    created_at: datetime
    sent_at: datetime | None

    @staticmethod
    def resolve_recipient(notification: Notification) -> str:
        return notification.recipient.get_username()


class BroadcastIn(Schema):
    audience: Literal["all", "staff", "list"]
    usernames: list[str] = Field(
        [], max_length=BROADCAST_USERNAMES_MAX, description="For the list audience."
    )
    channel: Channel
    body: str = Field(min_length=1)
    subject: str = Field("", max_length=_max(Broadcast, "subject"))
    priority: str | int = Field("normal", description=PRIORITY)


class BroadcastOut(Schema):
    id: int
    audience: str
    usernames: list[str]
    channel: str
    subject: str
    priority: int
    total: int = Field(description="Recipients reached by the channel.")
    sent: int
    failed: int
    finished: bool
    created_at: datetime
    finished_at: datetime | None
    url: str = Field(description="This broadcast's API address: poll it for progress.")

    @staticmethod
    def resolve_finished(broadcast: Broadcast) -> bool:
        return broadcast.finished_at is not None

    @staticmethod
    def resolve_url(broadcast: Broadcast) -> str:
        return reverse("api-v1:broadcast-get", args=[broadcast.pk])


@router.get(
    "/notifications/", response=responses({200: list[InboxItem]}), url_name="notification-list"
)
@paginate(Page)
def notification_list(request, unread: bool = False):
    """My in-app inbox, newest first; ``unread=true``: only what I have not read."""
    return selectors.inbox(user=request.user, unread=unread)


@router.get(
    "/notifications/unread-count",
    response=responses({200: UnreadCount}),
    url_name="notification-unread-count",
)
def notification_unread_count(request):
    """How many messages in my inbox I have not read (the header's badge)."""
    return {"unread": selectors.inbox_unread_count(user=request.user)}


@router.post(
    "/notifications/{notification_id}/read",
    response=responses({200: InboxItem}, 404),
    url_name="notification-read",
)
def notification_read(request, notification_id: int):
    """Mark one message of my inbox read (someone else's: 404)."""
    notification = selectors.inbox_get(user=request.user, notification_id=notification_id)
    services.inbox_mark_read(user=request.user, notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


@router.post(
    "/notifications/read-all",
    response=responses({200: Marked}),
    url_name="notification-read-all",
)
def notification_read_all(request):
    """Mark every message of my inbox read."""
    return {"marked": services.inbox_mark_read(user=request.user)}


@router.post(
    "/notifications/",
    response=responses({202: NotificationOut}, 403),
    url_name="notification-send",
)
def notification_send(request, payload: NotificationIn):
    """Queue one notification to a user (staff), as ``manage.py send_notification``."""
    staff_required(request)
    notification = services.notification_send_to_username(
        username=payload.recipient,
        channel=payload.channel,
        subject=payload.subject,
        body=payload.body,
        link=payload.link,
        priority=payload.priority,
        dedupe_key=payload.dedupe_key,
    )
    return Status(202, notification)


@router.post(
    "/broadcasts/", response=responses({202: BroadcastOut}, 403, 409), url_name="broadcast-start"
)
def broadcast_start(request, payload: BroadcastIn):
    """Send one message to many users (staff), as ``manage.py broadcast``; 409 if
    nobody in the audience can get it."""
    staff_required(request)
    broadcast = services.broadcast_send(
        audience=payload.audience,
        usernames=payload.usernames,
        channel=payload.channel,
        subject=payload.subject,
        body=payload.body,
        priority=payload.priority,
        created_by=request.user,
    )
    return Status(202, broadcast)


@router.get(
    "/broadcasts/{broadcast_id}",
    response=responses({200: BroadcastOut}, 403, 404),
    url_name="broadcast-get",
)
def broadcast_get(request, broadcast_id: int):
    """A broadcast's progress: recipients, sent, failed, finished (staff)."""
    staff_required(request)
    return selectors.broadcast_get(broadcast_id=broadcast_id)
