"""A broadcast's counters: each notification's end counted exactly once, as it happens.

No recount per chunk (it made a broadcast's cost quadratic): the in-app chunk
adds what its UPDATE moved, any other end adds its own status change, in the
transaction of the change. The sweep's recount repairs a counter that drifted.
"""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from mysite.sweep import sweep
from notifications import services
from notifications.models import Broadcast, Channel, ContactPoint, Notification
from notifications.tasks import send_broadcast_chunk, send_notification
from tests.helpers.services import require
from tests.notifications.test_broadcast import make_users, wait_finished


def counts(broadcast_id: int) -> tuple[int, int, int]:
    row = Broadcast.objects.get(pk=broadcast_id)
    return row.sent, row.failed, row.total


def truth(broadcast_id: int) -> tuple[int, int]:
    """What the notifications themselves say: sent, failed."""
    rows = Notification.objects.filter(broadcast_id=broadcast_id)
    return rows.filter(status="sent").count(), rows.filter(status="failed").count()


def in_app_broadcast(settings, count: int, *, chunk: int) -> tuple[Broadcast, list[int]]:
    """A broadcast whose chunk tasks are not published (the test runs them)."""
    make_users(count)
    settings.NOTIFICATION_BROADCAST_CHUNK = chunk
    broadcast = services.broadcast_send(audience="all", channel=Channel.IN_APP, body="Hi")
    ids = list(broadcast.notifications.order_by("pk").values_list("pk", flat=True))
    return broadcast, ids


def in_threads(*jobs) -> None:
    """Run ``jobs`` at once, each in a thread with its own database connection."""
    start = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        try:
            start.wait(10)
            job()
        except Exception as exc:  # noqa: BLE001  (the test reports it, not the thread)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=[job]) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_mixed_outcomes_are_counted_exactly(celery_worker, provider):
    # given: four users with phones; the provider takes the first SMS, refuses
    # the second for good, fails the third for now (a retry sends it)
    make_users(4)
    users = list(get_user_model().objects.order_by("pk"))
    for number, person in enumerate(users):
        ContactPoint.objects.create(user=person, phone=f"+4915112345{number:03d}")
    provider.answers.extend([(200, {}, '{"id": "a"}'), (400, {}, "bad"), (500, {}, "busy")])

    # when
    broadcast = services.broadcast_send(audience="all", channel=Channel.SMS, body="Open Sunday")

    # then: sent, failed, retried-then-sent: three sent, one failed, finished once all ended
    done = wait_finished(broadcast.pk)
    assert (done.sent, done.failed, done.total) == (3, 1, 4)
    assert truth(broadcast.pk) == (3, 1)
    retried = Notification.objects.get(broadcast=broadcast, attempts=2)
    assert retried.status == "sent"
    assert len(provider.requests) == 5


@pytest.mark.django_db
def test_an_end_processed_twice_is_counted_once(settings, reachable_user):
    # given: an SMS broadcast of one, delivered by hand (no worker: nothing is published)
    settings.NOTIFICATION_CHANNELS = {
        **settings.NOTIFICATION_CHANNELS,
        "sms": {"BACKEND": "notifications.backends.ConsoleBackend"},
    }
    broadcast = services.broadcast_send(audience="all", channel=Channel.SMS, body="Hi")
    [notification] = broadcast.notifications.all()

    # when: it is delivered, then its task runs again (a redelivery after a crash)
    services.notification_deliver(notification_id=notification.pk)
    first = Broadcast.objects.get(pk=broadcast.pk)
    send_notification.run(notification.pk)
    send_broadcast_chunk.run(broadcast.pk, [notification.pk])

    # then: one sent, and the broadcast finished at the first end, not again
    again = Broadcast.objects.get(pk=broadcast.pk)
    assert (again.sent, again.failed, again.total) == (1, 0, 1)
    assert again.finished_at == first.finished_at is not None

    # when: the same notification is given up twice (on_failure of two runs)
    services.notification_fail(notification_id=notification.pk, reason="gave up")
    services.notification_fail(notification_id=notification.pk, reason="gave up again")

    # then: it moved from sent to failed once
    assert counts(broadcast.pk) == (0, 1, 1)
    assert truth(broadcast.pk) == (0, 1)


