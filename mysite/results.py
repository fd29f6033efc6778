"""A django-celery-results backend that writes each task state in one statement.

The shipped backend stores a state with ``get_or_create`` and then a full
``save()``: a SELECT, then an INSERT or UPDATE in a transaction of its own. This
one sends a single ``INSERT ... ON CONFLICT (task_id) DO UPDATE`` (PostgreSQL and SQLite;
other databases fall back to the shipped code), committed asynchronously on
PostgreSQL, so a task costs two short writes: STARTED and its outcome. The rows, the admin and
every read are django-celery-results' own.

A written state also tells the worker that its connection answered just now:
the next task skips Django's health check (a ``SELECT 1`` before its first
query, a round trip a task) on a connection that wrote a result less than
``FRESH_SECONDS`` ago (``health_check_skip_if_fresh``, mysite/celery.py). A
connection idle longer, or one that raised an error, is still checked.
"""

import contextlib
import functools
import time

from celery import states
from django.db import DatabaseError, connections, router
from django.utils import timezone
from django_celery_results.backends.database import DatabaseBackend
from django_celery_results.models import TaskResult

UPSERT_VENDORS = frozenset({"postgresql", "sqlite"})
# A result row is a view of the work, not the work: the domain row, written in
# its own synchronous transaction, is the truth. So PostgreSQL may acknowledge
# a result write before flushing it to disk; a database crash can lose the last
# fraction of a second of results, never corrupt them (benchmarks/README.md).
ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF"
FRESH_SECONDS = 1.0
"""A connection that wrote a result this recently is not health-checked again."""


class UpsertDatabaseBackend(DatabaseBackend):
    def _store_result(  # noqa: PLR0917  (Celery's signature)
        self, task_id, result, status, traceback=None, request=None, using=None
    ):
        connection = connections[using or router.db_for_write(TaskResult)]
        if connection.vendor not in UPSERT_VENDORS:
            return super()._store_result(task_id, result, status, traceback, request, using)

        content_type, content_encoding, encoded_result = self.encode_content(result)
        meta = {
            **self._get_meta_from_request(request),
            "children": self.current_task_children(request),
        }
        _, _, encoded_meta = self.encode_content(meta)
        now = timezone.now()
        # Written on every state; date_created only by the first, date_started
        # only by STARTED, so SUCCESS keeps both.
        fields = {
            "content_encoding": content_encoding,
            "content_type": content_type,
            "meta": encoded_meta,
            "result": encoded_result,
            "status": status,
            **self._get_extended_properties(request, traceback),
            "traceback": traceback,
            "date_done": now,
        }
        if status == states.STARTED:
            fields["date_started"] = now
        sql, params = _upsert(connection, task_id, now, fields)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                _execute_async_commit(cursor, sql, params)
            else:  # inside someone's transaction: its durability is not ours to change
                cursor.execute(sql, params)
        connection.mysite_result_written_at = time.monotonic()
        return result


def health_check_skip_if_fresh() -> None:
    """Mark as checked every connection of this thread that wrote a result less
    than FRESH_SECONDS ago (call after ``close_old_connections``, which resets
    the check and has already looked at connections that raised errors)."""
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        written_at = getattr(connection, "mysite_result_written_at", None)
        if (
            connection.connection is not None
            and written_at is not None
            and now - written_at < FRESH_SECONDS
        ):
            connection.health_check_done = True


def _execute_async_commit(cursor, sql: str, params: list) -> None:
    """Run ``sql`` in its own asynchronously committed transaction, in one round trip."""
    try:
        cursor.execute(f"BEGIN; {ASYNC_COMMIT}; {sql}; COMMIT", params)
    except DatabaseError:
        # A failed statement leaves the transaction block open and aborted.
        with contextlib.suppress(DatabaseError):
            cursor.execute("ROLLBACK")
        raise


def _upsert(connection, task_id: str, now, fields: dict) -> tuple[str, list]:
    values = {"task_id": task_id, "date_created": now, **fields}
    sql, model_fields = _upsert_sql(connection.alias, tuple(values))
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(model_fields, values.values(), strict=True)
    ]
    return sql, params


@functools.cache
def _upsert_sql(alias: str, names: tuple[str, ...]) -> tuple[str, list]:
    """The statement for one set of columns (a handful of sets exist: built once each)."""
    quote = connections[alias].ops.quote_name
    meta = TaskResult._meta
    model_fields = [meta.get_field(name) for name in names]
    columns = {name: quote(field.column) for name, field in zip(names, model_fields, strict=True)}
    updates = ", ".join(
        f"{column} = EXCLUDED.{column}"
        for name, column in columns.items()
        if name not in {"task_id", "date_created"}  # kept from the first write
    )
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns.values())}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({columns['task_id']}) DO UPDATE SET {updates}"
    )
    return sql, model_fields
