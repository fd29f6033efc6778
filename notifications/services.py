"""Notifications: create (checked, deduplicated) and deliver (idempotent, classified errors)."""

import logging
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from mysite.enqueue import enqueue
from mysite.priorities import Priority
from notifications.backends import (
    PermanentDeliveryError,
    TransientDeliveryError,
    backend_for,
)
from notifications.models import Channel, ContactPoint, Notification, e164

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

    if channel not in Channel.values:
        raise NotificationRejected(f"Unknown channel {channel!r}: use {', '.join(Channel.values)}.")
    level = priority_parse(priority)
    if not body.strip():
        raise NotificationRejected("The message body is empty.")
    if channel == Channel.SMS and len(body) > settings.NOTIFICATION_SMS_MAX_CHARS:
        raise NotificationRejected(
            f"The SMS is {len(body)} characters; at most {settings.NOTIFICATION_SMS_MAX_CHARS}."
        )
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
            Notification.objects.select_for_update()
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
