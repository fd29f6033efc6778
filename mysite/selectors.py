"""Read-only queries for the dashboard, the task status API, health checks and
the operations console."""

import ast
import functools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from celery import Task, states
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import Count, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.text import capfirst
from django_celery_results.models import TaskResult
from kombu.exceptions import ChannelError, OperationalError

from mysite.celery import app as celery_app
from mysite.models import TaskRetry, UserTask
from mysite.tasks import demo_task

logger = logging.getLogger(__name__)

BROKER_TIMEOUT = 2.0  # seconds a health check or the dashboard waits on the broker


def task_results_visible(*, user):
    """The task results ``user`` may see: every one for staff, else the tasks they started."""
    if user.is_staff:
        return TaskResult.objects.all()
    return TaskResult.objects.filter(
        task_id__in=UserTask.objects.filter(user=user).values("task_id")
    )


def task_state_counts(*, user) -> dict[str, int]:
    visible = task_results_visible(user=user)
    rows = visible.values_list("status").annotate(n=Count("id")).order_by("status")
    return dict(rows)


def task_recent(*, user, limit: int = 25) -> list[TaskResult]:
    return list(
        task_results_visible(user=user)
        .order_by("-date_created")
        .only(
            "task_id", "task_name", "status", "worker", "date_created", "date_started", "date_done"
        )[:limit]
    )


def task_status_get(*, task_id: str, user) -> dict | None:
    """The status of a task ``user`` may see, or None (unknown, not theirs, expired).

    PENDING is only reported for a task we know was enqueued (a ``UserTask``
    row younger than ``RESULTS_KEEP_DAYS``) and has no stored state yet.
    """
    result = TaskResult.objects.filter(task_id=task_id).first()
    owned = UserTask.objects.filter(task_id=task_id)
    if not user.is_staff:
        owned = owned.filter(user=user)
        if not owned.exists():
            return None
    if result is None:
        # Younger than the shortest retention: mysite/retention.py prunes it after.
        fresh_since = timezone.now() - timedelta(days=settings.RESULTS_KEEP_DAYS)
        if not owned.filter(created_at__gte=fresh_since).exists():
            return None
        return {"id": task_id, "state": "PENDING", "result": None, "date_done": None}

    ready = result.status in states.READY_STATES
    value = celery_app.backend.decode_content(result, result.result)
    status: dict[str, Any] = {"id": task_id, "state": result.status, "date_done": None}
    if ready:
        status["date_done"] = result.date_done
    if result.status in states.EXCEPTION_STATES:  # FAILURE, RETRY, REVOKED
        status["error"] = _readable_error(value)
    else:  # the value once SUCCESS; nothing while STARTED
        status["result"] = value if ready else None
    return status


def demo_task_latest(*, user) -> dict | None:
    """The status of the last demo task ``user`` started (as ``task_status_get``), or None:
    the dashboard shows it after a reload instead of "not started"."""
    task_id = (
        UserTask.objects.filter(user=user, task_name=demo_task.name)
        .order_by("-created_at", "-pk")
        .values_list("task_id", flat=True)
        .first()
    )
    return task_status_get(task_id=task_id, user=user) if task_id else None


def _readable_error(exc_info) -> str:
    if isinstance(exc_info, dict) and "exc_type" in exc_info:
        message = exc_info.get("exc_message") or ()
        if isinstance(message, list | tuple):
            message = " ".join(str(part) for part in message)
        return f"{exc_info['exc_type']}: {message}" if message else exc_info["exc_type"]
    return str(exc_info)


def broker_overview(*, ping_timeout: float = 0.5) -> dict:
    """Workers that answer a ping and messages waiting per queue.

    Both are None when the broker is unreachable; that is known within
    ``BROKER_TIMEOUT`` because the connection is tried once, up front.
    """
    try:
        with celery_app.connection_for_write() as conn:
            _connect(conn)
            replies = celery_app.control.ping(timeout=ping_timeout, connection=conn)
            queues = _queue_depths(conn)
    except OperationalError as exc:
        logger.warning("dashboard: broker unreachable: %s", exc)
        return {"workers": None, "queues": None}
    workers = sorted(name for reply in replies for name in reply)
    return {"workers": workers, "queues": queues}


def queue_depths() -> dict[str, int] | None:
    """Messages waiting per project queue (``broker_overview`` without the
    ping, for the metrics scrape); None when the broker is unreachable."""
    try:
        with celery_app.connection_for_write() as conn:
            _connect(conn)
            return _queue_depths(conn)
    except OperationalError as exc:
        logger.warning("queue depths: broker unreachable: %s", exc)
        return None


def _connect(conn) -> None:
    conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT)


def _queue_depths(conn) -> dict[str, int]:
    try:
        return {name: _queue_depth(conn, name) for name in settings.TASK_QUEUE_NAMES}
    except conn.connection_errors as exc:  # the broker went away after connecting
        raise OperationalError(str(exc)) from exc


