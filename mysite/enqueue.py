"""The one way to enqueue work: after the transaction commits, with a known id.

``enqueue()`` checks its input, generates the task id up front, registers the
publish with ``transaction.on_commit`` and returns the id, so the caller can
store it on its row (and a user can poll it) before the worker ever runs.
Outside a transaction the task is published at once.

If the broker is down the work is not lost: the caller's row is committed
(pending, queued), the publish is logged, and the sweep (mysite/sweep.py)
queues that row again once the broker is back, with the same task id. The
request or command learns of it through ``unpublished()``: pages and the API
say "saved, will start when the queue is back" (202), never a 500.
"""

import logging
from contextvars import ContextVar
from functools import partial
from typing import Any

from celery import Signature, Task, chord, states, uuid
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError
from kombu.utils.json import dumps

from mysite.celery import app as celery_app
from mysite.errors import Unavailable
from mysite.models import UserTask
from mysite.priorities import Priority, broker_priority, broker_transport

logger = logging.getLogger(__name__)


QUEUE_DOWN_MESSAGE = "The task queue is unreachable: this is saved and will start when it is back."

# The tasks this request (or command) saved but could not publish.
_unpublished: ContextVar[tuple[str, ...]] = ContextVar("unpublished", default=())


class BrokerUnavailable(Unavailable):
    """The broker refused a task that no row records (nothing would queue it
    again): the page says so (HTTP 503) and the task's id reads FAILURE."""

    public_message = (
        "The task queue is unavailable right now. Nothing was started; please try again shortly."
    )


def unpublished() -> tuple[str, ...]:
    """Names of the tasks enqueued in this context that the broker refused."""
    return _unpublished.get()


def unpublished_reset() -> None:
    _unpublished.set(())


def enqueue(
    task: Task | Signature,
    *,
    args: list | tuple = (),
    kwargs: dict[str, Any] | None = None,
    user=None,
    priority: int = Priority.NORMAL,
    countdown: float | None = None,
    task_id: str | None = None,
    using: str = "default",
) -> str:
    """Publish ``task`` once the current transaction commits; return its id.

    ``task`` is a task, or a signature with its arguments bound (a chain, a
    chord: the id returned is then the last task's, e.g. the chord callback).

    ``user``: who started it; the task status API shows it to them (and staff).
    ``priority``: a project ``Priority`` (0..9, higher first), translated for
    the broker. ``countdown``: seconds to wait, below TASK_VISIBILITY_TIMEOUT.
    ``task_id``: publish under this id again (the sweep does, so whoever polls
    the first id sees the outcome); a new one by default.
    Raises ``TypeError``/``ValueError`` on bad input before anything is written.
    """
    kwargs = dict(kwargs or {})
    if isinstance(task, Signature) and (args or kwargs):
        raise ValueError("bind the arguments in the signature, not in enqueue()")
    try:
        dumps([args, kwargs, task if isinstance(task, Signature) else None])
    except TypeError as exc:
        raise TypeError(f"{task.name}: task arguments must be JSON values ({exc})") from exc
    native_priority = broker_priority(priority, broker_transport(celery_app.conf.broker_url))
    if countdown is not None and not 0 <= countdown < settings.TASK_VISIBILITY_TIMEOUT:
        raise ValueError(
            f"countdown must be between 0 and {settings.TASK_VISIBILITY_TIMEOUT} s "
            f"(the visibility timeout: the longest a worker holds a message), got {countdown!r}"
        )
    name = task.name
    if user is not None and getattr(task, "ignore_result", False):
        raise ValueError(f"{name} stores no result: poll its domain row instead")

    task_id = task_id or uuid()
    if user is not None:
        UserTask.objects.using(using).create(task_id=task_id, task_name=name, user=user)
    options = {"task_id": task_id, "countdown": countdown}
    if native_priority is not None:
        options["priority"] = native_priority
    transaction.on_commit(partial(_publish, task, tuple(args), kwargs, options), using=using)
    return task_id


def _publish(task: Task | Signature, args: tuple, kwargs: dict, options: dict) -> None:
    try:
        task.apply_async(args, kwargs, **options)
    except OperationalError as exc:
        task_id = options["task_id"]
        if not _swept(task):
            logger.error("Could not publish %s[%s]: %s", task.name, task_id, exc)
            # Whoever polls this id learns the truth instead of a PENDING forever.
            error = BrokerUnavailable(f"the task queue was unreachable: {exc}")
            celery_app.backend.store_result(task_id, error, states.FAILURE)
            raise error from exc
        # The row that asked for this is committed: the sweep publishes it
        # again, under the same id (which stays PENDING meanwhile: true).
        logger.warning(
            "could not publish %s[%s] (%s): saved, the sweep queues it when the broker is back",
            task.name,
            task_id,
            exc,
        )
        _unpublished.set((*_unpublished.get(), task.name))


def _swept(task: Task | Signature) -> bool:
    """Whether a domain row records this work, so the sweep queues it again."""
    if isinstance(task, chord):
        return all(_swept(part) for part in task.tasks)
    if isinstance(task, Signature):
        task = celery_app.tasks.get(task.task)
    return getattr(task, "row", None) is not None
