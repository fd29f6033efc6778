"""Bare Celery: the same Redis, no Django, no result backend. The baseline."""

import os

from celery import Celery

from benchmarks.probe import record_done

# Not the current app: the project's shared tasks must stay bound to mysite's app.
app = Celery("bare", broker=os.environ["BENCH_REDIS_URL"], set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_default_queue="bench-bare",
    broker_connection_retry_on_startup=True,
)


@app.task(name="bare.noop")
def noop(run: str, sent: float) -> None:
    record_done(run, sent)
