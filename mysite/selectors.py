"""Read-only queries for the dashboard, the task status API and health checks."""

import logging
from datetime import timedelta

from celery import states
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_celery_results.models import TaskResult
from kombu.exceptions import ChannelError, OperationalError

from mysite.celery import app as celery_app
from mysite.models import UserTask

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
    status = {"id": task_id, "state": result.status, "date_done": None}
    if ready:
        status["date_done"] = result.date_done
    if result.status in states.EXCEPTION_STATES:  # FAILURE, RETRY, REVOKED
        status["error"] = _readable_error(value)
    else:  # the value once SUCCESS; nothing while STARTED
        status["result"] = value if ready else None
    return status


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