def _queue_depth(conn, name: str) -> int:
    with conn.channel() as channel:
        try:
            return channel.queue_declare(name, passive=True).message_count
        except ChannelError:  # never declared: nothing was ever sent to it
            return 0


def database_check() -> str | None:
    """None if the database answers, else a short reason."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001  (any failure means "not ready")
        logger.warning("readiness: database unreachable: %s", exc)
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def broker_check() -> str | None:
    """None if the broker accepts a connection, else a short reason."""
    try:
        with celery_app.connection_for_write() as conn:
            _connect(conn)
            conn.default_channel  # noqa: B018  (opens a channel: the transport really answers)
    except Exception as exc:  # noqa: BLE001
        logger.warning("readiness: broker unreachable: %s", exc)
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def runtime(result: TaskResult) -> timedelta | None:
    if result.date_started and result.date_done and result.status in states.READY_STATES:
        return result.date_done - result.date_started
    return None


# The operations console ------------------------------------------------------

CONSOLE_PAGE_SIZE = 25
# What the console can filter on, failures first (its default).
CONSOLE_STATES = (
    states.FAILURE,
    states.REVOKED,
    states.RETRY,
    states.STARTED,
    states.SUCCESS,
)


class ArgumentsUnreadable(ValueError):
    """A stored task's arguments cannot be read back (so it cannot be queued again)."""


@dataclass(frozen=True)
class DomainLink:
    """The domain row a task worked on, as the console shows it."""

    label: str  # "Notification #5"
    status: str  # its status in words, "" when it has none
    admin_url: str | None  # its admin change page (staff always have the admin)
    page_url: str | None  # its own page (get_absolute_url), if it has one


@dataclass
class TaskView:
    """One task as the operations console shows it: its stored result, read back."""

    task_id: str
    name: str
    state: str
    result: TaskResult | None  # None: queued, not started (only a UserTask knows it)
    args: list | None = None  # None: unreadable (see ``arguments_error``)
    kwargs: dict | None = None
    arguments_error: str = ""
    error: str = ""  # "ValueError: nope" for a failure, a revoke's reason
    queue: str | None = None
    retries: int | None = None
    started_by: object = None  # the user who started it, when one did
    domain: DomainLink | None = None
    domain_gone: str = ""  # "Notification #5 is gone." when the task had a row
    retry_of: TaskRetry | None = None  # this task is a retry of that one
    retried_as: TaskRetry | None = None  # this task was retried as that one

    @property
    def when(self):
        return self.result.date_done if self.result else None

    @property
    def ready(self) -> bool:
        return self.state in states.READY_STATES


def console_results(
    *,
    task_name: str = "",
    state: str = states.FAILURE,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[TaskResult]:
    """Stored results for the console, newest first; ``state`` "" means any state.

    ``since``/``until`` are days in TIME_ZONE, both included, on the time of the
    last state written (``date_done``: our backend writes it on every state).
    """
    results = TaskResult.objects.defer("traceback").order_by("-date_done", "-id")
    if task_name:
        results = results.filter(task_name=task_name)
    if state:
        results = results.filter(status=state)
    zone = timezone.get_current_timezone()
    if since:
        results = results.filter(date_done__gte=datetime.combine(since, time.min, tzinfo=zone))
    if until:
        next_day = datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone)
        results = results.filter(date_done__lt=next_day)
    return results


def console_task_names() -> list[str]:
    """The project's registered task names (the console's task filter)."""
    registered_tasks_load()
    return sorted(name for name in celery_app.tasks if not name.startswith("celery."))


@functools.cache
def registered_tasks_load() -> None:
    """Import every app's tasks module, as a worker does at start.

    A web process registers a task only once something imports its module;
    the console must know every task, not only those a page used so far.
    Once a process: the modules stay imported.
    """
    celery_app.loader.autodiscover_tasks([config.name for config in apps.get_app_configs()])


def registered_task(name: str) -> Task | None:
    registered_tasks_load()
    return celery_app.tasks.get(name)


def task_views(results: Iterable[TaskResult]) -> list[TaskView]:
    """The console's rows for a page of results (retry links in two queries)."""
    views = [_task_view(result) for result in results]
    ids = [view.task_id for view in views]
    retried_as = {r.original_task_id: r for r in TaskRetry.objects.filter(original_task_id__in=ids)}
    retry_of = {r.retry_task_id: r for r in TaskRetry.objects.filter(retry_task_id__in=ids)}
    for view in views:
        view.retried_as = retried_as.get(view.task_id)
        view.retry_of = retry_of.get(view.task_id)
    return views


