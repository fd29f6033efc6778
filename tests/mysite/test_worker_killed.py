"""SIGKILL a worker in the middle of each app's task, start another: every row ends final once.

A worker killed mid-task leaves its row in flight (processing, running,
queued) and its message unacknowledged in Redis until the visibility timeout
(two hours). The sweep queues the row's work again once it has been in flight
longer than the app's ``*_SWEEP_AFTER`` (seconds here), and the new worker
finishes it. Then the dead run's message comes back, as Redis hands it out
once the visibility timeout has passed, and changes nothing.

Each test: the session's in-process worker lets go of the app's queue; the
work is asked for while nobody consumes it; another connection takes a lock
the task must wait for after it has started; a worker process takes the task,
is seen waiting on the lock and running the task, and is killed with its pool.
"""

import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from kombu.utils.encoding import bytes_to_str

from images import services as image_services
from images.models import Image, Rendition
from mysite import config
from mysite.celery import app as celery_app
from mysite.priorities import broker_transport
from mysite.sweep import sweep
from notifications import services as notification_services
from notifications.models import Broadcast, Channel, ContactPoint, Notification
from reports import services as report_services
from reports.models import Order, Report
from tests.helpers.celery_process import WorkerProcess, stop_all
from tests.helpers.factories import picture, upload
from tests.helpers.services import require, wait_for, waiting_for_a_lock
from tests.helpers.storage import bucket_storage

pytestmark = pytest.mark.django_db(transaction=True)

SWEEP_AFTER = timedelta(seconds=2)  # how long a row stays in flight before the sweep takes it


class QueueWorkers:
    """Worker processes on one queue, of which the session's worker has let go."""

    def __init__(self, queue: str, *, environment: dict[str, str] | None, tmp_path):
        self.queue = queue
        self.environment = environment
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def start(self) -> WorkerProcess:
        name = f"killed-{self.queue}-{len(self.started)}"
        worker = WorkerProcess(
            self.tmp_path / f"{name}.log",
            concurrency=1,
            name=name,
            queues=self.queue,
            environment=self.environment,
        )
        self.started.append(worker)
        worker.wait_ready()
        return worker


@pytest.fixture
def queue_workers(transactional_db, celery_worker, tmp_path):
    """``queue_workers(queue, environment=...)``: from now on, the session's
    in-process worker lets go of ``queue`` (it takes it back after the test),
    so the worker processes ``.start()`` makes do its work.

    Needs PostgreSQL (the locks that hold a task mid-way) and Redis (where a
    dead worker's message waits, unacknowledged, for its visibility timeout).
    """
    require(connection.vendor == "postgresql", "holding a task on a row lock needs PostgreSQL")
    require(
        broker_transport(celery_app.conf.broker_url) == "redis",
        "the dead worker's message staying unacknowledged is Redis's behaviour",
    )
    me = [celery_worker.hostname]
    made: list[QueueWorkers] = []
    earlier = set(unacked())

    def let_go(queue: str, *, environment: dict[str, str] | None = None) -> QueueWorkers:
        celery_app.control.cancel_consumer(queue, destination=me, reply=True)
        made.append(QueueWorkers(queue, environment=environment, tmp_path=tmp_path))
        return made[-1]

    try:
        yield let_go
    finally:
        started = [worker for workers in made for worker in workers.started]
        # A worker stopped just after a task may never acknowledge it: give the
        # living ones time to, then forget the dead runs' messages, so no test
        # run's work is handed out to a later one's worker.
        deadline = time.monotonic() + 10
        while set(unacked()) - earlier and time.monotonic() < deadline:
            time.sleep(0.1)
        stop_all(started)
        forget(set(unacked()) - earlier)
        for worker in started:
            worker.print_log()
        for workers in made:
            celery_app.control.add_consumer(workers.queue, destination=me, reply=True)


