"""Priorities on Redis: an URGENT notification overtakes a backlog, on the real worker.

kombu's Redis transport keeps one list per priority step (``notifications``,
``notifications\\x06\\x161`` ... ``\\x06\\x169``), LPUSHes each message onto its
list and takes the next one with a single BRPOP over all those lists, most
urgent first. So each take returns the oldest message of the most urgent
non-empty list: across priorities the urgent one wins, within one priority it
is first in, first out. Nothing more is promised, and nothing more is asserted.
"""

import time
from contextlib import contextmanager

import pytest
from django.conf import settings

from mysite.celery import app as celery_app
from mysite.priorities import Priority
from notifications import services
from notifications.models import Notification
from tests.helpers.services import require, wait_for

QUEUE = "notifications"
BACKLOG = 30  # NORMAL notifications waiting when the URGENT one arrives
PREFETCH = settings.CELERY_WORKER_PREFETCH_MULTIPLIER * 1  # x concurrency 1 (solo pool)
BRPOP_TIMEOUT = 1.0  # kombu's Redis transport: a BRPOP in flight returns within 1 s


def queue_depth(name: str = QUEUE) -> int:
    """Messages waiting in Redis (all priority lists); taken, unacked ones do not count."""
    with celery_app.connection_for_read() as connection:
        try:
            return connection.default_channel.queue_declare(name, passive=True).message_count
        except connection.channel_errors:
            return 0  # Redis keeps no empty lists: an empty queue is "not found"


@contextmanager
def consumer_paused(hostname: str, queue: str = QUEUE):
    """Stop ``hostname`` consuming ``queue``; yields ``resume()``, always called on exit."""
    reply = celery_app.control.cancel_consumer(queue, destination=[hostname], reply=True, timeout=5)
    resumed = False

    def resume():
        nonlocal resumed
        if not resumed:
            resumed = True
            return celery_app.control.add_consumer(
                queue, destination=[hostname], reply=True, timeout=5
            )
        return None

    try:
        yield reply, resume
    finally:
        resume()  # the session's worker must consume this queue again for other tests


def consuming(hostname: str, queue: str = QUEUE) -> bool:
    # Control commands run in the worker's event loop in arrival order, so this
    # answer comes after the cancel/add the worker scheduled with call_soon.
    answer = celery_app.control.inspect(destination=[hostname], timeout=5).active_queues()
    return queue in {q["name"] for q in (answer or {}).get(hostname, [])}


@pytest.mark.django_db(transaction=True)
def test_urgent_overtakes_a_normal_backlog_on_redis(reachable_user, celery_worker):
    require(settings.BROKER_SCHEME == "redis", "needs CELERY_BROKER_URL=redis://...")
    hostname = celery_worker.hostname

    def send(body: str, priority: Priority) -> Notification:
        return services.notification_send(
            recipient=reachable_user, channel="in_app", body=body, priority=priority
        )

    with consumer_paused(hostname) as (reply, resume):
        # given: the worker no longer takes from the notifications queue ...
        assert reply == [{hostname: {"ok": f"no longer consuming from {QUEUE}"}}]
        wait_for(lambda: not consuming(hostname), timeout=10, what="the consumer to be cancelled")
        # ... not even through a BRPOP it sent before the cancel (it returns within
        # its timeout, and the next one leaves this queue out) ...
        time.sleep(BRPOP_TIMEOUT + 0.5)
        baseline = queue_depth()  # anything another test left behind (normally 0)

        # ... which a probe shows: it stays waiting in Redis.
        probe = send("normal 0", Priority.NORMAL)
        time.sleep(1.0)
        assert queue_depth() == baseline + 1
        assert Notification.objects.get(pk=probe.pk).status == "queued"

        # when: a backlog of NORMAL ones, then one URGENT, then one LOW
        started = time.monotonic()
        normals = [probe] + [send(f"normal {i}", Priority.NORMAL) for i in range(1, BACKLOG)]
        urgent = send("urgent", Priority.URGENT)
        low = send("low", Priority.LOW)
        queued_in = time.monotonic() - started
        ours = [n.pk for n in [*normals, urgent, low]]
        # all of them are waiting in Redis: the worker holds none in its prefetch
        assert queue_depth() == baseline + len(ours)
        assert Notification.objects.filter(pk__in=ours, status="queued").count() == len(ours)

        # and the worker consumes the queue again
        resumed_at = time.monotonic()
        assert resume() == [{hostname: {"ok": f"add consumer {QUEUE}"}}]
        wait_for(
            lambda: Notification.objects.filter(pk__in=ours, status="sent").count() == len(ours),
            timeout=60,
            what=f"{len(ours)} notifications to be sent",
        )
        drained_in = time.monotonic() - resumed_at
    assert consuming(hostname), "the worker did not take the notifications queue back"

    # then: in delivery order (the solo pool runs each message as it takes it)
    delivered = list(
        Notification.objects.filter(pk__in=ours)
        .order_by("sent_at", "pk")
        .values_list("pk", flat=True)
    )
    position = {pk: index for index, pk in enumerate(delivered)}
    print(  # shown with -s / on failure: the evidence behind the asserts
        f"URGENT at {position[urgent.pk]}, LOW at {position[low.pk]} of {len(delivered)}; "
        f"queued in {queued_in:.2f}s, drained in {drained_in:.2f}s"
    )

    # The URGENT one was queued after all the NORMAL ones. A worker could have
    # taken up to PREFETCH of those before it (prefetch multiplier 4 x solo
    # pool); here it had taken none (the depth check above), and its first BRPOP
    # after the resume looks at the most urgent list first: it overtakes all.
    assert all(n.pk < urgent.pk for n in normals)
    assert position[urgent.pk] < PREFETCH + 1
    assert position[urgent.pk] == 0
    # Within one priority it is first in, first out ...
    assert [pk for pk in delivered if pk in {n.pk for n in normals}] == [n.pk for n in normals]
    # ... and it is not simply last in, first out: the LOW one, queued last, is
    # only taken once every more urgent list is empty, i.e. after all of them.
    assert position[low.pk] == len(ours) - 1
