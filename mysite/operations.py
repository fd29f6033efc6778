"""The operations console's actions: retry a failed task, revoke a queued one,
terminate a running one. Plain functions, for the console's views, the admin's
Retry action and tests alike.

A refusal is an ``OperationRefused`` whose message says why, for the person
who asked; nothing was queued, revoked or written then. An id no result and no
``UserTask`` knows is ``TaskUnknown`` (a 404 in the console).

The worker side: ``task_meta_record`` (a ``task_prerun`` handler, connected in
``MysiteConfig.ready``) stores with each result what the console shows and
what a retry needs, which django-celery-results leaves out.
"""

import logging

from celery import states
from celery.app.task import Context
from celery.signals import task_prerun
from django.db import IntegrityError, transaction
from django_celery_results.models import TaskResult
from kombu.exceptions import OperationalError

from mysite import selectors
from mysite.celery import app as celery_app
from mysite.enqueue import BrokerUnavailable, enqueue
from mysite.errors import Rejected
from mysite.models import TaskRetry
from mysite.priorities import Priority

logger = logging.getLogger(__name__)

RETRYABLE = frozenset({states.FAILURE, states.REVOKED})
# Waiting: in a queue, in a worker's prefetch, or for a retry's countdown.
REVOCABLE = frozenset({states.PENDING, states.RECEIVED, states.RETRY})
TERMINABLE = frozenset({states.STARTED})


class TaskUnknown(Rejected):
    """No stored result and no ``UserTask`` has this id."""

    kind, code = "not_found", "task_unknown"


class OperationRefused(Rejected):
    """The action makes no sense for this task; the message says why."""

    kind, code = "conflict", "operation_refused"


def task_retry(*, task_id: str, user) -> str:
    """Queue a failed (or revoked) task again: the same task and arguments, a new id.

    The two are linked both ways (``TaskRetry``). A task that works on a domain
    row (its ``row``, mysite/taskbase.py) is refused when the row is gone or
    already final; otherwise the row is put back in flight, its ``task_id``
    pointed at the retry, in the transaction that queues it. The retry is
    shown to whoever started the original (else to ``user``), at the row's
    priority when it has one. Returns the new task id.
    """
    view, what = _task_view(task_id)
    if view.state not in RETRYABLE:
        raise OperationRefused(
            f"{what} is {view.state}: only a failed or revoked task can be retried."
        )
    if view.retried_as is not None:
        raise OperationRefused(
            f"{what} was already retried as {view.retried_as.retry_task_id}: "
            "retry that one if it failed too."
        )
    task = selectors.registered_task(view.name) if view.name else None
    if task is None:
        raise OperationRefused(
            f"{view.name or 'This task'} is no longer a registered task: nothing queued."
        )
    if view.args is None:
        raise OperationRefused(f"{what}: {view.arguments_error} Nothing queued.")
    _broker_reachable_or_refuse("nothing queued")

    try:
        with transaction.atomic():
            row = _row_reopen(task, view)
            owner = view.started_by or user
            new_id = enqueue(
                task,
                args=view.args,
                kwargs=view.kwargs,
                user=None if task.ignore_result else owner,
                priority=_priority(row),
            )
            if row is not None and any(f.name == "task_id" for f in row._meta.concrete_fields):
                type(row)._default_manager.filter(pk=row.pk).update(task_id=new_id)
            TaskRetry.objects.create(
                original_task_id=task_id, retry_task_id=new_id, task_name=view.name, user=user
            )
    except IntegrityError:  # someone else retried it a moment ago: theirs stands
        retry = TaskRetry.objects.filter(original_task_id=task_id).first()
        raise OperationRefused(
            f"{what} was already retried as {retry.retry_task_id if retry else 'another task'}."
        ) from None
    except BrokerUnavailable as exc:  # it went away after the check: the retry reads FAILURE
        raise OperationRefused(
            f"{what}: the task queue refused the retry ({exc}); "
            "it is recorded as failed: retry it once the queue is back."
        ) from exc
    logger.info("%s retried %s[%s] as %s", user, view.name, task_id, new_id)
    return new_id


def _row_reopen(task, view: selectors.TaskView):
    """The task's domain row, locked and put back in flight; None for a task without one."""
    work_row = getattr(task, "row", None)
    if work_row is None:
        return None
    label = selectors.domain_row_label(work_row, task, view.args, view.kwargs)
    try:
        row = work_row.find(task, view.args, view.kwargs, view.task_id)
    except (ValueError, TypeError):  # an id of the wrong type: no such row
        row = None
    if row is not None:  # the lock: a sweep or a second Retry waits for this decision
        row = type(row)._default_manager.select_for_update().filter(pk=row.pk).first()
    if row is None:
        raise OperationRefused(f"{label} is gone: nothing queued.")
    if work_row.is_done(row):
        status = selectors.domain_link(row).status or "done"
        raise OperationRefused(f"{label} is already {status}: nothing to retry.")
    work_row.reopen_row(row)
    return row