@pytest.fixture
def shared_media(settings, tmp_path, request):
    """This test's files where this process and its worker processes both find
    them: a bucket of the test's own on the configured S3 server (the suite's
    media are in a bucket), or else a temporary MEDIA_ROOT. Yields the
    variables that point a worker process there."""
    if settings.STORAGES["default"]["BACKEND"] != config.S3_STORAGE:
        settings.MEDIA_ROOT = tmp_path / "media"
        yield {"MEDIA_ROOT": str(settings.MEDIA_ROOT)}
        return
    server = request.getfixturevalue("s3_bucket")
    environment = {**server.environment, "AWS_STORAGE_BUCKET_NAME": f"killed-{time.time_ns()}"}
    client = server.client()
    bucket = environment["AWS_STORAGE_BUCKET_NAME"]
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "default": bucket_storage(environment)}
    try:
        yield environment
    finally:
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


class Provider:
    """An SMS provider on loopback that honours ``Idempotency-Key``, as the
    HTTP backend asks of it: a request with a key it has seen is not sent again.

    ``hold``: the next request is kept unanswered (received, so counted) until
    ``release`` is set, for a kill while the provider has the message."""

    def __init__(self):
        self.keys: list[str] = []  # Idempotency-Key of every request, as they came
        self.lock = threading.Lock()
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.url = ""

    @property
    def delivered(self) -> list[str]:
        """The references of the messages sent to phones, once each."""
        with self.lock:
            return list(dict.fromkeys(self.keys))


@pytest.fixture
def provider():
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.keys.append(self.headers["Idempotency-Key"])
                count = len(state.keys)
            if state.hold.is_set():
                state.hold.clear()
                state.holding.set()
                state.release.wait(30)
            text = json.dumps({"id": f"msg-{count}"})
            try:
                self.send_response(200)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())
            except OSError:
                pass  # the sender was killed while we held its request

        def log_message(self, *args):
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/messages"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def hold(sql: str, params: list) -> "psycopg2.extensions.connection":
    """Another transaction that runs ``sql`` and keeps what it locked (or
    inserted, uncommitted) until its ``rollback()``."""
    db = connection.settings_dict
    holder = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432
    )
    with holder.cursor() as cursor:
        cursor.execute(sql, params)
    return holder


def running(worker: WorkerProcess) -> list[dict]:
    """The tasks ``worker`` runs right now (asked through remote control)."""
    hostname = f"{worker.name}@{socket.gethostname()}"
    replies = celery_app.control.inspect([hostname], timeout=5).active() or {}
    return replies.get(hostname, [])


@dataclass(frozen=True)
class Dead:
    """A run killed mid-task: its task id, its message's delivery tag (still
    unacknowledged in Redis) and when it died (``time.monotonic()``)."""

    task_id: str
    tag: str
    at: float


def kill(worker: WorkerProcess, *, task: str) -> Dead:
    """SIGKILL ``worker`` and its pool while it runs ``task`` (and only that)."""
    [active] = running(worker)
    assert active["name"] == task
    worker.kill()
    at = time.monotonic()
    [tag] = [tag for tag, task_id in unacked().items() if task_id == active["id"]]
    return Dead(task_id=active["id"], tag=tag, at=at)


def kill_waiting(worker: WorkerProcess, holder, *, task: str) -> Dead:
    """Once ``worker``'s run of ``task`` waits for the lock ``holder`` took,
    kill the worker, then let the lock go."""
    try:
        wait_for(lambda: waiting_for_a_lock() >= 1, what=f"{task} to wait for the lock")
        return kill(worker, task=task)
    finally:
        holder.rollback()
        holder.close()


def sweep_until(model: str) -> list[int]:
    """Run the sweep (as beat would, here every 50 ms) until it re-queues
    ``model``'s rows; their ids. Their run is dead: they wait SWEEP_AFTER."""
    return wait_for(lambda: sweep().get(model), timeout=SWEEP_AFTER.total_seconds() + 15)


def unacked() -> dict[str, str]:
    """The messages Redis has handed to a worker that has not acknowledged
    them (kombu's ``unacked`` hash): task id by delivery tag."""
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        delivered = channel.client.hgetall(channel.unacked_key)
    return {
        bytes_to_str(tag): json.loads(raw)[0]["headers"]["id"] for tag, raw in delivered.items()
    }


def forget(tags: set[str]) -> None:
    """Drop these unacknowledged messages: nobody will run them."""
    if tags:
        with celery_app.connection_for_write() as conn:
            channel = conn.default_channel
            channel.client.hdel(channel.unacked_key, *tags)
            channel.client.zrem(channel.unacked_index_key, *tags)


