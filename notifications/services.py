"""Notifications: create (checked, deduplicated) and deliver (idempotent, classified errors)."""

import logging
import time
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from mysite.enqueue import enqueue
from mysite.priorities import Priority
from notifications.backends import (
    PermanentDeliveryError,
    TransientDeliveryError,
    backend_for,
)
from notifications.models import Broadcast, Channel, ContactPoint, Notification, e164

logger = logging.getLogger(__name__)


class NotificationRejected(ValueError):
    """A notification we will not create; the message says why."""


def priority_parse(value) -> Priority:
    """A project priority from a name ("urgent") or a number on the scale."""
    if isinstance(value, str) and not value.isdigit():
        try:
            return Priority[value.upper()]
        except KeyError:
            names = ", ".join(level.name.lower() for level in Priority)
            raise NotificationRejected(f"Unknown priority {value!r}: use {names}.") from None
    try:
        return Priority(int(value))
    except ValueError:
        levels = ", ".join(str(level.value) for level in Priority)
        raise NotificationRejected(f"Unknown priority {value!r}: use {levels}.") from None


def message_check(*, channel: str, body: str, priority) -> Priority:
    """Refuse a message that no recipient could get; return its priority."""
    if channel not in Channel.values:
        raise NotificationRejected(f"Unknown channel {channel!r}: use {', '.join(Channel.values)}.")
    level = priority_parse(priority)
    if not body.strip():
        raise NotificationRejected("The message body is empty.")
    if channel == Channel.SMS and len(body) > settings.NOTIFICATION_SMS_MAX_CHARS:
        raise NotificationRejected(
            f"The SMS is {len(body)} characters; at most {settings.NOTIFICATION_SMS_MAX_CHARS}."
        )
    return level


def recipient_address(*, channel: str, user) -> str:
    """Where ``user`` gets ``channel`` messages, or ``NotificationRejected`` saying why not."""
    contact = ContactPoint.objects.filter(user=user).first()
    if contact is not None and contact.opted_out(channel):
        raise NotificationRejected(f"{user} has turned off {channel} notifications.")
    if channel == Channel.EMAIL:
        try:
            validate_email(user.email)
        except ValidationError:
            raise NotificationRejected(f"{user} has no valid email address.") from None
        return user.email
    if channel == Channel.SMS:
        try:
            e164(contact.phone if contact else "")
        except ValidationError:
            raise NotificationRejected(f"{user} has no valid phone number (E.164).") from None
        return contact.phone
    if channel == Channel.PUSH:
        if contact is None or not contact.push_tokens:
            raise NotificationRejected(f"{user} has no push device.")
        return contact.push_tokens[0]
    return str(user.pk)


def notification_send(
    *,
    recipient,
    channel: str,
    body: str,
    subject: str = "",
    link: str = "",
    priority=Priority.NORMAL,
    dedupe_key: str | None = None,
) -> Notification:
    """Check, store and queue one notification; the same ``dedupe_key`` twice sends once."""
    from notifications.tasks import send_notification as send_notification_task

    level = message_check(channel=channel, body=body, priority=priority)
    recipient_address(channel=channel, user=recipient)

    key = dedupe_key or f"once:{uuid.uuid4().hex}"  # no key given: never a duplicate
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient=recipient,
                channel=channel,
                subject=subject,
                body=body,
                link=link,
                priority=level,
                dedupe_key=key,
            )
            notification.task_id = enqueue(
                send_notification_task, args=[notification.pk], priority=level
            )
            notification.save(update_fields=["task_id"])
    except IntegrityError:
        return Notification.objects.get(recipient=recipient, dedupe_key=key)
    return notification


def notification_send_to_username(*, username: str, **kwargs) -> Notification:
    try:
        user = get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise NotificationRejected(f"No user named {username!r}.") from None
    return notification_send(recipient=user, **kwargs)


FINAL = {Notification.Status.SENT, Notification.Status.FAILED, Notification.Status.CANCELLED}


