"""Exactly one beat sends: a leader lease on django-celery-beat's DatabaseScheduler.

Every ``celery beat`` may run (a rolling deploy, ``replicas: 2``, one started by
hand); only the one holding the lease, a row in the database (``BeatLease``),
sends the periodic tasks. The others are standbys: each tick they try to take
the lease, which succeeds once it has not been renewed for
``BEAT_LEASE_SECONDS`` (a SIGKILLed or hung leader) or was released (SIGTERM).

Why a database row: it works wherever the schedules do (PostgreSQL, the
embedded SQLite) with any broker, the schedules' ``last_run_at`` lives in the
same database, and expiry is compared with the database's clock (``Now()`` in
the statement), so no two hosts' clocks are ever compared. Taking and renewing
is one conditional UPDATE per tick.

A leader writes a schedule's ``last_run_at`` before sending it, and a beat that
becomes leader reloads the schedules from the database, so a new leader never
sends a slot the old one already sent. A leader that cannot renew (the database
is unreachable) stops sending at once; it never sends later than two thirds of
the lease after its last renewal started, so it stops before any standby could
take over.
"""

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import close_old_connections
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, Q, When
from django.db.models.functions import Now
from django.db.utils import DatabaseError, InterfaceError
from django_celery_beat.schedulers import DatabaseScheduler

from mysite.models import BeatLease

logger = logging.getLogger(__name__)

LEASE_NAME = "beat"
STORE_ERRORS = (DatabaseError, InterfaceError)
LEADER, STANDBY, UNREACHABLE = "leader", "standby", "unreachable"
SEND_WITHIN = 2 / 3  # of the lease, after a renewal started: a leader sends only then


@dataclass(frozen=True)
class Lease:
    holder: str
    expires_at: datetime
    now: datetime  # the database's clock when it was read

    @property
    def held(self) -> bool:
        return self.expires_at > self.now