@pytest.mark.django_db
def test_an_in_app_chunk_run_again_counts_nothing_twice(settings):
    broadcast, ids = in_app_broadcast(settings, 30, chunk=10)

    for start in range(0, 30, 10):
        services.broadcast_deliver_chunk(
            broadcast_id=broadcast.pk, notification_ids=ids[start : start + 10]
        )
    finished = Broadcast.objects.get(pk=broadcast.pk).finished_at
    services.broadcast_deliver_chunk(broadcast_id=broadcast.pk, notification_ids=ids[:10])

    assert counts(broadcast.pk) == (30, 0, 30)
    assert Broadcast.objects.get(pk=broadcast.pk).finished_at == finished is not None


@pytest.mark.django_db
def test_a_failed_notification_retried_from_the_console_leaves_the_failed_count(settings, user):
    # given: a broadcast of one whose notification failed
    broadcast = services.broadcast_send(audience="all", channel=Channel.IN_APP, body="Hi")
    [notification] = broadcast.notifications.all()
    services.notification_fail(notification_id=notification.pk, reason="no address")
    assert counts(broadcast.pk) == (0, 1, 1)

    # when: the console puts it back in flight (its Retry), and it is sent
    send_notification.row.reopen_row(notification)
    reopened = Notification.objects.get(pk=notification.pk)
    assert (reopened.status, reopened.last_error) == ("queued", "")
    assert counts(broadcast.pk) == (0, 0, 1)
    services.notification_deliver(notification_id=notification.pk)

    # then: counted once, as sent
    assert counts(broadcast.pk) == (1, 0, 1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_chunks_leave_exact_counts(settings):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    # given: 2,000 in-app notifications in 20 chunks of 100
    broadcast, ids = in_app_broadcast(settings, 2000, chunk=100)
    chunks = [ids[start : start + 100] for start in range(0, len(ids), 100)]

    def deliver(order):
        def job():
            for chunk in order:
                services.broadcast_deliver_chunk(broadcast_id=broadcast.pk, notification_ids=chunk)

        return job

    # when: two processes deliver every chunk at once, in opposite orders (each
    # chunk runs twice, as after a redelivery), and a third the even chunks
    in_threads(deliver(chunks), deliver(chunks[::-1]), deliver(chunks[::2]))

    # then: every notification counted once, and the broadcast finished
    done = Broadcast.objects.get(pk=broadcast.pk)
    assert (done.sent, done.failed, done.total) == (2000, 0, 2000)
    assert done.finished_at is not None
    assert set(Notification.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_concurrent_single_ends_leave_exact_counts(settings):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    # given: 300 notifications of a broadcast, ended one by one (as the other channels do)
    broadcast, ids = in_app_broadcast(settings, 300, chunk=300)

    def fail(subset):
        def job():
            for pk in subset:
                services.notification_fail(notification_id=pk, reason="refused")

        return job

    def send(subset):
        def job():
            for pk in subset:
                services.notification_deliver(notification_id=pk)

        return job

    # when: three threads end them at once; the first 100 both fail (twice) and are sent
    in_threads(fail(ids[:200]), fail(ids[:100]), send(ids[100:]))

    # then: the counters say what the rows say
    sent, failed = truth(broadcast.pk)
    assert sent + failed == 300
    assert counts(broadcast.pk) == (sent, failed, 300)
    assert Broadcast.objects.get(pk=broadcast.pk).finished_at is not None


@pytest.mark.django_db
def test_the_sweep_repairs_a_broadcast_whose_counter_drifted(settings):
    # given: all 40 notifications ended (25 sent, 15 failed), but the counters
    # say less (a hand edit, or a worker from before counting as it goes)
    broadcast, ids = in_app_broadcast(settings, 40, chunk=40)
    for pk in ids[:15]:
        services.notification_fail(notification_id=pk, reason="refused")
    services.broadcast_deliver_chunk(broadcast_id=broadcast.pk, notification_ids=ids)
    Broadcast.objects.filter(pk=broadcast.pk).update(sent=3, failed=20, finished_at=None)
    settings.NOTIFICATIONS_SWEEP_AFTER = timedelta(0)
    Broadcast.objects.filter(pk=broadcast.pk).update(created_at=timezone.now() - timedelta(hours=1))

    # when
    swept = sweep()

    # then: counted again from the rows, and finished
    assert swept == {"notifications.Broadcast": [broadcast.pk]}
    repaired = Broadcast.objects.get(pk=broadcast.pk)
    assert (repaired.sent, repaired.failed, repaired.total) == (25, 15, 40)
    assert repaired.finished_at is not None
    assert sweep() == {}
