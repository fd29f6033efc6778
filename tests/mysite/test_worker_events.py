"""A prefork worker sends every task event, several to a message (mysite/worker.py)."""

import threading
from collections import defaultdict

import pytest
from celery import uuid
from django.conf import settings

from mysite.celery import app as celery_app
from tests.helpers.celery_process import WorkerProcess
from tests.helpers.services import require, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_EVENTS = {"task-received", "task-started", "task-succeeded"}
QUEUE = "events-test"  # no other worker consumes it
TASKS = 30


def test_a_prefork_worker_sends_every_task_event_several_to_a_message(tmp_path):
    require(settings.BROKER_SCHEME == "redis", "task events need a broker with fanout: Redis")
    worker = WorkerProcess(tmp_path / "worker.log", concurrency=2, name="events", queues=QUEUE)
    task_ids = [uuid() for _ in range(TASKS)]
    seen: dict[str, set[str]] = defaultdict(set)
    messages = {"worker": 0, "events": 0}  # the worker's messages carrying task events

    def on_event(event: dict) -> None:
        if event.get("uuid") in task_ids and event.get("hostname", "").startswith("events@"):
            seen[event["uuid"]].add(event["type"])

    with celery_app.connection_for_read() as connection:
        receiver = celery_app.events.Receiver(connection, handlers={"*": on_event})
        receive = receiver._receive

        def counting_receive(body, message, *args, **kwargs):
            events = body if isinstance(body, list) else [body]
            ours = [
                e
                for e in events
                if e.get("type", "").startswith("task-")
                and e.get("hostname", "").startswith("events@")
            ]
            if ours:
                messages["worker"] += 1
                messages["events"] += len(ours)
            return receive(body, message, *args, **kwargs)

        receiver._receive = counting_receive
        ready = threading.Event()
        consume_ready = receiver.on_consume_ready

        def on_consume_ready(*args, **kwargs):
            consume_ready(*args, **kwargs)
            ready.set()

        receiver.on_consume_ready = on_consume_ready
        listening = threading.Thread(
            target=lambda: receiver.capture(limit=None, timeout=60, wakeup=False), daemon=True
        )
        listening.start()
        try:
            assert ready.wait(20)
            worker.wait_ready()

            # when
            for task_id in task_ids:
                celery_app.send_task(
                    "mysite.tasks.demo_task", kwargs={"seconds": 0}, task_id=task_id, queue=QUEUE
                )

            # then: every event of every task, in at least two to a message
            wait_for(
                lambda: all(seen[task_id] >= WORKER_EVENTS for task_id in task_ids),
                timeout=60,
                what=f"the worker's events of {TASKS} tasks (seen: {dict(seen)})",
            )
        finally:
            receiver.should_stop = True
            listening.join(65)
            worker.stop()
    assert messages["events"] >= TASKS * len(WORKER_EVENTS)
    # Celery alone publishes after each turn of its loop: about one message an event
    assert messages["worker"] * 2 <= messages["events"], messages
