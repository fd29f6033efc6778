"""Celery's own command line on the project: call a task, read its result from
the database, a report without passwords; task events on by setting."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from celery import uuid
from django.conf import settings

from mysite.celery import app as celery_app
from tests.helpers.services import database_url, require, wait_for_success

CELERY = str(Path(sys.executable).with_name("celery"))
EVENTS = {"task-sent", "task-received", "task-started", "task-succeeded"}

pytestmark = pytest.mark.django_db(transaction=True)


def celery(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``celery -A mysite <args>`` in a fresh process on the test database and broker."""
    return run([CELERY, "-A", "mysite", *args], **env)


def python(code: str) -> subprocess.CompletedProcess:
    """Our interpreter running ``code`` in a fresh process, as ``celery`` does."""
    return run([sys.executable, "-c", code])


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        command,
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "CELERY_BROKER_URL": celery_app.conf.broker_url,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_celery_call_publishes_and_celery_result_reads_the_database(celery_worker):
    # when
    called = celery("call", "mysite.tasks.demo_task", "--kwargs", '{"seconds": 0}')

    # then: the id is printed, the worker runs it, `celery result` reads its row
    assert called.returncode == 0, called.stderr
    task_id = called.stdout.strip().splitlines()[-1]
    wait_for_success(task_id)
    read = celery("result", task_id)
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == str({"slept": 0.0})


def test_celery_report_masks_every_password_in_a_url():
    # when
    report = celery(
        "report",
        RATE_LIMIT_REDIS_URL="redis://:rate-hunter2@127.0.0.1:6379/0",
        EMAIL_HOST_PASSWORD="mail-hunter2",
    )

    # then
    assert report.returncode == 0, report.stderr
    assert "RATE_LIMIT_REDIS_URL: 'redis://:**@127.0.0.1:6379/0'" in report.stdout
    assert "hunter2" not in report.stdout


def test_workers_send_task_events_without_being_asked(celery_worker):
    require(settings.BROKER_SCHEME == "redis", "task events need a broker with fanout: Redis")
    seen: list[str] = []
    done = threading.Event()
    task_id = uuid()

    def on_event(event: dict) -> None:
        if event.get("uuid") == task_id:
            seen.append(event["type"])
            if EVENTS <= set(seen):
                done.set()

    with celery_app.connection_for_read() as connection:
        receiver = celery_app.events.Receiver(connection, handlers={"*": on_event})
        ready = threading.Event()
        consume_ready = receiver.on_consume_ready

        def on_consume_ready(*args, **kwargs):
            consume_ready(*args, **kwargs)
            ready.set()  # its queue is bound to the event exchange

        receiver.on_consume_ready = on_consume_ready
        listening = threading.Thread(
            target=lambda: receiver.capture(limit=None, timeout=20, wakeup=False), daemon=True
        )
        listening.start()
        assert ready.wait(20)
        try:
            # when: a process of its own publishes (as the web does); this one
            # has had its broker connections swapped by other tests' fixtures
            published = python(
                "from mysite.celery import app; "
                "app.send_task('mysite.tasks.demo_task', kwargs={'seconds': 0}, "
                f"task_id={task_id!r})"
            )
            assert published.returncode == 0, published.stderr
            # then
            assert done.wait(20), f"events seen: {json.dumps(seen)}"
        finally:
            receiver.should_stop = True
            listening.join(25)
    # the publisher's task-sent and the worker's events come on two connections:
    # in any order
    assert EVENTS <= set(seen)
