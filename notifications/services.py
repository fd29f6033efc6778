"""Notifications: create (checked, deduplicated) and deliver (idempotent, classified errors)."""

import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.db.models.functions import Greatest, Now
from django.utils import timezone

from mysite import ratelimit
from mysite.enqueue import enqueue
from mysite.errors import Rejected, Unavailable
from mysite.priorities import Priority
from mysite.retry import RETRY_MAX_SECONDS, retry_delay
from notifications.backends import (
    PermanentDeliveryError,
    TransientDeliveryError,
    backend_for,
)
from notifications.models import Broadcast, Channel, ContactPoint, Notification, e164

logger = logging.getLogger(__name__)


class NotificationRejected(Rejected):
    """A notification we will not create; the message says why."""

    code = "notification_rejected"


class RateLimited(Unavailable):
    """Not sent: the channel has no turn free within a short wait. Nothing went
    wrong: send again in ``countdown`` seconds (not a retry)."""

    def __init__(self, channel: str, *, countdown: float):
        super().__init__(f"{channel} rate limit: again in {countdown:.2f}s", retry_after=countdown)

    @property
    def countdown(self) -> float:
        return self.retry_after or 0.0


class NoRecipients(NotificationRejected):
    """A broadcast whose audience has nobody who can get it: nothing to send."""

    # The request is well formed; the users are not there.
    kind, code = "conflict", "no_recipients"


def text_check(label: str, value: str, *, max_length: int | None = None) -> str:
    """``value``, unless the database would refuse it: too long, a NUL, a lone surrogate."""
    if max_length is not None and len(value) > max_length:
        raise NotificationRejected(f"The {label} is {len(value)} characters; at most {max_length}.")
    if "\x00" in value:
        raise NotificationRejected(f"The {label} contains a NUL character.")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise NotificationRejected(f"The {label} is not valid text.") from None
    return value


def link_check(link: str) -> str:
    """``link``, if it is a path on this site or an http(s) URL: the inbox renders it as
    an ``href``, so ``javascript:`` and the like must never get there."""
    text_check("link", link, max_length=max_length(Notification, "link"))
    if not link:
        return link
    parts = urlsplit(link)
    path = (
        not parts.scheme and not parts.netloc and link[:1] == "/" and link[1:2] not in ("/", "\\")
    )
    web = parts.scheme in ("http", "https") and bool(parts.netloc)
    if not (path or web) or any(char.isspace() or not char.isprintable() for char in link):
        raise NotificationRejected("The link must be a path on this site (/...) or an http(s) URL.")
    return link


