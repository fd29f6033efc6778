"""Payment workers in processes of their own."""

import pytest
from django.db import connection

from mysite.celery import app as celery_app
from mysite.priorities import broker_transport
from tests.helpers.celery_process import WorkerProcess, stop_all
from tests.helpers.services import require


@pytest.fixture
def payment_workers(transactional_db, celery_worker, tmp_path):
    """Start payment workers as processes; the session's in-process worker lets go
    of the payments queue meanwhile, so these processes do all the work.

    Needs PostgreSQL (row locks; SQLite has none) and a broker with remote control.
    """
    require(connection.vendor == "postgresql", "payment concurrency needs PostgreSQL")
    require(
        broker_transport(celery_app.conf.broker_url) != "filesystem",
        "payment workers in processes need a network broker (Redis or RabbitMQ)",
    )
    me = [celery_worker.hostname]
    celery_app.control.cancel_consumer("payments", destination=me, reply=True)
    started: list[WorkerProcess] = []

    def start(*, concurrency: int = 2) -> WorkerProcess:
        name = f"payments-test-{len(started)}"
        worker = WorkerProcess(tmp_path / f"{name}.log", concurrency=concurrency, name=name)
        started.append(worker)
        worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        stop_all(started)
        for worker in started:
            worker.print_log()
        celery_app.control.add_consumer("payments", destination=me, reply=True)
