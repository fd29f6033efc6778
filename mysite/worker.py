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

from celery.worker.consumer import Consumer as CeleryConsumer

EVENT_FLUSH_SECONDS = 0.1
"""The longest a task event waits in the worker before it is published."""


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
