"""How long task results are kept, and the batched cleanup that keeps it so.

A result's age is its last state write (``date_done``: our backend writes it on
every state). Kept:

- SUCCESS (and IGNORED): ``RESULTS_KEEP_DAYS`` (7);
- FAILURE and REVOKED: ``RESULTS_KEEP_FAILED_DAYS`` (30). Both are outcomes a
  person may still have to look into (the traceback, who stopped what), so they
  outlive successes;
- anything else (PENDING, RECEIVED, STARTED, RETRY, a custom state): the task
  may still be in flight, so only past ``IN_FLIGHT_FACTOR`` times the longer of
  the two. Nothing legitimate stays in flight that long (a task runs at most
  ``CELERY_TASK_TIME_LIMIT``, a retry waits at most the visibility timeout), so
  such a row is a lost task's trace; it stays visible longer than anything else.

A ``UserTask`` (who started which task) goes with its result; one whose result
is already gone, or was never stored, goes once it is older than
``RESULTS_KEEP_DAYS`` (until then the status API reports it PENDING).

Rows are deleted ``batch_size`` (at most ``MAX_BATCH``) at a time, each batch one
``DELETE ... WHERE id IN (SELECT ... LIMIT n)`` in a short transaction of its
own, so workers writing results never wait behind one huge DELETE, and a run
that is interrupted keeps what it did.
"""

import logging
from datetime import datetime, timedelta

from celery import states
from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django_celery_results.models import TaskResult

from mysite.models import UserTask

logger = logging.getLogger(__name__)

MAX_BATCH = 5000
IN_FLIGHT_FACTOR = 2
SUCCEEDED = (states.SUCCESS, states.IGNORED)
FAILED = (states.FAILURE, states.REVOKED)
KINDS = ("succeeded", "failed", "in_flight", "user_tasks")


def results_expired(*, now: datetime, older_than_days: int | None = None) -> dict[str, QuerySet]:
    """The expired results of each kind; ``older_than_days`` replaces both
    retention periods for finished rows (never the in-flight limit)."""
    keep = older_than_days or settings.RESULTS_KEEP_DAYS
    keep_failed = older_than_days or settings.RESULTS_KEEP_FAILED_DAYS
    in_flight = IN_FLIGHT_FACTOR * max(
        settings.RESULTS_KEEP_DAYS, settings.RESULTS_KEEP_FAILED_DAYS
    )
    results = TaskResult.objects.all()
    return {
        "succeeded": results.filter(status__in=SUCCEEDED, date_done__lt=now - timedelta(days=keep)),
        "failed": results.filter(
            status__in=FAILED, date_done__lt=now - timedelta(days=keep_failed)
        ),
        "in_flight": results.exclude(status__in=SUCCEEDED + FAILED).filter(
            date_done__lt=now - timedelta(days=in_flight)
        ),
    }


def user_tasks_orphaned(*, now: datetime, older_than_days: int | None = None) -> QuerySet:
    """UserTask rows with no result left, older than the PENDING window."""
    keep = older_than_days or settings.RESULTS_KEEP_DAYS
    return UserTask.objects.filter(created_at__lt=now - timedelta(days=keep)).exclude(
        Exists(TaskResult.objects.filter(task_id=OuterRef("task_id")))
    )


def results_prune(
    *,
    now: datetime | None = None,
    batch_size: int = MAX_BATCH,
    dry_run: bool = False,
    older_than_days: int | None = None,
) -> dict[str, int]:
    """Delete the expired results and their UserTask rows, in batches.

    Returns the rows deleted per kind (``KINDS``); with ``dry_run``, the rows
    that would be, and nothing is deleted.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1..{MAX_BATCH}, not {batch_size}")
    if older_than_days is not None and older_than_days < 1:
        raise ValueError(f"older_than_days must be at least 1, not {older_than_days}")
    now = now or timezone.now()
    expired = results_expired(now=now, older_than_days=older_than_days)
    orphaned = user_tasks_orphaned(now=now, older_than_days=older_than_days)
    if dry_run:
        counts = {kind: rows.count() for kind, rows in expired.items()}
        counts["user_tasks"] = (
            sum(
                UserTask.objects.filter(task_id__in=rows.values("task_id")).count()
                for rows in expired.values()
            )
            + orphaned.count()
        )
        return counts

    alias = router.db_for_write(TaskResult)
    counts = dict.fromkeys(KINDS, 0)
    for kind, rows in expired.items():
        while True:
            with transaction.atomic(using=alias):
                task_ids = _delete_batch(
                    rows, batch_size=batch_size, returning="task_id", using=alias
                )
                if task_ids:
                    counts["user_tasks"] += _delete_user_tasks(task_ids, using=alias)
            counts[kind] += len(task_ids)
            if len(task_ids) < batch_size:
                break
    while True:
        with transaction.atomic(using=alias):
            deleted = len(
                _delete_batch(orphaned, batch_size=batch_size, returning="id", using=alias)
            )
        counts["user_tasks"] += deleted
        if deleted < batch_size:
            break
    logger.info(
        "results pruned: %s succeeded, %s failed, %s in flight, %s user tasks",
        *(counts[kind] for kind in KINDS),
    )
    return counts


def _delete_user_tasks(task_ids: list[str], *, using: str) -> int:
    deleted, _ = UserTask.objects.using(using).filter(task_id__in=task_ids).delete()
    return deleted


def _delete_batch(rows: QuerySet, *, batch_size: int, returning: str, using: str) -> list:
    """Delete at most ``batch_size`` of ``rows`` in one statement; the deleted
    rows' ``returning`` column (PostgreSQL, SQLite >= 3.35)."""
    connection = connections[using]
    meta = rows.model._meta
    quote = connection.ops.quote_name
    pk = quote(meta.pk.column)
    batch = rows.order_by().values("pk")[:batch_size]
    select_sql, params = batch.query.get_compiler(connection=connection).as_sql()
    column = quote(meta.get_field(returning).column)
    sql = f"DELETE FROM {quote(meta.db_table)} WHERE {pk} IN ({select_sql}) RETURNING {column}"  # noqa: S608  (quoted names, parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