def redeliver(dead: Dead) -> None:
    """Put the dead run's message back on its queue, as Redis does once its
    visibility timeout has passed (a worker's restore of unacknowledged
    messages), and only that one."""
    with celery_app.connection_for_write() as conn:
        conn.default_channel.qos.restore_by_tag(dead.tag)


def sent_after_sweep(workers: QueueWorkers, notification, dead: Dead, *, what: str):
    """Start a new worker and sweep: ``notification`` is queued again, alone, and
    ends sent. Prints how long after the kill; the new worker."""
    second = workers.start()
    swept = sweep_until("notifications.Notification")
    assert swept == [notification.pk]
    wait_for(lambda: Notification.objects.filter(pk=notification.pk, status="sent").exists())
    to_final = time.monotonic() - dead.at
    print(f"{what}: swept {len(swept)} row(s); sent {to_final:.1f}s after the kill")
    return second


def runs_succeeded(worker: WorkerProcess, task_id: str) -> int:
    return worker.log().count(f"[{task_id}] succeeded")


@pytest.mark.slow
def test_an_image_whose_worker_is_killed_mid_task_ends_ready_once_with_one_rendition_per_spec(
    user, settings, shared_media, queue_workers
):
    # given: an image waiting on the images queue; another transaction inserts,
    # uncommitted, the rendition the run saves last, so the run stops there
    settings.IMAGES_SWEEP_AFTER = SWEEP_AFTER
    workers = queue_workers("images", environment=shared_media)
    [image], _ = image_services.images_upload(owner=user, uploads=[upload(picture())])
    specs = [spec.name for spec in image_services.rendition_specs()]
    holder = hold(
        "INSERT INTO images_rendition (image_id, spec, format, width, height, bytes, file) "
        "VALUES (%s, %s, 'WEBP', 1, 1, 1, 'held')",
        [image.pk, specs[-1]],
    )
    first = workers.start()

    # when: the worker is killed while its run waits to save the last rendition
    dead = kill_waiting(first, holder, task="images.tasks.process_image")

    # then: the run was cut short: claimed, some renditions saved, not ready
    assert dead.task_id == image.task_id
    assert Image.objects.get(pk=image.pk).status == "processing"
    assert sorted(Rendition.objects.filter(image=image).values_list("spec", flat=True)) == sorted(
        specs[:-1]
    )

    # when: a new worker starts and the sweep runs
    second = workers.start()
    swept = sweep_until("images.Image")

    # then: the image was queued again once, and ends ready with one rendition per spec
    assert swept == [image.pk]
    wait_for(lambda: Image.objects.filter(pk=image.pk, status="ready").exists(), what="ready")
    to_final = time.monotonic() - dead.at
    renditions = list(Rendition.objects.filter(image=image))
    assert sorted(r.spec for r in renditions) == sorted(specs)
    assert all(default_storage.exists(r.file.name) for r in renditions)
    print(f"images: swept {len(swept)} row(s); ready {to_final:.1f}s after the kill")

    # when: the dead run's message comes back (the visibility timeout)
    redeliver(dead)
    wait_for(lambda: runs_succeeded(second, dead.task_id) == 2, what="the redelivered run")

    # then: it made the same renditions again, in place: still one per spec
    assert Image.objects.get(pk=image.pk).status == "ready"
    again = {r.spec: (r.pk, r.file.name) for r in Rendition.objects.filter(image=image)}
    assert again == {r.spec: (r.pk, r.file.name) for r in renditions}


