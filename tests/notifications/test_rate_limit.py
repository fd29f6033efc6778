"""Provider rate limits hold for the whole deployment: one token bucket per
channel in Redis (mysite/ratelimit.py), taken by single sends and broadcast
chunks alike, in every worker process and thread.

The headline test runs three real worker processes (threads x4 each) against a
loopback HTTP provider and checks the provider's own arrival times. The bucket
itself is tested on a Redis of the test's own (and the in-process fallback);
the fault test starts and stops that Redis.
"""

import json
import os
import shutil
import socket
import subprocess
import textwrap
import time
import uuid
from bisect import bisect_right
from pathlib import Path

import pytest
import redis
from celery.signals import task_prerun
from django.contrib.auth import get_user_model
from django_celery_results.models import TaskResult

from mysite import config, ratelimit
from mysite.celery import app as celery_app
from notifications import services
from notifications.models import Broadcast, ContactPoint, Notification
from tests.helpers.celery_process import WorkerProcess, stop_all
from tests.helpers.services import closed_port, require, wait_for

REDIS_SERVER = shutil.which("redis-server")
STOP_TIMEOUT = 15.0


# --- helpers ----------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` of the test's own on ``port``: started, stopped, started again."""

    def __init__(self, port: int, folder: Path):
        self.port, self.folder = port, folder
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        require(REDIS_SERVER is not None, "needs redis-server (apt install redis-server)")
        self.process = subprocess.Popen(  # noqa: S603  (the system's redis-server)
            [
                *(str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(answers, timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of the test's own, not started yet (``.start()``); killed at the end."""
    server = RedisServer(closed_port(), tmp_path)
    yield server
    server.stop()


def max_in_window(times: list[float], seconds: float = 1.0) -> int:
    """The most ``times`` in any closed window ``[t, t + seconds]``."""
    times = sorted(times)
    return max((bisect_right(times, t + seconds) - i for i, t in enumerate(times)), default=0)


def sms_users(count: int, *, staff: int = 0) -> list[int]:
    """``count`` active users with a phone number (the first ``staff`` are staff); their ids."""
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"sms{i:04d}", is_staff=i < staff) for i in range(count)
    )
    ContactPoint.objects.bulk_create(
        ContactPoint(user=user, phone=f"+4915100{i:05d}") for i, user in enumerate(users)
    )
    return [user.pk for user in users]


@pytest.fixture
def sms_limit(settings):
    """Set this process's SMS limit (its worker, if running, sends with it); fresh bucket."""

    def limit(rate: float, *, burst: float, max_wait: float) -> None:
        settings.NOTIFICATION_RATE_LIMITS = {"sms": rate}
        settings.NOTIFICATION_RATE_BURSTS = {"sms": burst}
        settings.NOTIFICATION_RATE_MAX_WAIT = max_wait
        ratelimit.buckets().reset(services.channel_rate_key("sms"))

    return limit


@pytest.fixture
def task_runs():
    """Every run of send_notification the in-process worker starts: (id, retries, kwargs)."""
    runs = []

    def record(sender=None, task_id=None, task=None, kwargs=None, **extra):
        if sender.name == "notifications.tasks.send_notification":
            runs.append((task_id, task.request.retries, dict(kwargs or {})))

    task_prerun.connect(record, weak=False)
    yield runs
    task_prerun.disconnect(record)


# --- three worker processes, one limit ----------------------------------------

WORKERS, THREADS = 3, 4
RATE, BURST, MAX_WAIT = 50.0, 10, 0.2  # a short in-thread wait: 12 threads must defer
# The limiter never gives more than RATE + BURST turns in a second; between a
# turn and the provider's clock lie a commit, a query and an HTTP request on a
# busy two-core machine (the suite runs in six processes), which can move
# sends into one window: up to 400 ms of that (20 sends) is allowed. A delay
# only shifts sends, so all of them still take (N - BURST) / RATE seconds, less
# the same 400 ms. A limit per process would show ~3x on both.
DELAY = 0.4
JITTER = int(RATE * DELAY)
SINGLES, BROADCAST, CHUNK = 150, 150, 25


@pytest.fixture
def workers(transactional_db, provider, own_redis, sms_limit, settings, tmp_path):
    """Three ``celery worker -P threads -c 4 -Q notifications`` processes on the
    test database and broker, limited to RATE SMS/s (burst BURST) together.

    The limiter is the broker's Redis when the broker is Redis (as deployed),
    else a Redis of the test's own (RATE_LIMIT_REDIS_URL). This process uses the
    same limits, so the session's in-process worker, if one runs, shares them.
    """
    require(
        settings.BROKER_SCHEME != "filesystem",
        "needs a real broker: kombu's filesystem transport loses messages between worker processes",
    )
    if settings.RATE_LIMIT_REDIS_URL is None:
        own_redis.start()
        settings.RATE_LIMIT_REDIS_URL = own_redis.url
    sms_limit(RATE, burst=BURST, max_wait=MAX_WAIT)
    (tmp_path / "ratelimit_settings.py").write_text(
        textwrap.dedent(f"""\
            from mysite.settings import *  # noqa: F403
            NOTIFICATION_RATE_LIMITS = {{"sms": {RATE}}}
            NOTIFICATION_RATE_BURSTS = {{"sms": {BURST}}}
            NOTIFICATION_RATE_MAX_WAIT = {MAX_WAIT}
        """)
    )
    environment = {
        "DJANGO_SETTINGS_MODULE": "ratelimit_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        "RATE_LIMIT_REDIS_URL": settings.RATE_LIMIT_REDIS_URL,
        "NOTIFICATION_SMS_URL": provider.url,
    }
    started = [
        WorkerProcess(
            tmp_path / f"worker{number}.log",
            concurrency=THREADS,
            name=f"limited{number}",
            queues="notifications",
            pool="threads",
            options=(),
            environment=environment,
        )
        for number in range(WORKERS)
    ]
    try:
        for worker in started:  # started together: waiting for each in turn costs nothing
            worker.wait_ready()
        yield started
    finally:
        stop_all(started)
        for worker in started:
            worker.print_log(tail=3000)


def consumers(*, on: bool) -> None:
    """Let the three workers take notifications from the queue, or stop them."""
    hosts = [f"limited{number}@{socket.gethostname()}" for number in range(WORKERS)]
    control = celery_app.control.add_consumer if on else celery_app.control.cancel_consumer
    replies = control("notifications", destination=hosts, reply=True, timeout=5)
    assert len(replies) == WORKERS, replies


@pytest.mark.slow
def test_three_worker_processes_share_one_limit(workers, provider, settings):
    # given: 300 people with a phone, 150 of them staff
    settings.NOTIFICATION_BROADCAST_CHUNK = CHUNK
    user_ids = sms_users(SINGLES + BROADCAST, staff=BROADCAST)
    users = get_user_model().objects.in_bulk(user_ids)

    # when: a broadcast to the staff (6 chunks) and one SMS to each of 150 others,
    # queued while the workers take nothing, so that all three start together
    consumers(on=False)
    started = time.monotonic()
    broadcast = services.broadcast_send(audience="staff", channel="sms", body="Deploy at 17:00")
    for user_id in user_ids[BROADCAST:]:
        services.notification_send(recipient=users[user_id], channel="sms", body="Your code: 1234")
    consumers(on=True)

    # then: every notification reaches the provider exactly once ...
    sent = wait_for(
        lambda: Notification.objects.filter(status="sent").count() == SINGLES + BROADCAST,
        timeout=120,
        what="300 SMS to be sent",
    )
    elapsed = time.monotonic() - started
    rows = Notification.objects.all()
    assert sent
    assert sorted(int(r["json"]["reference"]) for r in provider.requests) == sorted(
        row.pk for row in rows
    )
    assert {row.attempts for row in rows} == {1}  # waiting for a turn is not an attempt
    assert Notification.objects.filter(broadcast=broadcast).count() == BROADCAST
    # ... by all three processes ...
    hosts = set(TaskResult.objects.values_list("worker", flat=True))
    assert {host.split("@")[0] for host in hosts if host} >= {"limited0", "limited1", "limited2"}
    # ... and never faster than the limit, as the provider saw it
    arrivals = [r["at"] for r in provider.requests]
    busiest = max_in_window(arrivals)
    deferred = sum(worker.log().count("Retry in") for worker in workers)
    spread = max(arrivals) - min(arrivals)
    print(
        f"300 SMS in {spread:.2f}s at the provider ({elapsed:.2f}s from the first enqueue); "
        f"busiest second {busiest} (limit {RATE:.0f} + burst {BURST}); {deferred} deferrals"
    )
    assert busiest <= RATE + BURST + JITTER
    assert spread >= (SINGLES + BROADCAST - BURST) / RATE - DELAY


# --- the bucket ---------------------------------------------------------------


@pytest.fixture(params=["redis", "memory"])
def buckets(request, own_redis):
    """A bucket store: a real Redis of the test's own, or the in-process fallback."""
    if request.param == "memory":
        return ratelimit.MemoryBuckets()
    own_redis.start()
    return ratelimit.RedisBuckets(own_redis.url)


def test_a_full_bucket_gives_its_burst_at_once_then_says_how_long_to_wait(buckets):
    # given: 3 tokens, one more every 10 s
    key = uuid.uuid4().hex

    # when
    waits = [buckets.acquire(key, rate=0.1, burst=3) for _ in range(5)]

    # then: three go now; the others are told ~10 s, and nothing is taken for them
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 9 < waits[3] <= 10
    assert 9 < waits[4] <= waits[3]


def test_the_bucket_refills_at_the_rate_up_to_its_burst(buckets):
    # given: 2 tokens, one more every 0.5 s, both taken
    key = uuid.uuid4().hex
    assert [buckets.acquire(key, rate=2, burst=2) for _ in range(2)] == [0.0, 0.0]
    wait = buckets.acquire(key, rate=2, burst=2)
    assert 0 < wait <= 0.5

    # when: as long as it said, a token is there
    time.sleep(wait)
    assert buckets.acquire(key, rate=2, burst=2) == 0.0
    time.sleep(3 * 0.5)  # long enough to fill the bucket (and more)

    # then: it holds two tokens again, not more
    again = [buckets.acquire(key, rate=2, burst=2) for _ in range(3)]
    assert again[:2] == [0.0, 0.0]
    assert 0 < again[2] <= 0.5


def test_callers_in_many_threads_get_no_more_than_the_rate(buckets):
    # given: 4 threads want 50 tokens each at 200/s with a burst of 5
    from concurrent.futures import ThreadPoolExecutor

    key = uuid.uuid4().hex

    def take(count: int) -> int:
        taken = 0
        while taken < count:
            if wait := buckets.acquire(key, rate=200, burst=5):
                time.sleep(wait)
            else:
                taken += 1
        return taken

    # when
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        taken = list(pool.map(take, [50] * 4))
    elapsed = time.monotonic() - started

    # then: 200 tokens took at least the 195 intervals beyond the burst
    assert taken == [50, 50, 50, 50]
    assert elapsed >= (200 - 5) / 200


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0.5)])
def test_a_bucket_without_a_rate_or_a_token_is_refused(rate, burst):
    with pytest.raises(ValueError, match=r"rate must be|burst must be"):
        ratelimit.MemoryBuckets().acquire("x", rate=rate, burst=burst)


