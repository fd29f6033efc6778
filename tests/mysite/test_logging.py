import io
import logging

import pytest

from mysite.enqueue import enqueue
from mysite.log import TaskContextFilter
from mysite.tasks import demo_task
from tests.helpers.services import wait_for_success


@pytest.fixture
def console_lines():
    """What the configured console handler would print, captured."""
    console = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, TaskContextFilter) for f in handler.filters)
    )
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(console.formatter)
    for log_filter in console.filters:
        capture.addFilter(log_filter)
    logging.getLogger().addHandler(capture)
    yield stream
    logging.getLogger().removeHandler(capture)


@pytest.mark.django_db(transaction=True)
def test_worker_lines_carry_task_name_and_id(celery_worker, console_lines):
    # when
    task_id = enqueue(demo_task, kwargs={"seconds": 0})
    wait_for_success(task_id)

    # then: the app's own logger line names the task, though it never mentions it
    lines = console_lines.getvalue().splitlines()
    [line] = [line for line in lines if "demo task running" in line]
    assert f" mysite.tasks.demo_task[{task_id}] mysite.tasks: demo task running for 0.0 s" in line


def test_lines_outside_a_task_say_so(console_lines):
    logging.getLogger("mysite.views").warning("no task here")

    [line] = console_lines.getvalue().splitlines()
    assert line.endswith(" - mysite.views: no task here")