def max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def priority_parse(value) -> Priority:
    """A project priority from a name ("urgent") or a number on the scale (ASCII digits)."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
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


def message_check(*, channel: str, body: str, priority, subject: str = "") -> Priority:
    """Refuse a message that no recipient could get; return its priority."""
    if channel not in Channel.values:
        raise NotificationRejected(
            f"Unknown channel {channel[:40]!r}: use {', '.join(Channel.values)}."
        )
    level = priority_parse(priority)
    text_check("subject", subject, max_length=max_length(Notification, "subject"))
    text_check("message body", body)
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
        phone = contact.phone if contact else ""
        try:
            e164(phone)
        except ValidationError:
            raise NotificationRejected(f"{user} has no valid phone number (E.164).") from None
        return phone
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

    level = message_check(channel=channel, body=body, priority=priority, subject=subject)
    link_check(link)
    if dedupe_key is not None:
        text_check("dedupe key", dedupe_key, max_length=max_length(Notification, "dedupe_key"))
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


def username_check(username: str) -> str:
    return text_check(
        "username",
        username,
        max_length=max_length(get_user_model(), get_user_model().USERNAME_FIELD),
    )


def notification_send_to_username(*, username: str, **kwargs) -> Notification:
    username_check(username)
    try:
        user = get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise NotificationRejected(f"No user named {username!r}.") from None
    return notification_send(recipient=user, **kwargs)


FINAL = {Notification.Status.SENT, Notification.Status.FAILED, Notification.Status.CANCELLED}


def notification_deliver(*, notification_id: int, waits: int = 0) -> Notification:
    """Send one notification. Safe to run twice: a sent one is never sent again.

    Raises ``TransientDeliveryError`` for the task to retry; a permanent error
    marks the notification failed. Before the send the notification takes
    its channel's turn under the rate limit: ``RateLimited`` if none is free
    soon (``waits``: how often it waited already), ``RateLimiterUnavailable``
    if the limiter is down; the notification stays queued as it was.
    """
    try:
        with transaction.atomic():
            notification = (
                Notification.objects.select_for_update(of=("self",))  # not the user row
                .select_related("recipient")
                .get(pk=notification_id)
            )
            if notification.status in FINAL:
                return notification
            # The turn as late as can be, so the provider sees the rate we keep;
            # no turn: the transaction rolls back, nothing was written.
            channel_turn_wait(channel=notification.channel, waits=waits)
            notification.status = Notification.Status.SENDING
            notification.attempts += 1
            notification.save(update_fields=["status", "attempts", "updated_at"])
    except ratelimit.RateLimiterUnavailable as exc:
        Notification.objects.filter(pk=notification_id).update(last_error=str(exc))
        raise

    try:
        address = recipient_address(channel=notification.channel, user=notification.recipient)
        provider_id = backend_for(notification.channel).send(notification, address)
    except (NotificationRejected, PermanentDeliveryError) as exc:
        return notification_fail(notification_id=notification_id, reason=str(exc))
    except TransientDeliveryError as exc:
        # Only from this run's SENDING: a run that ended it meanwhile stands.
        Notification.objects.filter(pk=notification_id, status=Notification.Status.SENDING).update(
            status=Notification.Status.QUEUED, last_error=str(exc), updated_at=Now()
        )
        raise
    return notification_end(
        notification_id=notification_id,
        status=Notification.Status.SENT,
        provider_message_id=provider_id,
        sent_at=timezone.now(),
        last_error="",
    )


RATE_WAIT_DOUBLINGS = 5  # a send that keeps waiting comes back at most 32x max wait later


def channel_rate_key(channel: str) -> str:
    """The rate limiter's bucket for ``channel`` (one for the whole deployment)."""
    return f"notifications:{channel}"


def channel_turn_wait(*, channel: str, waits: int = 0) -> None:
    """Take a turn of ``channel`` under NOTIFICATION_RATE_LIMITS, waiting for
    one at most NOTIFICATION_RATE_MAX_WAIT seconds in this thread.

    Raises ``RateLimited`` (with when to try again: later the more often this
    send has waited, ``waits``, so a backlog is not polled ever faster) or
    ``RateLimiterUnavailable``; either way nothing may be sent now.
    """
    rate = settings.NOTIFICATION_RATE_LIMITS.get(channel)
    if not rate:
        return
    burst = settings.NOTIFICATION_RATE_BURSTS.get(channel) or max(rate, 1.0)
    max_wait = settings.NOTIFICATION_RATE_MAX_WAIT
    deadline = time.monotonic() + max_wait
    while wait := ratelimit.acquire(channel_rate_key(channel), rate=rate, burst=burst):
        if time.monotonic() + wait > deadline:
            spread = max(max_wait, 1 / rate) * 2 ** min(waits, RATE_WAIT_DOUBLINGS)
            countdown = min(wait + random.uniform(0, spread), RETRY_MAX_SECONDS)  # noqa: S311
            raise RateLimited(channel, countdown=countdown)
        # Waiters wake spread over one interval, not all at once.
        time.sleep(wait + random.uniform(0, 1 / rate))  # noqa: S311


def notification_fail(*, notification_id: int, reason: str) -> Notification:
    logger.warning("notification %s failed: %s", notification_id, reason)
    return notification_end(
        notification_id=notification_id, status=Notification.Status.FAILED, last_error=reason
    )


