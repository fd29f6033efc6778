"""Exactly one beat sends: the leader lease (mysite/beat.py) with real beat processes.

Beats run as subprocesses (``celery -A mysite beat`` with the project's
scheduler from settings) on the test database and broker; the session's
in-process worker runs what they send and stores results whose
``periodic_task_name`` names the schedule. Each beat's log says when it became
leader or standby and what it sent; the lease row says, by the database's
clock, when each beat took it.
"""

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery import states
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from mysite.beat import lease_acquire, lease_get, lease_release
from mysite.models import BeatLease
from tests.helpers.celery_process import BeatProcess, stop_all
from tests.helpers.services import closed_port, database_url, require, wait_for

START_TIMEOUT = 60.0  # two beats import Django and Celery at once: slow on a busy machine
RUN_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
WINDOW = 20.0  # seconds two beats run side by side in the counting test

LEADER = "is the leader, sending"
STANDBY = "is a standby, not sending"
RELEASED = "released the lease"
UNREACHABLE = "cannot reach the lease store"


class Beat(BeatProcess):
    """A running ``celery beat`` with the lease scheduler, and its log."""

    stop_timeout = STOP_TIMEOUT

    @property
    def holder(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"

    def count(self, text: str, since: int = 0) -> int:
        return self.log(since).count(text)

    def send_times(self, name: str) -> list[datetime]:
        """When this beat sent ``name``: the timestamps of its log lines."""
        return [
            datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
            for line in self.log().splitlines()
            if f"Sending due task {name} (" in line
        ]

    def status(self, *args: str) -> subprocess.CompletedProcess:
        """``manage.py beat_status`` on this beat's host (its heartbeat file)."""
        return subprocess.run(  # noqa: S603  (our own interpreter and arguments)
            [sys.executable, "manage.py", "beat_status", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )


@pytest.fixture
def beats(transactional_db, celery_worker, tmp_path):
    """Start beats with ``beats(name, lease=..., database=...)``; all stopped at the end.

    Each has its own heartbeat file, so each is its own "host" for beat_status.
    Their logs are printed on teardown (pytest shows them when a test failed).
    """
    started: list[Beat] = []

    def start(name: str, *, lease: int, database: dict | None = None) -> Beat:
        beat = Beat(
            tmp_path / f"{name}.log",
            name=name,
            environment={
                "DATABASE_URL": database_url(database or settings.DATABASES["default"]),
                "BEAT_LEASE_SECONDS": str(lease),
                "BEAT_HEARTBEAT_FILE": str(tmp_path / f"{name}.heartbeat"),
            },
        )
        started.append(beat)
        return beat

    try:
        yield start
    finally:
        stop_all(started)
        for beat in started:
            beat.print_log()
        drain(started)


def drain(started: list[Beat]) -> None:
    """Let the worker finish what the beats sent, so no result lands after the flush."""
    names = set().union(*(beat.sent_tasks() for beat in started))

    def done() -> bool:
        return all(finished(n) >= sum(beat.sent(n) for beat in started) for n in names)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not done():
        time.sleep(0.1)


def results(name: str):
    return TaskResult.objects.filter(periodic_task_name=name)


def finished(name: str) -> int:
    return results(name).filter(status__in=states.READY_STATES).count()


def succeeded(name: str) -> int:
    return results(name).filter(status=states.SUCCESS).count()


def every(name: str, *, seconds: int, last_run_at: datetime | None = None) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    return PeriodicTask.objects.create(
        name=name,
        interval=interval,
        task="mysite.tasks.demo_task",
        kwargs=json.dumps({"seconds": 0}),
        last_run_at=last_run_at,
    )


def poll(condition, *, timeout: float, alive: list[Beat], what: str) -> None:
    """Wait for ``condition()``; fail if it times out or one of ``alive`` exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        for beat in alive:
            beat.check_alive()
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {beat.name} ---\n{beat.log()}" for beat in alive)
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}", pytrace=False)
        time.sleep(0.05)


def leader_and_standby(first: Beat, second: Beat) -> tuple[Beat, Beat]:
    """Wait until one of the two leads and the other stands by; (leader, standby)."""
    poll(
        lambda: {first.count(LEADER) + second.count(LEADER), first.count(STANDBY)
                 + second.count(STANDBY)} == {1},
        timeout=START_TIMEOUT,
        alive=[first, second],
        what="one leader and one standby",
    )  # fmt: skip
    return (first, second) if first.count(LEADER) else (second, first)


def wait_runs(name: str, more: int, *, alive: list[Beat]) -> None:
    target = succeeded(name) + more
    poll(
        lambda: succeeded(name) >= target,
        timeout=RUN_TIMEOUT,
        alive=alive,
        what=f"{more} more runs of {name!r}",
    )


# -- the lease, against the real database ---------------------------------------


def lease_row() -> BeatLease:
    return BeatLease.objects.get(name="beat")


@pytest.mark.django_db
def test_the_first_beat_takes_the_lease_for_its_seconds_by_the_database_clock():
    # when
    taken = lease_acquire(holder="a:1", seconds=30)

    # then
    row = lease_row()
    assert taken is True
    assert row.holder == "a:1"
    assert row.acquired_at == row.renewed_at
    assert row.expires_at - row.renewed_at == timedelta(seconds=30)


@pytest.mark.django_db
def test_another_beat_cannot_take_a_held_lease():
    # given
    assert lease_acquire(holder="a:1", seconds=30) is True
    before = lease_row()

    # when
    taken = lease_acquire(holder="b:2", seconds=30)

    # then
    assert taken is False
    after = lease_row()
    assert (after.holder, after.expires_at) == ("a:1", before.expires_at)


@pytest.mark.django_db
def test_the_holder_renews_and_keeps_when_it_took_the_lease():
    # given
    assert lease_acquire(holder="a:1", seconds=30) is True
    before = lease_row()
    wait_for(  # SQLite's clock counts milliseconds: a renewal in the same one changes nothing
        lambda: lease_get().now > before.renewed_at, timeout=5, what="the database's clock"
    )

    # when
    renewed = lease_acquire(holder="a:1", seconds=30)

    # then
    after = lease_row()
    assert renewed is True
    assert after.holder == "a:1"
    assert after.acquired_at == before.acquired_at
    assert after.renewed_at > before.renewed_at
    assert after.expires_at - after.renewed_at == timedelta(seconds=30)


@pytest.mark.django_db
def test_a_standby_takes_the_lease_once_it_expired():
    # given: a's lease of 0.2 s, run out by the database's clock
    assert lease_acquire(holder="a:1", seconds=0.2) is True
    wait_for(lambda: not lease_get().held, timeout=10, what="the lease to expire")

    # when
    taken = lease_acquire(holder="b:2", seconds=30)

    # then: b holds it from now; a cannot renew
    row = lease_row()
    assert taken is True
    assert row.holder == "b:2"
    assert row.acquired_at == row.renewed_at
    assert lease_acquire(holder="a:1", seconds=30) is False


@pytest.mark.django_db
def test_a_released_lease_is_free_at_once_and_only_its_holder_releases_it():
    # given
    assert lease_acquire(holder="a:1", seconds=30) is True

    # when: another beat's release changes nothing
    assert lease_release(holder="b:2") is False
    assert lease_get().held is True

    # when: the holder releases
    released = lease_release(holder="a:1")

    # then: free now, not in 30 s
    assert released is True
    assert lease_get().held is False
    assert lease_acquire(holder="b:2", seconds=30) is True
    assert lease_row().holder == "b:2"


@pytest.mark.django_db
def test_the_lease_row_comes_back_if_it_was_deleted():
    # given
    assert lease_acquire(holder="a:1", seconds=30) is True
    BeatLease.objects.all().delete()

    # when
    taken = lease_acquire(holder="b:2", seconds=30)

    # then
    assert taken is True
    assert lease_row().holder == "b:2"


# -- the probe --------------------------------------------------------------------


def heartbeat(path: Path, *, holder: str, pid: int, age: float = 0.0) -> None:
    path.write_text(json.dumps({"holder": holder, "pid": pid, "role": "standby"}))
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


@pytest.mark.django_db
def test_beat_status_names_the_role_of_this_hosts_beat(settings, tmp_path, capsys):
    # given: this process stands in for the beat on this host
    settings.BEAT_HEARTBEAT_FILE = tmp_path / "beat.heartbeat"
    heartbeat(settings.BEAT_HEARTBEAT_FILE, holder="here:1", pid=os.getpid())
    assert lease_acquire(holder="there:2", seconds=30) is True
    until = lease_get().expires_at.isoformat(timespec="seconds")

    # when / then: standby
    call_command("beat_status")
    assert capsys.readouterr().out == f"standby here:1 (leader is there:2, lease until {until})\n"

    # when / then: leader, once there released and here took the lease
    lease_release(holder="there:2")
    lease_acquire(holder="here:1", seconds=30)
    until = lease_get().expires_at.isoformat(timespec="seconds")
    call_command("beat_status")
    assert capsys.readouterr().out == f"leader here:1 (lease until {until})\n"


@pytest.mark.django_db
def test_beat_status_fails_when_no_beat_holds_the_lease(settings, tmp_path):
    # given: this host's beat ticks, but the lease was released and nobody took it
    settings.BEAT_HEARTBEAT_FILE = tmp_path / "beat.heartbeat"
    heartbeat(settings.BEAT_HEARTBEAT_FILE, holder="here:1", pid=os.getpid())
    lease_acquire(holder="there:2", seconds=30)
    lease_release(holder="there:2")
    until = lease_get().expires_at.isoformat(timespec="seconds")

    # when
    with pytest.raises(CommandError) as failed:
        call_command("beat_status")

    # then: not ready; but alive (liveness asks no database)
    assert failed.value.returncode == 1
    assert str(failed.value) == f"no leader: the lease expired at {until} (last held by there:2)"
    call_command("beat_status", "--live")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "pid", "message"),
    [
        (None, None, "no beat runs here (no heartbeat at {path})"),
        (0.0, "dead", "beat here:1 has exited"),
        (31.0, "alive", "beat here:1 is stuck: last tick 31 s ago"),
    ],
)
def test_beat_status_fails_when_this_hosts_beat_is_not_ticking(
    settings, tmp_path, age, pid, message
):
    # given
    path = settings.BEAT_HEARTBEAT_FILE = tmp_path / "beat.heartbeat"
    settings.BEAT_LEASE_SECONDS = 30
    if age is not None:
        heartbeat(path, holder="here:1", pid=dead_pid() if pid == "dead" else os.getpid(), age=age)

    # when / then: both probes fail with 2
    for args in ((), ("--live",)):
        with pytest.raises(CommandError) as failed:
            call_command("beat_status", *args)
        assert failed.value.returncode == 2
        assert str(failed.value) == message.format(path=path)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# -- real beat processes ------------------------------------------------------------


@pytest.mark.slow
def test_two_beats_send_a_one_second_schedule_once_per_second(beats):
    # given: two beats and a schedule every second
    task = every("leader one per second", seconds=1)
    leader, standby = leader_and_standby(beats("a", lease=30), beats("b", lease=30))

    # when: they run side by side
    deadline = time.monotonic() + WINDOW
    while time.monotonic() < deadline:
        leader.check_alive()
        standby.check_alive()
        time.sleep(0.2)
    standby.stop()  # first, so it never takes over here
    leader.stop()
    drain([leader, standby])

    # then: only the leader sent, never two sends in the same second
    times = leader.send_times(task.name)
    elapsed = (times[-1] - times[0]).total_seconds()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    print(f"{len(times)} sends in {elapsed:.2f} s; gaps {min(gaps):.3f}..{max(gaps):.3f} s")
    assert standby.sent(task.name) == 0
    assert results(task.name).count() == len(times)
    assert len(times) <= int(elapsed) + 2  # one per 1 s period the sends span, + 1
    assert min(gaps) >= 0.5
    assert len(times) >= WINDOW / 4  # and it kept running (loosely: a busy machine is slow)
    assert standby.count(LEADER) == 0
    assert leader.count(STANDBY) == 0


@pytest.mark.slow
def test_a_killed_leaders_standby_takes_over_after_the_lease_without_repeating_a_slot(beats):
    # given: a schedule every second, and an hourly one due now (last ran 2 h ago)
    lease = 5
    task = every("leader kill every second", seconds=1)
    hourly = every(
        "leader kill hourly", seconds=3600, last_run_at=timezone.now() - timedelta(hours=2)
    )
    leader, standby = leader_and_standby(beats("a", lease=lease), beats("b", lease=lease))
    wait_runs(task.name, 2, alive=[leader, standby])
    assert leader.sent(hourly.name) == 1
    status = leader.status()
    assert (status.returncode, status.stdout.split(" (")[0]) == (0, f"leader {leader.holder}")
    status = standby.status()
    assert status.returncode == 0
    assert status.stdout.startswith(f"standby {standby.holder} (leader is {leader.holder}, ")

    # when: the leader is SIGKILLed (no release, no sync)
    leader.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    held = lease_row()
    assert held.holder == leader.holder

    # then: the standby leads once the lease expired (by the database clock), not before
    poll(lambda: standby.count(LEADER) == 1, timeout=3 * lease, alive=[standby], what="takeover")
    print(f"took over {time.monotonic() - killed_at:.1f} s after the kill (lease {lease} s)")
    taken = lease_row()
    assert taken.holder == standby.holder
    assert taken.acquired_at >= held.expires_at
    wait_runs(task.name, 2, alive=[standby])
    assert standby.sent(hourly.name) == 0  # the old leader's slot, saved before it sent
    assert results(hourly.name).count() == 1
    assert standby.status().stdout.startswith(f"leader {standby.holder} (")
    assert leader.status().returncode == 2  # the killed beat's host is not alive


@pytest.mark.slow
def test_a_stopped_leader_hands_over_at_once(beats):
    # given: a long lease, and a schedule every second
    lease = 30
    task = every("leader stop every second", seconds=1)
    leader, standby = leader_and_standby(beats("a", lease=lease), beats("b", lease=lease))
    wait_runs(task.name, 2, alive=[leader, standby])
    held = lease_row()

    # when: the leader stops normally
    stopped_at = time.monotonic()
    code = leader.stop(signal.SIGTERM)

    # then: it released the lease; the standby took it long before it would have expired
    assert code == 0
    assert leader.count(RELEASED) == 1
    poll(lambda: standby.count(LEADER) == 1, timeout=lease / 2, alive=[standby], what="takeover")
    print(f"took over {time.monotonic() - stopped_at:.1f} s after SIGTERM (lease {lease} s)")
    taken = lease_row()
    assert taken.holder == standby.holder
    assert taken.acquired_at < held.expires_at
    wait_runs(task.name, 2, alive=[standby])


# -- the lease store going away ---------------------------------------------------


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut (connections dropped, new ones refused)."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.port = target, closed_port()
        self.listener: socket.socket | None = None
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.1)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                self._close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # cut: the other side closed it
        finally:
            self._close(source)
            self._close(sink)

    @staticmethod
    def _close(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.fixture
def store_proxy():
    require(connection.vendor == "postgresql", "the outage test needs PostgreSQL (DATABASE_URL)")
    db = settings.DATABASES["default"]
    proxy = Proxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    try:
        yield proxy
    finally:
        proxy.cut()


@pytest.mark.slow
def test_beat_stops_sending_while_the_lease_store_is_away_and_resumes(store_proxy, beats):
    # given: a beat whose database (through a proxy) is away when it starts
    task = every("leader outage every second", seconds=1)
    through_proxy = {
        **settings.DATABASES["default"],
        "HOST": "127.0.0.1",
        "PORT": store_proxy.port,
    }
    beat = beats("a", lease=6, database=through_proxy)
    poll(lambda: beat.count(UNREACHABLE) == 1, timeout=START_TIMEOUT, alive=[beat], what="line")
    time.sleep(3)  # a few ticks: still one line, still running, nothing sent
    assert (beat.count(UNREACHABLE), beat.sent(task.name)) == (1, 0)

    # when: the database is back
    store_proxy.open()

    # then: it leads and sends
    poll(lambda: beat.count(LEADER) == 1, timeout=RUN_TIMEOUT, alive=[beat], what="the lead")
    wait_runs(task.name, 2, alive=[beat])

    # when: the database goes away again
    since = beat.mark()
    store_proxy.cut()

    # then: one line, and no sends from then on (the tick under way may still send one)
    poll(lambda: beat.count(UNREACHABLE, since) == 1, timeout=10, alive=[beat], what="line")
    after_line = beat.log(since).split(UNREACHABLE, 1)[1]
    assert after_line.count(f"Sending due task {task.name} (") == 0
    quiet = beat.mark()
    time.sleep(4)
    beat.check_alive()
    assert (beat.count(UNREACHABLE, since), beat.sent(task.name, quiet)) == (1, 0)

    # when / then: back again, it leads and sends again
    store_proxy.open()
    poll(lambda: beat.count(LEADER, since) == 1, timeout=RUN_TIMEOUT, alive=[beat], what="lead")
    wait_runs(task.name, 2, alive=[beat])