def test_the_limiter_is_the_broker_redis_or_its_own_url(monkeypatch):
    monkeypatch.delenv("RATE_LIMIT_REDIS_URL", raising=False)
    assert config.rate_limit_redis_url(broker="redis://cache:6379/2") == "redis://cache:6379/2"
    assert config.rate_limit_redis_url(broker="filesystem://localhost/") is None
    assert config.rate_limit_redis_url(broker="amqp://mq//") is None

    monkeypatch.setenv("RATE_LIMIT_REDIS_URL", "redis://limits:6380/1")
    assert config.rate_limit_redis_url(broker="amqp://mq//") == "redis://limits:6380/1"


def test_an_unreachable_limiter_raises_and_gives_no_token():
    buckets = ratelimit.RedisBuckets(f"redis://127.0.0.1:{closed_port()}/0")

    with pytest.raises(ratelimit.RateLimiterUnavailable, match="rate limiter unavailable"):
        buckets.acquire("x", rate=1, burst=1)


# --- sends that must wait, on the in-process worker -----------------------------


@pytest.mark.django_db(transaction=True)
def test_a_send_that_must_wait_runs_again_later_without_using_a_retry(
    celery_worker, provider, sms_limit, task_runs
):
    # given: 2 SMS a second, one at once, and at most 0.2 s waited in a thread
    sms_limit(2, burst=1, max_wait=0.2)
    alice, bob = (get_user_model().objects.get(pk=pk) for pk in sms_users(2))
    first = services.notification_send(recipient=alice, channel="sms", body="One")

    # when: the second's turn is 0.5 s after the first's
    second = services.notification_send(recipient=bob, channel="sms", body="Two")

    # then: both sent once, each in one attempt
    wait_for(lambda: Notification.objects.filter(status="sent").count() == 2, what="both SMS sent")
    assert [r["json"]["reference"] for r in provider.requests] == [str(first.pk), str(second.pk)]
    assert set(Notification.objects.values_list("attempts", flat=True)) == {1}
    # the second task ran again (and again), under its own id, never as a retry
    second_runs = [run for run in task_runs if run[0] == second.task_id]
    assert len(second_runs) >= 2
    assert {retries for _, retries, _ in second_runs} == {0}
    assert [kwargs.get("waits", 0) for _, _, kwargs in second_runs] == list(range(len(second_runs)))