def notification_deliver(*, notification_id: int) -> Notification:
    """Send one notification. Safe to run twice: a sent one is never sent again.

    Raises ``TransientDeliveryError`` for the task to retry; a permanent error
    marks the notification failed.
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))  # not the user row
            .select_related("recipient")
            .get(pk=notification_id)
        )
        if notification.status in FINAL:
            return notification
        notification.status = Notification.Status.SENDING
        notification.attempts += 1
        notification.save(update_fields=["status", "attempts"])

    try:
        address = recipient_address(channel=notification.channel, user=notification.recipient)
        provider_id = backend_for(notification.channel).send(notification, address)
    except (NotificationRejected, PermanentDeliveryError) as exc:
        return notification_fail(notification_id=notification_id, reason=str(exc))
    except TransientDeliveryError as exc:
        Notification.objects.filter(pk=notification_id).update(
            status=Notification.Status.QUEUED, last_error=str(exc)
        )
        raise
    Notification.objects.filter(pk=notification_id).update(
        status=Notification.Status.SENT,
        provider_message_id=provider_id,
        sent_at=timezone.now(),
        last_error="",
    )
    notification.refresh_from_db()
    return notification


def notification_fail(*, notification_id: int, reason: str) -> Notification:
    logger.warning("notification %s failed: %s", notification_id, reason)
    Notification.objects.filter(pk=notification_id).update(
        status=Notification.Status.FAILED, last_error=reason
    )
    return Notification.objects.get(pk=notification_id)


def inbox_unread_count(*, user) -> int:
    return Notification.objects.filter(
        recipient=user, channel=Channel.IN_APP, status=Notification.Status.SENT, read_at=None
    ).count()


def inbox_mark_read(*, user, notification_id: int | None = None) -> int:
    """Mark one in-app notification (or all of them) read; returns how many changed."""
    unread = Notification.objects.filter(recipient=user, channel=Channel.IN_APP, read_at=None)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())


def _reachable(users, channel: str):
    """``users`` who have an address for ``channel`` and did not turn it off (in SQL)."""
    users = users.exclude(**{f"contact__{channel}_opt_out": True})
    if channel == Channel.EMAIL:
        return users.exclude(email="")
    if channel == Channel.SMS:
        return users.exclude(contact__phone="").filter(contact__isnull=False)
    if channel == Channel.PUSH:
        return users.filter(contact__isnull=False).exclude(contact__push_tokens=[])
    return users


def broadcast_send(
    *,
    audience: str,
    channel: str,
    body: str,
    subject: str = "",
    priority=Priority.NORMAL,
    usernames: list[str] | None = None,
    created_by=None,
) -> Broadcast:
    """Create one notification per reachable recipient in bulk; dispatch them in chunks.

    Recipients without an address for the channel, or who turned it off, get
    nothing. Progress is on the Broadcast row (total, sent, failed).
    """
    from notifications.tasks import send_broadcast_chunk as send_broadcast_chunk_task

    level = message_check(channel=channel, body=body, priority=priority)
    users = get_user_model().objects.filter(is_active=True)
    if audience == Broadcast.Audience.STAFF:
        users = users.filter(is_staff=True)
    elif audience == Broadcast.Audience.LIST:
        wanted = sorted(set(usernames or []))
        if not wanted:
            raise NotificationRejected("A list audience needs at least one username.")
        found = set(users.filter(username__in=wanted).values_list("username", flat=True))
        if missing := [name for name in wanted if name not in found]:
            raise NotificationRejected(f"No user named {', '.join(map(repr, missing))}.")
        users = users.filter(username__in=wanted)
    elif audience != Broadcast.Audience.ALL:
        raise NotificationRejected(f"Unknown audience {audience!r}: use all, staff or list.")

    recipient_ids = list(_reachable(users, channel).order_by("pk").values_list("pk", flat=True))
    chunk = settings.NOTIFICATION_BROADCAST_CHUNK
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            audience=audience,
            usernames=usernames or [],
            channel=channel,
            subject=subject,
            body=body,
            priority=level,
            total=len(recipient_ids),
            created_by=created_by,
            finished_at=None if recipient_ids else timezone.now(),
        )
        key = f"broadcast:{broadcast.pk}"
        # PostgreSQL and SQLite return the new primary keys: no second query for them.
        created = Notification.objects.bulk_create(
            [
                Notification(
                    recipient_id=recipient_id,
                    channel=channel,
                    subject=subject,
                    body=body,
                    priority=level,
                    dedupe_key=key,
                    broadcast=broadcast,
                )
                for recipient_id in recipient_ids
            ],
            batch_size=5000,
        )
        ids = [notification.pk for notification in created]
        for start in range(0, len(ids), chunk):
            enqueue(
                send_broadcast_chunk_task,
                args=[broadcast.pk, ids[start : start + chunk]],
                priority=level,
            )
    return broadcast


class Pace:
    """At most ``per_second`` calls of ``wait()`` per second (None: no limit)."""

    def __init__(self, per_second: float | None):
        self.interval = 1 / per_second if per_second else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self.next_at:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


def broadcast_deliver_chunk(*, broadcast_id: int, notification_ids: list[int]) -> list[int]:
    """Deliver one chunk of a broadcast; return the ids that need a retry of their own.

    In-app messages are delivered with one UPDATE. Other channels go one by
    one through ``notification_deliver`` (never sends twice); a transient error
    hands that notification to the single-notification task and its retries.
    """
    if not notification_ids:
        return []
    channel = Broadcast.objects.values_list("channel", flat=True).get(pk=broadcast_id)
    retry_ids = []
    if channel == Channel.IN_APP:
        Notification.objects.filter(
            pk__in=notification_ids, status=Notification.Status.QUEUED
        ).update(
            status=Notification.Status.SENT, sent_at=timezone.now(), attempts=F("attempts") + 1
        )
    else:
        pace = Pace(settings.NOTIFICATION_RATE_LIMITS.get(channel))
        for notification_id in notification_ids:
            pace.wait()
            try:
                notification_deliver(notification_id=notification_id)
            except TransientDeliveryError:
                retry_ids.append(notification_id)
    broadcast_progress_update(broadcast_id=broadcast_id)
    return retry_ids


def broadcast_progress_update(*, broadcast_id: int) -> Broadcast:
    """Count what is sent and failed; the last chunk marks the broadcast finished."""
    counts = Notification.objects.filter(broadcast_id=broadcast_id).aggregate(
        sent=Count("id", filter=Q(status=Notification.Status.SENT)),
        failed=Count("id", filter=Q(status=Notification.Status.FAILED)),
    )
    Broadcast.objects.filter(pk=broadcast_id).update(**counts)
    Broadcast.objects.filter(
        pk=broadcast_id, finished_at=None, total__lte=F("sent") + F("failed")
    ).update(finished_at=timezone.now())
    return Broadcast.objects.get(pk=broadcast_id)
