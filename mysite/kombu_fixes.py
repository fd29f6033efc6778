"""Workers survive a Redis restart and get back what they held (issue 13).

Fixes for kombu's Redis transport (5.7.0, the newest release), and one for its
filesystem transport, applied by ``install(app)`` from mysite/celery.py:

1. **The crash** (celery/celery#9250, celery/celery#7185). The broker drops
   while the task channel waits on a BRPOP, and the error shows first on
   another socket (the remote-control LISTEN). The consumer's clean-up
   (``Connection.collect``) closes the channel: draining the dead BRPOP raises,
   the close stops half-way, and ``collect`` detaches the transport anyway
   (``transport.client = None``). ``Connection.close`` then closes the channel
   again, which restores its unacknowledged messages through a new pool built
   from the detached transport: ``_connparams`` reads ``None.hostname``, an
   AttributeError nobody catches, and the worker exits ("Unrecoverable
   error"). Fixed here: a dead BRPOP does not stop the close (there is nothing
   to drain from it), and nothing is restored through a detached transport.
   Guarded by version: from kombu 5.7.1 on this patch steps aside, and
   tests/deploy/test_broker_faults.py says whether the release fixed it.

2. **What the worker held.** Closing the channel restores its unacknowledged
   messages (late-ack tasks running, prefetched ones, countdowns waiting) to
   their queues, but Redis is down at that moment: the restore fails and the
   messages stay in Redis's ``unacked`` hash until the visibility timeout
   returns them (celery/celery#1307, closed unfixed). Here their delivery tags
   are kept and the worker restores them as soon as it is connected again
   (``HeldMessages``, a consumer step), unless another worker took them
   meanwhile.

3. **A client per command** (a cost, not a bug). The Redis channel builds a
   new ``redis.Redis`` for every publish, acknowledgement and prefetch note
   (``conn_or_acquire``): about 90 microseconds of CPU each with redis-py 8
   (its table of response callbacks), more than the loopback round trip
   itself, several times per task in the worker and twice per ``enqueue``.
   Here each channel keeps one client on its pool (a client is thread-safe;
   it takes a connection from the pool for each command), and makes another
   when the channel's pool is replaced.

4. **A message read while it is written** (the filesystem transport, the
   embedded default). kombu creates a message file and then writes it; a
   consumer that lists the folder in between takes the file and reads nothing
   or half of it, and the worker dies on a JSONDecodeError ("Unrecoverable
   error"). Here a message is written under a name no consumer takes, then
   renamed into place: a rename within one folder is atomic.

And one addition, so a worker that dies (SIGKILL, OOM, a crash kombu cannot
mend) loses nothing for long: **a heartbeat of held messages**. Redis hands a
message out again once it has sat in the unacked index longer than the
visibility timeout; a thread of each worker re-stamps every message the worker
holds every tenth of that timeout. A live worker so keeps its messages however
long it holds them (a countdown, a long task), and the timeout can be short
(``BROKER_VISIBILITY_TIMEOUT`` in settings): a dead worker's messages come back
within it plus one sweep. The trade-off: every consumer of the Redis database
must run this heartbeat (every worker of this project does); a consumer
without it (an older release during a rolling deploy) would see its long holds
handed out again after the short timeout, i.e. run twice. Tasks are safe to
run twice; still, roll out in one go.
"""

import contextlib
import logging
import os
import threading
import time
import uuid
from queue import Empty
from typing import Any, cast

import kombu
from celery import Celery, bootsteps
from celery.signals import worker_shutdown
from kombu.exceptions import ChannelError
from kombu.transport import redis as redis_transport
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)

LAST_AFFECTED = (5, 7, 0)
"""The newest kombu release with the crash of fix 1 (checked on each upgrade)."""

# Delivery tags whose restore failed because the connection was lost, and when
# it was lost (time.time(), as Redis's unacked index scores are). Only the
# worker's main thread adds and takes them; the lock is for the odd other one.
_deferred: dict[str, float] = {}
_deferred_lock = threading.Lock()


