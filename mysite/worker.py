"""The worker's consumer (``CELERY_WORKER_CONSUMER``): Celery's, sending task events in batches.

Task events (``task-received``, ``task-started``, ``task-succeeded``, ...) are
on (settings: Flower and ``celery events`` read them). A worker with an event
loop (prefork) buffers them and Celery publishes the buffer after every turn
of the loop: under load that is one Redis PUBLISH (a message built, a client
made, a round trip) for every event or two, about 0.6 ms of the main
process's CPU per task, more than the rest of a no-op task's handling
(benchmarks/README.md, task_overhead). Here the buffer goes out at most every
``EVENT_FLUSH_SECONDS``, or once it holds Celery's ``buffer_limit`` (24)
events: the same events in the same order, in fewer messages (a list each,
which every event receiver reads), at most that much later.
"""

import time

from celery.worker import loops
from celery.worker.consumer import Consumer as CeleryConsumer

EVENT_FLUSH_SECONDS = 0.1
"""The longest a task event waits in the worker before it is published."""

DRAIN_SECONDS = 0.25
"""The longest the blocking loop (a broker without an event loop: the embedded
filesystem one) waits for a message before it looks for a stop signal again."""


class Consumer(CeleryConsumer):
    # When the scheduled flush is due (time.monotonic()), None: none scheduled.
    _event_flush_due: float | None = None

    def on_send_event_buffered(self) -> None:
        if not self.hub:
            return super().on_send_event_buffered()
        now = time.monotonic()
        # A flush far past due was lost (a reconnect clears the loop's timers): schedule anew.
        if self._event_flush_due is None or now > self._event_flush_due + 1:
            self._event_flush_due = now + EVENT_FLUSH_SECONDS
            self.hub.call_later(EVENT_FLUSH_SECONDS, self._flush_events_scheduled)
        return None

    def _flush_events_scheduled(self) -> None:
        self._event_flush_due = None
        self._flush_events()

    def shutdown(self) -> None:
        self._flush_events()  # what is buffered, before the dispatcher closes
        super().shutdown()

    def loop_args(self):
        """Celery's blocking loop (no event loop: the filesystem broker) waits 2 s
        for a message before it sees a stop signal: most of honcho's 5 s grace
        under `make run`. Its connection here waits ``DRAIN_SECONDS`` at most."""
        args = super().loop_args()
        if self.loop is not loops.synloop:
            return args
        return (args[0], _ShortDrains(args[1]), *args[2:])


class _ShortDrains:
    """A broker connection whose ``drain_events`` waits ``DRAIN_SECONDS`` at most."""

    def __init__(self, connection):
        self._connection = connection

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def __bool__(self) -> bool:
        return bool(self._connection)

    def drain_events(self, timeout=None, **kwargs):
        timeout = DRAIN_SECONDS if timeout is None else min(timeout, DRAIN_SECONDS)
        return self._connection.drain_events(timeout=timeout, **kwargs)