@pytest.mark.django_db(transaction=True)
def test_a_broadcast_chunk_hands_the_rest_on_when_no_turn_is_free_soon(
    celery_worker, provider, sms_limit, settings
):
    # given: 2 SMS a second, one at once; a chunk of 4 would hold a thread 1.5 s
    sms_limit(2, burst=1, max_wait=0.2)
    settings.NOTIFICATION_BROADCAST_CHUNK = 10
    sms_users(4, staff=4)

    # when
    broadcast = services.broadcast_send(audience="staff", channel="sms", body="Hi")

    # then: the first chunk sends one and hands three on; each sent exactly once
    rows = Notification.objects.filter(broadcast=broadcast)
    wait_for(lambda: rows.filter(status="sent").count() == 4, what="the broadcast sent")
    assert sorted(int(r["json"]["reference"]) for r in provider.requests) == sorted(
        rows.values_list("pk", flat=True)
    )
    assert set(rows.values_list("attempts", flat=True)) == {1}
    chunks = TaskResult.objects.filter(task_name="notifications.tasks.send_broadcast_chunk")
    wait_for(lambda: not chunks.exclude(status="SUCCESS").exists(), what="the chunks' results")
    done = sorted(
        (r["chunk"], r["later"]) for r in map(json.loads, chunks.values_list("result", flat=True))
    )
    assert done == [(1, 0), (2, 1), (3, 2), (4, 3)]  # one send each, the rest handed on
    assert Broadcast.objects.get(pk=broadcast.pk).finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_send_waits_for_a_limiter_that_is_down_then_goes_once(
    celery_worker, provider, sms_limit, own_redis, settings, task_runs
):
    # given: the limiter's Redis is down (nothing listens on its port yet)
    sms_limit(20, burst=1, max_wait=0.2)
    settings.RATE_LIMIT_REDIS_URL = own_redis.url
    [alice] = get_user_model().objects.filter(pk__in=sms_users(1))

    # when
    notification = services.notification_send(recipient=alice, channel="sms", body="Code 42")

    # then: it waits, queued, saying why; nothing reaches the provider
    waiting = wait_for(
        lambda: Notification.objects.filter(
            pk=notification.pk, status="queued", last_error__startswith="rate limiter unavailable"
        ).first(),
        what="the send to wait for the limiter",
    )
    assert waiting.attempts == 0
    assert provider.requests == []

    # when: the limiter is back
    own_redis.start()

    # then: sent once, in one attempt, without using up a retry
    done = wait_for(
        lambda: Notification.objects.filter(pk=notification.pk, status="sent").first(),
        what="the SMS sent once the limiter is back",
    )
    assert done.attempts == 1
    assert len(provider.requests) == 1
    runs = [run for run in task_runs if run[0] == notification.task_id]
    assert len(runs) >= 2
    assert {retries for _, retries, _ in runs} == {0}