def _priority(row) -> int:
    """The row's own priority on the project scale (a notification has one), else NORMAL."""
    value = getattr(row, "priority", None)
    return value if value in set(Priority) else Priority.NORMAL


def _task_view(task_id: str) -> tuple[selectors.TaskView, str]:
    """The stored task and how messages name it; ``TaskUnknown`` if there is none."""
    view = selectors.task_view_get(task_id=task_id)
    if view is None:
        raise TaskUnknown(task_id)
    return view, f"{view.name or 'The task'}[{task_id}]"


def task_revoke(*, task_id: str, user) -> None:
    """Revoke a task that waits (queued, prefetched, or for a retry's countdown).

    REVOKED is written first, with the task's name and arguments: workers skip
    a task already marked final when the revoke reaches them (they would
    otherwise write REVOKED without them), and the page tells the truth at
    once. If the broker is unreachable the row is put back as it was.
    """
    view, what = _task_view(task_id)
    if view.state in TERMINABLE:
        raise OperationRefused(f"{what} is running: terminate it instead.")
    if view.state not in REVOCABLE:
        raise OperationRefused(f"{what} is {view.state}: there is nothing to revoke.")
    _broker_reachable_or_refuse("nothing revoked")
    before = view.result
    celery_app.backend.mark_as_revoked(
        task_id, reason=f"Revoked by {user}", request=_request_of(view)
    )
    try:
        celery_app.control.revoke(task_id)
    except OperationalError as exc:
        if before is None:
            TaskResult.objects.filter(task_id=task_id).delete()
        else:
            before.save()
        raise OperationRefused(f"The task queue is unreachable ({exc}): nothing revoked.") from exc
    logger.info("%s revoked %s[%s]", user, view.name, task_id)


def task_terminate(*, task_id: str, user) -> None:
    """Stop a running task: its worker's process gets SIGTERM (prefork pools).

    The worker records REVOKED ("terminated") as it stops the process. A
    solo or threads pool cannot stop a task: it runs to its end (or its time
    limit) and records that outcome instead.
    """
    view, what = _task_view(task_id)
    if view.state in REVOCABLE:
        raise OperationRefused(f"{what} is not running yet: revoke it instead.")
    if view.state not in TERMINABLE:
        raise OperationRefused(f"{what} is {view.state}: there is nothing to terminate.")
    _broker_reachable_or_refuse("nothing terminated")
    try:
        celery_app.control.revoke(task_id, terminate=True, signal="SIGTERM")
    except OperationalError as exc:
        raise OperationRefused(
            f"The task queue is unreachable ({exc}): nothing terminated."
        ) from exc
    worker = view.result.worker if view.result else None
    logger.info("%s terminated %s[%s] on %s", user, view.name, task_id, worker)


def _broker_reachable_or_refuse(nothing_done: str) -> None:
    error = selectors.broker_check()
    if error is not None:
        raise OperationRefused(f"The task queue is unreachable ({error}): {nothing_done}.")


def _request_of(view: selectors.TaskView) -> Context:
    """A request carrying what the stored row knows, so writing a state keeps it."""
    result = view.result
    if result is None:
        return Context(id=view.task_id, task=view.name)
    meta = selectors.decoded(result, result.meta) or {}
    meta.pop("children", None)
    return Context(
        id=view.task_id,
        task=view.name,
        argsrepr=selectors.decoded(result, result.task_args),
        kwargsrepr=selectors.decoded(result, result.task_kwargs),
        hostname=result.worker,
        periodic_task_name=result.periodic_task_name,
        meta=meta,
    )


@task_prerun.connect
def task_meta_record(task=None, **kwargs) -> None:
    """Store with each state of a task its queue, retries and exact arguments.

    With ``result_extended`` Celery's other backends keep ``queue`` and
    ``retries`` (``AsyncResult.queue``); django-celery-results stores only the
    request's ``meta``, so they go there. The arguments go there too, as the
    JSON they are: ``task_args`` holds a ``repr()`` cut at 1,024 characters
    (a broadcast chunk's ids), which could not queue the same call again.
    """
    request = task.request
    delivery = request.delivery_info or {}
    request.meta = {
        **(getattr(request, "meta", None) or {}),
        "queue": delivery.get("routing_key"),
        "retries": request.retries,
        "call_args": list(request.args or ()),
        "call_kwargs": dict(request.kwargs or {}),
    }