def notification_end(*, notification_id: int, status: str, **fields) -> Notification:
    """Write a notification's ``status`` (and ``fields``); its broadcast's
    counters follow in the same transaction.

    The row is locked and its status before read, so a second end of the same
    notification (a redelivered or retried task) moves no counter, and one
    that changes its outcome (failed, then sent) moves both.
    """
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        before = notification.status
        Notification.objects.filter(pk=notification_id).update(
            status=status, updated_at=Now(), **fields
        )
        if notification.broadcast_id is not None:
            broadcast_count(
                broadcast_id=notification.broadcast_id,
                **status_change(before=before, after=status),
            )
    notification.refresh_from_db()
    return notification


def status_change(*, before: str, after: str) -> dict[str, int]:
    """What moving one notification from ``before`` to ``after`` adds to its
    broadcast's sent and failed counters (-1, 0 or 1 each)."""
    sent, failed = Notification.Status.SENT, Notification.Status.FAILED
    return {
        "sent": (after == sent) - (before == sent),
        "failed": (after == failed) - (before == failed),
    }


def notification_reopen(*, notification_id: int) -> None:
    """Put a notification that is not sent or cancelled back in the queue (the
    operations console's Retry); a failed one leaves its broadcast's failed count."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .filter(pk=notification_id)
            .exclude(status__in=[Notification.Status.SENT, Notification.Status.CANCELLED])
            .first()
        )
        if notification is None:
            return
        Notification.objects.filter(pk=notification_id).update(
            status=Notification.Status.QUEUED, last_error=""
        )
        if notification.broadcast_id is not None:
            broadcast_count(
                broadcast_id=notification.broadcast_id,
                **status_change(before=notification.status, after=Notification.Status.QUEUED),
            )


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


def broadcast_audience(*, audience: str, usernames: list[str] | None = None):
    """The active users ``audience`` names, or ``NotificationRejected`` saying why none."""
    users = get_user_model().objects.filter(is_active=True)
    if audience == Broadcast.Audience.STAFF:
        return users.filter(is_staff=True)
    if audience == Broadcast.Audience.LIST:
        wanted = sorted({username_check(name) for name in usernames or []})
        if not wanted:
            raise NotificationRejected("A list audience needs at least one username.")
        found = set(users.filter(username__in=wanted).values_list("username", flat=True))
        if missing := [name for name in wanted if name not in found]:
            raise NotificationRejected(f"No user named {', '.join(map(repr, missing))}.")
        return users.filter(username__in=wanted)
    if audience != Broadcast.Audience.ALL:
        raise NotificationRejected(f"Unknown audience {audience!r}: use all, staff or list.")
    return users


def broadcast_recipient_ids(
    *, audience: str, channel: str, usernames: list[str] | None = None
) -> list[int]:
    """Whom a broadcast reaches, by id; ``NoRecipients`` if nobody: nothing would be sent."""
    users = broadcast_audience(audience=audience, usernames=usernames)
    ids = list(_reachable(users, channel).order_by("pk").values_list("pk", flat=True))
    if not ids:
        raise NoRecipients(
            f"Nobody to send to: no active user in the {audience} audience can get "
            f"{channel} messages (no address, or turned off). Nothing was sent."
        )
    return ids


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

    level = message_check(channel=channel, body=body, priority=priority, subject=subject)
    recipient_ids = broadcast_recipient_ids(audience=audience, usernames=usernames, channel=channel)
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


CHUNK_WORK_SECONDS = 30  # a chunk that takes longer hands the rest to a new task


@dataclass
class ChunkOutcome:
    """What a chunk did not finish: ids to retry one by one (transient
    provider errors), and the rest of the chunk to run later, after
    ``rest_countdown`` s, having waited ``rest_waits`` times in a row."""

    priority: int
    retry_ids: list[int] = field(default_factory=list)
    rest_ids: list[int] = field(default_factory=list)
    rest_countdown: float = 0.0
    rest_waits: int = 0


def broadcast_deliver_chunk(
    *, broadcast_id: int, notification_ids: list[int], waits: int = 0
) -> ChunkOutcome:
    """Deliver one chunk of a broadcast; return what is left to do.

    In-app messages are delivered with one UPDATE. Other channels go one by
    one through ``notification_deliver`` (never sends twice, takes its turn
    under the channel's rate limit); a transient error hands that
    notification to the single-notification task and its retries. When the
    channel has no turn free soon, the limiter is down or the chunk has worked
    for CHUNK_WORK_SECONDS, the rest of the chunk is handed back to run later
    (``waits``: how often this chunk waited already), so a thread is never
    held for long.
    """
    channel, priority = Broadcast.objects.values_list("channel", "priority").get(pk=broadcast_id)
    outcome = ChunkOutcome(priority=priority)
    if not notification_ids:
        return outcome
    if channel == Channel.IN_APP:
        with transaction.atomic():
            # Found by primary key alone: with a status or broadcast condition
            # PostgreSQL may pick those indexes (its estimates lag after a
            # bulk insert) and read the whole broadcast for every chunk. The
            # rows are locked, so each queued one moves, and is counted, once.
            rows = (
                Notification.objects.select_for_update()
                .filter(pk__in=notification_ids)
                .order_by("pk")
                .values_list("pk", "status", "broadcast_id")
            )
            queued = [
                pk
                for pk, status, owner in rows
                if status == Notification.Status.QUEUED and owner == broadcast_id
            ]
            moved = Notification.objects.filter(pk__in=queued).update(
                status=Notification.Status.SENT,
                sent_at=timezone.now(),
                updated_at=Now(),
                attempts=F("attempts") + 1,
            )
            broadcast_count(broadcast_id=broadcast_id, sent=moved)
    else:  # each notification counts itself as it ends (notification_end)
        deadline = time.monotonic() + CHUNK_WORK_SECONDS
        for index, notification_id in enumerate(notification_ids):
            if time.monotonic() > deadline:
                outcome.rest_ids = notification_ids[index:]
                break
            try:
                notification_deliver(notification_id=notification_id, waits=waits)
            except TransientDeliveryError:
                outcome.retry_ids.append(notification_id)
            except (RateLimited, ratelimit.RateLimiterUnavailable) as exc:
                if isinstance(exc, RateLimited):
                    outcome.rest_countdown = exc.countdown
                else:  # the project's backoff
                    outcome.rest_countdown = retry_delay(waits)
                    logger.warning("broadcast %s: %s", broadcast_id, exc)
                outcome.rest_ids, outcome.rest_waits = notification_ids[index:], waits + 1
                break
            waits = 0  # this chunk is moving again
    return outcome


def broadcast_count(*, broadcast_id: int, sent: int = 0, failed: int = 0) -> None:
    """Add to a broadcast's counters what just changed, in the caller's
    transaction (with the change itself); the first time sent + failed
    reaches total stamps ``finished_at``, once.

    One UPDATE: the row lock orders concurrent chunks, and each adds to the
    counters as they are when it gets the row, so none is lost.
    """
    if not (sent or failed):
        return
    done = F("sent") + F("failed") + (sent + failed)
    Broadcast.objects.filter(pk=broadcast_id).update(
        sent=Greatest(F("sent") + sent, 0),  # never below 0, should they have drifted
        failed=Greatest(F("failed") + failed, 0),
        finished_at=Case(
            When(finished_at=None, total__lte=done, then=Value(timezone.now())),
            default=F("finished_at"),
        ),
    )


def broadcast_recount(*, broadcast_id: int) -> Broadcast:
    """Count a broadcast's sent and failed notifications again (the sweep's
    repair: O(its notifications), never per chunk); finish it if all are.

    The broadcast row is locked first: a count that ends meanwhile waits for
    this one and then adds itself (``broadcast_count``), so none is lost or
    counted twice.
    """
    with transaction.atomic():
        list(Broadcast.objects.select_for_update().filter(pk=broadcast_id).values_list("pk"))
        counts = Notification.objects.filter(broadcast_id=broadcast_id).aggregate(
            sent=Count("id", filter=Q(status=Notification.Status.SENT)),
            failed=Count("id", filter=Q(status=Notification.Status.FAILED)),
        )
        Broadcast.objects.filter(pk=broadcast_id).update(**counts)
        Broadcast.objects.filter(
            pk=broadcast_id, finished_at=None, total__lte=F("sent") + F("failed")
        ).update(finished_at=timezone.now())
    return Broadcast.objects.get(pk=broadcast_id)