def task_view_get(*, task_id: str) -> TaskView | None:
    """One task by id: its stored result, or a queued task only its ``UserTask``
    knows; None if unknown."""
    result = TaskResult.objects.filter(task_id=task_id).first()
    user_task = UserTask.objects.filter(task_id=task_id).select_related("user").first()
    if result is not None:
        view = task_views([result])[0]
    elif user_task is not None:
        view = TaskView(
            task_id=task_id,
            name=user_task.task_name,
            state=states.PENDING,
            result=None,
            arguments_error="A queued task's arguments are not stored until it starts.",
        )
        retry_of = TaskRetry.objects.filter(retry_task_id=task_id).first()
        view.retry_of = retry_of
    else:
        return None
    if user_task is not None:
        view.started_by = user_task.user
    return view


def _task_view(result: TaskResult) -> TaskView:
    meta = decoded(result, result.meta) or {}
    view = TaskView(
        task_id=result.task_id,
        name=result.task_name or "",
        state=result.status,
        result=result,
        queue=meta.get("queue"),
        retries=meta.get("retries"),
    )
    if result.status in states.EXCEPTION_STATES:
        view.error = _readable_error(decoded(result, result.result))
    try:
        view.args, view.kwargs = task_arguments(result, meta=meta)
    except ArgumentsUnreadable as exc:
        view.arguments_error = str(exc)
    task = registered_task(view.name) if view.name else None
    if view.queue is None and task is not None:
        view.queue = celery_app.amqp.router.route({}, view.name)["queue"].name
    if task is not None and view.args is not None:
        _domain_add(view, task)
    return view


def decoded(result: TaskResult, content):
    """A stored field (result, meta, task_args) decoded; None if it cannot be."""
    try:
        return celery_app.backend.decode_content(result, content)
    except Exception:  # noqa: BLE001  (a row another version wrote: show what we can)
        return None


def task_arguments(result: TaskResult, *, meta: dict | None = None) -> tuple[list, dict]:
    """The arguments a stored task was called with, exactly, to call it again.

    The worker records them in the result's meta (``task_meta_record``); a row
    without them (written before, or by a worker that revoked the task without
    running it) falls back to Celery's ``task_args``/``task_kwargs``, which are
    ``repr()`` strings, parsed as Python literals (never evaluated). Raises
    ``ArgumentsUnreadable`` with the reason when neither can be read.
    """
    if meta is None:
        meta = decoded(result, result.meta) or {}
    if isinstance(meta.get("call_args"), list) and isinstance(meta.get("call_kwargs"), dict):
        return meta["call_args"], meta["call_kwargs"]
    args_repr = decoded(result, result.task_args)
    kwargs_repr = decoded(result, result.task_kwargs)
    if args_repr is None and kwargs_repr is None:
        raise ArgumentsUnreadable("Its arguments were not stored.")
    try:
        args = ast.literal_eval(args_repr) if args_repr else ()
        kwargs = ast.literal_eval(kwargs_repr) if kwargs_repr else {}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ArgumentsUnreadable(
            f"Its stored arguments cannot be read back: {args_repr!s:.200} {kwargs_repr!s:.200}"
        ) from None
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        raise ArgumentsUnreadable(f"Its stored arguments are not a call: {args_repr!s:.200}")
    try:  # a repr cut short ends in "...": a literal, but not the call's
        json.dumps([args, kwargs], allow_nan=False)
    except (TypeError, ValueError):
        raise ArgumentsUnreadable(
            f"Its stored arguments are cut short or not JSON: {args_repr!s:.200} "
            f"{kwargs_repr!s:.200}"
        ) from None
    return list(args), kwargs


def _domain_add(view: TaskView, task: Task) -> None:
    """The row ``task`` worked on (its ``row``, mysite/taskbase.py), linked, or why not."""
    work_row = getattr(task, "row", None)
    if work_row is None:
        return
    try:
        found = work_row.find(task, view.args, view.kwargs, view.task_id)
    except (ValueError, TypeError):  # an id of the wrong type: no such row
        found = None
    if found is None:
        view.domain_gone = f"{domain_row_label(work_row, task, view.args, view.kwargs)} is gone."
        return
    view.domain = domain_link(found)


def domain_row_label(work_row, task: Task, args, kwargs) -> str:
    """ "Notification #5" for the row a call names, even when the row is gone."""
    name = capfirst(work_row.model_class._meta.verbose_name)
    row_id = work_row.row_id(task, args, kwargs)
    return f"{name} #{row_id}" if row_id is not None else f"The {name.lower()} of this task"


def domain_link(row) -> DomainLink:
    meta = row._meta
    try:
        admin_url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
    except NoReverseMatch:
        admin_url = None
    page_url = row.get_absolute_url() if hasattr(row, "get_absolute_url") else None
    status = ""
    if hasattr(row, "get_status_display"):
        status = str(row.get_status_display()).lower()
    return DomainLink(
        label=f"{capfirst(meta.verbose_name)} #{row.pk}",
        status=status,
        admin_url=admin_url,
        page_url=page_url,
    )