def beat_holder() -> str:
    """This process's name in the lease: ``<hostname>:<pid>``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_acquire(*, holder: str, seconds: float, name: str = LEASE_NAME) -> bool:
    """Take the lease, or renew it if ``holder`` has it: whether ``holder`` holds it now.

    One conditional UPDATE: it succeeds for the holder, or for anyone once the
    lease expired (by the database's clock). A missing row (a new database) is
    created expired, and the UPDATE tried once more.
    """
    until = ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())

    def update() -> int:
        return (
            BeatLease.objects.filter(name=name)
            .filter(Q(holder=holder) | Q(expires_at__lte=Now()))
            .update(
                holder=holder,
                acquired_at=Case(When(holder=holder, then=F("acquired_at")), default=Now()),
                renewed_at=Now(),
                expires_at=until,
            )
        )

    if update():
        return True
    if BeatLease.objects.filter(name=name).exists():
        return False
    BeatLease.objects.get_or_create(
        name=name,
        defaults={"holder": "", "acquired_at": Now(), "renewed_at": Now(), "expires_at": Now()},
    )
    return update() == 1


def lease_release(*, holder: str, name: str = LEASE_NAME) -> bool:
    """End ``holder``'s lease now (a standby may take it at once): whether it held it."""
    return bool(
        BeatLease.objects.filter(name=name, holder=holder, expires_at__gt=Now()).update(
            expires_at=Now()
        )
    )


def lease_get(*, name: str = LEASE_NAME) -> Lease | None:
    """The lease as the database sees it now, or None if no beat ever took it."""
    row = (
        BeatLease.objects.filter(name=name)
        .annotate(db_now=Now())
        .values("holder", "expires_at", "db_now")
        .first()
    )
    if row is None:
        return None
    return Lease(holder=row["holder"], expires_at=row["expires_at"], now=row["db_now"])


@dataclass(frozen=True)
class Heartbeat:
    holder: str
    pid: int
    role: str
    age: float  # seconds since this host's beat last ticked


def heartbeat_get(*, path: Path) -> Heartbeat | None:
    """What this host's beat wrote at its last tick, or None if it never did."""
    try:
        data = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime  # this host's clock, both times
    except (OSError, ValueError):
        return None
    return Heartbeat(holder=data["holder"], pid=data["pid"], role=data["role"], age=age)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class LeaseScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler that sends only while it holds the lease."""

    def __init__(self, *args, **kwargs):
        self.lease_seconds = settings.BEAT_LEASE_SECONDS
        self.holder = beat_holder()
        self.role = None  # LEADER, STANDBY or UNREACHABLE once the first tick ran
        self._send_until = 0.0  # time.monotonic(): a leader sends until then
        self._setup_done = False
        self._heartbeat_failed = False
        super().__init__(*args, **kwargs)
        # Renew at least three times a lease, so one slow tick costs no takeover.
        self.max_interval = min(self.max_interval, self.lease_seconds / 3)

    @property
    def info(self) -> str:
        lease = f"    . lease -> {self.lease_seconds} s as {self.holder}"
        return f"{super().info}\n{lease}" if super().info else lease

    # -- the schedule ------------------------------------------------------------

    def setup_schedule(self):
        # At start the database may be down: wait for it instead of exiting
        # (a supervisor would restart beat into the same error, in a loop).
        try:
            super().setup_schedule()
        except STORE_ERRORS as exc:
            self._store_lost(exc)
        else:
            self._setup_done = True

    def _schedule_reload(self) -> None:
        """Read every schedule again (last_run_at as the last leader saved it)."""
        if not self._setup_done:  # the database was down when beat started
            self._initial_read = True
            super().setup_schedule()
            self._setup_done = True
        self._dirty.clear()
        self._last_timestamp = self.Changes.last_change()
        self._schedule = self.all_as_schedule()
        self._initial_read = False
        # django-celery-beat declares it None on the class and sets a naive datetime.
        self._last_full_sync = datetime.now()  # type: ignore[assignment]  # noqa: DTZ005
        self._heap = None  # tick() builds it again from the new schedule
        self.old_schedulers = None

    def sync(self):
        if self.role == LEADER:
            super().sync()
        else:
            self._dirty.clear()  # only the leader writes last_run_at

    # -- the lease ---------------------------------------------------------------

    def tick(self, *args, **kwargs):
        leader = self._lease_tick()
        self._heartbeat()
        if not leader:
            return self.max_interval
        try:
            return super().tick(*args, **kwargs)
        except STORE_ERRORS as exc:
            self._store_lost(exc)
            return self.max_interval

    def _lease_tick(self) -> bool:
        """Take or renew the lease; whether this beat may send now."""
        started = time.monotonic()
        try:
            close_old_connections()  # drop a connection the database broke
            if lease_acquire(holder=self.holder, seconds=self.lease_seconds):
                self._send_until = started + self.lease_seconds * SEND_WITHIN
                if self.role != LEADER:
                    self._schedule_reload()
                    self.role = LEADER
                    logger.info(
                        "Beat lease: %s is the leader, sending the periodic tasks (lease %s s)",
                        self.holder,
                        self.lease_seconds,
                    )
                return True
            if self.role != STANDBY:
                lease = lease_get()
                self._standby(lease)
        except STORE_ERRORS as exc:
            self._store_lost(exc)
        return False

    def _standby(self, lease: Lease | None) -> None:
        self.role, self._send_until = STANDBY, 0.0
        self._dirty.clear()
        logger.info(
            "Beat lease: %s is a standby, not sending (leader is %s, lease until %s)",
            self.holder,
            lease.holder if lease else "-",
            lease.expires_at.isoformat() if lease else "-",
        )

    def _store_lost(self, exc: BaseException) -> None:
        if self.role != UNREACHABLE:
            logger.error(
                "Beat lease: %s cannot reach the lease store, not sending until it is back: %s",
                self.holder,
                _one_line(exc),
            )
        self.role, self._send_until = UNREACHABLE, 0.0
        self._dirty.clear()

    def apply_entry(self, entry, producer=None):
        if self.role != LEADER or time.monotonic() >= self._send_until:
            # A tick that outlasted the renewal: another beat may lead by now.
            logger.warning(
                "Beat lease: %s did not renew the lease in time, not sending %s",
                self.holder,
                entry.name,
            )
            self.role = None  # the next tick takes the lease again (and reloads) or stands by
            return
        try:
            # last_run_at first: a beat that takes over never sends this slot again.
            self._dirty.discard(entry.name)
            entry.save()
        except ObjectDoesNotExist:
            return  # deleted since the schedule was read
        except STORE_ERRORS as exc:
            self._store_lost(exc)
            return
        super().apply_entry(entry, producer=producer)

    def close(self):
        try:
            super().close()  # sync (the leader's last_run_at) and the broker connection
        finally:
            self._lease_release()
            self._heartbeat_remove()

    def _lease_release(self) -> None:
        """On shutdown (SIGTERM): hand the lease over now, not when it expires."""
        if self.role != LEADER:
            return
        self.role = None
        try:
            close_old_connections()
            lease_release(holder=self.holder)
        except STORE_ERRORS as exc:
            logger.error(
                "Beat lease: %s could not release the lease (it expires by itself): %s",
                self.holder,
                _one_line(exc),
            )
            return
        logger.info("Beat lease: %s released the lease (shutting down)", self.holder)

    # -- liveness (manage.py beat_status) ----------------------------------------

    def _heartbeat(self) -> None:
        """Tell this host's probe that this beat ticks, and in which role."""
        path = Path(settings.BEAT_HEARTBEAT_FILE)
        data = {"holder": self.holder, "pid": os.getpid(), "role": self.role}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}")
            temporary.write_text(json.dumps(data))
            temporary.replace(path)
        except OSError as exc:
            if not self._heartbeat_failed:
                logger.warning("Beat lease: cannot write the heartbeat %s: %s", path, exc)
            self._heartbeat_failed = True

    def _heartbeat_remove(self) -> None:
        path = Path(settings.BEAT_HEARTBEAT_FILE)
        beat = heartbeat_get(path=path)
        if beat is not None and beat.pid == os.getpid():
            path.unlink(missing_ok=True)