def yesterday_noon() -> datetime:
    local = timezone.localtime()
    return (local - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.mark.slow
def test_a_report_whose_worker_is_killed_mid_task_ends_ready_once(
    staff_user, settings, shared_media, queue_workers
):
    # given: yesterday's orders; a daily report waiting on the reports queue;
    # another transaction locks the orders table, so the run stops at its sums
    settings.REPORTS_SWEEP_AFTER = SWEEP_AFTER
    workers = queue_workers("reports", environment=shared_media)
    Order.objects.create(created_at=yesterday_noon(), amount=Decimal("12.50"), channel="web")
    Order.objects.create(created_at=yesterday_noon(), amount=Decimal("7.50"), channel="store")
    report = report_services.report_request(period="daily", user=staff_user)
    holder = hold("LOCK TABLE reports_order IN ACCESS EXCLUSIVE MODE", [])
    first = workers.start()

    # when: the worker is killed while its run waits for the orders
    dead = kill_waiting(first, holder, task="reports.tasks.generate_sales_report")

    # then: the run was cut short: the report is running, with no files
    assert dead.task_id == report.task_id
    cut_short = Report.objects.get(pk=report.pk)
    assert (cut_short.status, cut_short.csv_file.name) == ("running", "")

    # when: a new worker starts and the sweep runs
    second = workers.start()
    swept = sweep_until("reports.Report")

    # then: the report was queued again once and ends ready, its files stored
    assert swept == [report.pk]
    wait_for(lambda: Report.objects.filter(pk=report.pk, status="ready").exists(), what="ready")
    to_final = time.monotonic() - dead.at
    ready = Report.objects.get(pk=report.pk)
    assert ready.summary["orders"] == 2
    assert ready.summary["total_sales"] == "20.00"
    assert default_storage.exists(ready.csv_file.name)
    assert default_storage.exists(ready.chart.name)
    print(f"reports: swept {len(swept)} row(s); ready {to_final:.1f}s after the kill")

    # when: the dead run's message comes back (the visibility timeout)
    redeliver(dead)
    wait_for(lambda: runs_succeeded(second, dead.task_id) == 2, what="the redelivered run")

    # then: one report of the period, ready, and its requester was told once
    assert list(Report.objects.values_list("pk", "status")) == [(report.pk, "ready")]
    told = Notification.objects.filter(recipient=staff_user, subject="Your report is ready")
    assert told.count() == 1


@pytest.fixture
def phone_user(user):
    ContactPoint.objects.create(user=user, phone="+4915112345678")
    return user


def queued_sms(phone_user, settings, provider, queue_workers, body: str):
    """An SMS queued for worker processes of the notifications queue that send to
    ``provider`` (the session's worker lets go of that queue); (workers, notification)."""
    settings.NOTIFICATIONS_SWEEP_AFTER = SWEEP_AFTER
    workers = queue_workers("notifications", environment={"NOTIFICATION_SMS_URL": provider.url})
    notification = notification_services.notification_send(
        recipient=phone_user, channel=Channel.SMS, body=body
    )
    return workers, notification


@pytest.mark.slow
def test_a_notification_whose_worker_is_killed_before_the_send_is_sent_once(
    phone_user, settings, provider, queue_workers
):
    # given: an SMS waiting on the notifications queue, whose row another
    # transaction holds, so the run waits before it sends
    workers, notification = queued_sms(
        phone_user, settings, provider, queue_workers, "Your code is 1234"
    )
    holder = hold(
        "SELECT id FROM notifications_notification WHERE id = %s FOR UPDATE", [notification.pk]
    )
    first = workers.start()

    # when: the worker is killed while its run waits for the row
    dead = kill_waiting(first, holder, task="notifications.tasks.send_notification")

    # then: nothing was sent, nothing counted
    assert dead.task_id == notification.task_id
    assert provider.keys == []
    cut_short = Notification.objects.get(pk=notification.pk)
    assert (cut_short.status, cut_short.attempts) == ("queued", 0)

    # when: a new worker starts and the sweep runs; then it was queued again
    # once, and sent once, in one attempt
    second = sent_after_sweep(workers, notification, dead, what="notifications")
    assert provider.keys == [f"notification-{notification.pk}"]
    assert Notification.objects.get(pk=notification.pk).attempts == 1

    # when: the dead run's message comes back (the visibility timeout)
    redeliver(dead)
    wait_for(lambda: runs_succeeded(second, dead.task_id) == 2, what="the redelivered run")

    # then: a sent notification is never sent again
    assert provider.keys == [f"notification-{notification.pk}"]
    assert Notification.objects.get(pk=notification.pk).attempts == 1


@pytest.mark.slow
def test_a_notification_whose_worker_is_killed_during_the_send_is_delivered_once(
    phone_user, settings, provider, queue_workers
):
    # given: an SMS waiting on the notifications queue; the provider will keep
    # the first request it gets unanswered
    workers, notification = queued_sms(
        phone_user, settings, provider, queue_workers, "Your code is 5678"
    )
    provider.hold.set()
    first = workers.start()

    # when: the worker is killed while the provider has the message
    assert provider.holding.wait(30), "the provider got no request"
    dead = kill(first, task="notifications.tasks.send_notification")
    provider.release.set()

    # then: the run was cut short while sending: whether it went out is unknown
    assert dead.task_id == notification.task_id
    cut_short = Notification.objects.get(pk=notification.pk)
    assert (cut_short.status, cut_short.attempts) == ("sending", 1)

    # when: a new worker starts and the sweep runs; then it is sent again under
    # the same idempotency key: the provider delivers it once, and the second
    # attempt is counted
    second = sent_after_sweep(workers, notification, dead, what="notifications (mid-send)")
    key = f"notification-{notification.pk}"
    assert provider.keys == [key, key]
    assert provider.delivered == [key]
    assert Notification.objects.get(pk=notification.pk).attempts == 2

    # when: the dead run's message comes back (the visibility timeout)
    redeliver(dead)
    wait_for(lambda: runs_succeeded(second, dead.task_id) == 2, what="the redelivered run")

    # then: nothing more goes to the provider
    assert provider.keys == [key, key]
    assert Notification.objects.get(pk=notification.pk).attempts == 2


@pytest.mark.slow
def test_a_broadcast_chunk_whose_worker_is_killed_mid_chunk_sends_each_message_once(
    django_user_model, settings, provider, queue_workers
):
    # given: an SMS broadcast to three people, one chunk waiting on the
    # notifications queue; another transaction holds the second message's row
    settings.NOTIFICATIONS_SWEEP_AFTER = SWEEP_AFTER
    workers = queue_workers("notifications", environment={"NOTIFICATION_SMS_URL": provider.url})
    names = ["ann", "ben", "cat"]
    for number, name in enumerate(names):
        person = django_user_model.objects.create_user(name, password=f"{name}-password-1")
        ContactPoint.objects.create(user=person, phone=f"+491511234567{number}")
    broadcast = notification_services.broadcast_send(
        audience="list", usernames=names, channel=Channel.SMS, body="We are open on Sunday"
    )
    messages = Notification.objects.filter(broadcast=broadcast).order_by("pk")
    ids = list(messages.values_list("pk", flat=True))
    holder = hold("SELECT id FROM notifications_notification WHERE id = %s FOR UPDATE", [ids[1]])
    first = workers.start()

    # when: the worker is killed while its chunk waits for the second message
    dead = kill_waiting(first, holder, task="notifications.tasks.send_broadcast_chunk")

    # then: the chunk was cut short: the first message sent, the others still queued
    assert provider.keys == [f"notification-{ids[0]}"]
    statuses = dict(messages.values_list("pk", "status"))
    assert statuses == {ids[0]: "sent", ids[1]: "queued", ids[2]: "queued"}

    # when: a new worker starts and the sweep runs
    second = workers.start()
    swept = sweep_until("notifications.Notification")

    # then: the two left were queued again (as a chunk) and everyone got the message once
    assert sorted(swept) == ids[1:]
    wait_for(
        lambda: Broadcast.objects.filter(pk=broadcast.pk, finished_at__isnull=False).exists(),
        what="the broadcast to finish",
    )
    to_final = time.monotonic() - dead.at
    assert sorted(provider.keys) == sorted(f"notification-{pk}" for pk in ids)
    finished = Broadcast.objects.get(pk=broadcast.pk)
    assert (finished.sent, finished.failed, finished.total) == (3, 0, 3)
    print(f"broadcast: swept {len(swept)} row(s); finished {to_final:.1f}s after the kill")

    # when: the dead chunk's message comes back (the visibility timeout)
    redeliver(dead)
    wait_for(lambda: runs_succeeded(second, dead.task_id) == 1, what="the redelivered chunk")

    # then: nothing more goes to the provider, and each message took one attempt
    assert len(provider.keys) == 3
    attempts = Notification.objects.filter(broadcast=broadcast).values_list("attempts", flat=True)
    assert list(attempts) == [1, 1, 1]