def install(app: Celery) -> None:
    """Patch kombu's Redis transport (fixes 1 and 2) and add the worker step that
    restores held messages on reconnect and runs the heartbeat."""
    if tuple(kombu.VERSION[:3]) <= LAST_AFFECTED:
        _patch_close_despite_a_dead_brpop()
    _patch_restore_unacked_later()
    _patch_one_client_per_channel()
    _patch_whole_message_files()
    app.steps["consumer"].add(HeldMessages)
    # Only once the pool has drained: a warm shutdown still holds running tasks.
    worker_shutdown.connect(_stop_heartbeats, weak=False, dispatch_uid="mysite.kombu_fixes")


# --- 1. the crash -------------------------------------------------------------


def _patch_close_despite_a_dead_brpop() -> None:
    channel_class = redis_transport.Channel
    if getattr(channel_class.close, "mysite_fixed", False):
        return
    upstream_close = channel_class.close

    def close(self) -> None:
        # Upstream drains a pending BRPOP with only ``except Empty``: on a dead
        # connection the error escapes and the channel stays half-open.
        if self._in_poll:
            try:
                self._brpop_read()  # resets _in_poll whatever happens
            except (Empty, *self.connection_errors):
                pass
        upstream_close(self)

    close.mysite_fixed = True  # type: ignore[attr-defined]  # the mark read above
    channel_class.close = close  # type: ignore[method-assign]  # the patch itself


# --- 2. what the worker held ----------------------------------------------------


def _patch_restore_unacked_later() -> None:
    qos_class = redis_transport.QoS
    if getattr(qos_class.restore_unacked, "mysite_fixed", False):
        return
    upstream_restore = qos_class.restore_unacked

    def restore_unacked(self, client=None) -> None:
        transport = self.channel.connection
        if client is None and (transport is None or transport.client is None):
            reason = "the connection is closed"
        else:
            try:
                upstream_restore(self, client)
                return
            except self.channel.connection_errors as exc:
                reason = str(exc)
        # What was restored before the error is out of the unacked hash: its
        # tag is then skipped on reconnect. Cleared, so kombu's "restore once"
        # bookkeeping holds (it asserts nothing is left after a restore).
        tags = list(self._delivered)
        self._delivered.clear()
        lost_at = time.time()
        with _deferred_lock:
            _deferred.update(dict.fromkeys(tags, lost_at))
        logger.warning(
            "Could not restore %d unacknowledged message(s) (%s): "
            "they go back to their queues once this worker is connected again",
            len(tags),
            reason,
        )

    restore_unacked.mysite_fixed = True  # type: ignore[attr-defined]  # the mark read above
    qos_class.restore_unacked = restore_unacked  # type: ignore[method-assign]  # the patch itself


def restore_deferred(qos: redis_transport.QoS) -> int:
    """Put back on their queues the messages this worker held when its connection
    dropped (``qos``: a QoS of the new connection); return how many.

    A message another worker took meanwhile (a visibility sweep restored it and
    it was delivered again: its unacked score is newer than our loss) is left
    to that worker. Connection errors keep the rest for the next connect.
    """
    with _deferred_lock:
        pending = dict(_deferred)
    if not pending:
        return 0
    restored = 0
    with qos.channel.conn_or_acquire() as client:
        for tag, lost_at in pending.items():
            score = client.zscore(qos.unacked_index_key, tag)
            if score is not None and score <= lost_at:
                qos.restore_by_tag(tag, client=client)
                restored += 1
            with _deferred_lock:
                _deferred.pop(tag, None)
    logger.warning(
        "Restored %d message(s) this worker held when its broker connection dropped "
        "(%d taken by other workers or already back)",
        restored,
        len(pending) - restored,
    )
    return restored


class HeldMessages(bootsteps.StartStopStep):
    """On each (re)connect, restore what the worker held when it lost the last
    connection, and point the heartbeat at the new task channel. Only on Redis;
    other transports get their messages back from the broker itself."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c) -> None:
        channel = c.task_consumer.channel
        if not isinstance(channel, redis_transport.Channel):
            return
        try:
            restore_deferred(channel.qos)
        except channel.connection_errors as exc:
            logger.warning("Restoring held messages failed (%s): tried again on reconnect", exc)
        heartbeat = _heartbeats.get(id(c))
        if heartbeat is None:
            heartbeat = _heartbeats[id(c)] = Heartbeat(c.app, channel)
            heartbeat.start()
        heartbeat.channel = channel


# --- 3. a client per command ----------------------------------------------------


def _patch_one_client_per_channel() -> None:
    channel_class = redis_transport.Channel
    if getattr(channel_class.conn_or_acquire, "mysite_fixed", False):
        return

    @contextlib.contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        cached = self.__dict__.get("_mysite_client")
        if cached is None or cached.connection_pool is not self.pool:
            cached = self.__dict__["_mysite_client"] = self._create_client()
        yield cached

    conn_or_acquire.mysite_fixed = True  # type: ignore[attr-defined]  # the mark read above
    channel_class.conn_or_acquire = conn_or_acquire  # type: ignore[method-assign]  # the patch itself


# --- the heartbeat of held messages ---------------------------------------------


class Heartbeat(threading.Thread):
    """Re-stamps, every tenth of the visibility timeout, the unacked index score
    of every message ``channel`` (the worker's task channel) holds.

    A thread of its own, with its own connection: the worker's event loop may
    be busy (a solo pool runs tasks in it) and its connection is not shared
    across threads. It touches no lock a forked pool process could inherit
    held (its own connection, logging: reset by Python after fork).
    """

    def __init__(self, app: Celery, channel: redis_transport.Channel):
        super().__init__(name="mysite-held-messages", daemon=True)
        self.app = app
        self.channel = channel
        timeout = channel.visibility_timeout
        self.interval = max(timeout / 10, 0.1)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001  (a heartbeat must outlive any error)
                logger.warning(
                    "Could not re-stamp held messages (%s): next try in %.1f s", exc, self.interval
                )

    def beat(self) -> int:
        """Re-stamp what is held now; return how many messages."""
        channel = self.channel
        qos = channel._qos
        if channel.closed or qos is None:
            return 0
        tags = held_tags(qos)
        if not tags:
            return 0
        with self.app.connection_for_write() as connection:
            own = connection.channel()  # connects once; no retrying here
            try:
                with own.conn_or_acquire() as client:
                    # XX: only messages still unacked (one acked meanwhile stays gone).
                    client.zadd(qos.unacked_index_key, dict.fromkeys(tags, time.time()), xx=True)
            finally:
                own.close()
        return len(tags)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


_heartbeats: dict[int, Heartbeat] = {}  # by consumer (one per worker; tests start several)


def held_tags(qos: redis_transport.QoS) -> list[str]:
    """The delivery tags ``qos`` holds unacknowledged (read from another thread)."""
    for _ in range(3):
        try:
            # kombu declares both None on the class; __init__ sets a set and a dict.
            acked = set(cast("set[str]", qos._dirty))
            delivered = cast("dict[str, Any]", qos._delivered)
            return [tag for tag in tuple(delivered) if tag not in acked]
        except RuntimeError:  # changed size during iteration: read again
            continue
    return []


def _stop_heartbeats(**kwargs) -> None:
    while _heartbeats:
        _, heartbeat = _heartbeats.popitem()
        heartbeat.stop()


# --- 4. whole message files ---------------------------------------------------

PARTIAL = ".part"  # a message being written: consumers take only names ending ".<queue>.msg"


def _patch_whole_message_files() -> None:
    from kombu.transport import filesystem

    def _put(self, queue, payload, **kwargs) -> None:
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        try:
            with open(final + PARTIAL, "wb") as partial:
                partial.write(dumps(payload).encode())
            os.replace(final + PARTIAL, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    filesystem.Channel._put = _put  # type: ignore[method-assign]  # the patch itself
