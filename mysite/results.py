"""A django-celery-results backend that writes each task state in one statement.

The shipped backend stores a state with ``get_or_create`` and then a full
``save()``: a SELECT, then an INSERT or UPDATE in a transaction of its own. This
one sends a single ``INSERT ... ON CONFLICT (task_id) DO UPDATE`` (PostgreSQL and SQLite;
other databases fall back to the shipped code), committed asynchronously on
PostgreSQL. The rows, the admin and every read are django-celery-results' own.

STARTED is written only for a task still running ``RESULTS_STARTED_AFTER_MS``
after it started (a thread per worker process writes it then, on its own
connection); a task done sooner costs one write, its outcome, which carries
``date_started``. That STARTED write never overwrites a final state nor any
state written after the task started (a late one loses to the outcome, in
the database). Only the worker running the task defers it; every other write
of STARTED (``store_result`` outside a task) is immediate, as before.

A written state also tells the worker that its connection answered just now:
the next task skips Django's health check (a ``SELECT 1`` before its first
query, a round trip a task) on a connection that wrote a result less than
``FRESH_SECONDS`` ago (``health_check_skip_if_fresh``, mysite/celery.py). A
connection idle longer, or one that raised an error, is still checked.
"""

import contextlib
import functools
import logging
import os
import threading
import time
from dataclasses import dataclass

from celery import states
from celery.backends.base import get_current_task  # as django-celery-results reads it
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, router
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
IDLE_CLOSE_SECONDS = 5.0
"""The STARTED writer closes its connection after this long without a write."""

logger = logging.getLogger(__name__)


class UpsertDatabaseBackend(DatabaseBackend):
    def _store_result(  # noqa: PLR0917  (Celery's signature)
        self, task_id, result, status, traceback=None, request=None, using=None
    ):
        connection = connections[using or router.db_for_write(TaskResult)]
        if connection.vendor not in UPSERT_VENDORS:
            return super()._store_result(task_id, result, status, traceback, request, using)
        if status == states.STARTED:
            delay = settings.RESULTS_STARTED_AFTER_MS / 1000
            if delay > 0 and _running_here(task_id):
                _writer().defer(
                    _Pending(self, task_id, result, request, using, timezone.now(), delay)
                )
                return result
            started_at = None
        else:
            writer = _writer_mine()
            started_at = writer.settle(task_id) if writer else None
        self._upsert_state(
            connection, task_id, result, status, traceback, request, started_at=started_at
        )
        return result

    def _upsert_state(  # noqa: PLR0917
        self, connection, task_id, result, status, traceback, request, *, started_at, late=False
    ) -> None:
        """Write one state. ``started_at``: when this process started the task (it
        goes with the outcome, whose STARTED may never have been written).
        ``late``: a deferred STARTED, written only if nothing came after it."""
        content_type, content_encoding, encoded_result = self.encode_content(result)
        meta = {
            **self._get_meta_from_request(request),
            "children": self.current_task_children(request),
        }
        _, _, encoded_meta = self.encode_content(meta)
        now = started_at if late else timezone.now()
        # Written on every state; date_created only by the first (the start
        # time, when known: the row's first write may be the outcome),
        # date_started only by STARTED or with the outcome of a task started
        # here, so SUCCESS keeps both.
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
        elif started_at is not None:
            fields["date_started"] = started_at
        sql, params = _upsert(
            connection,
            task_id,
            started_at or now,
            fields,
            late=late,
            revoked=status == states.REVOKED,
        )
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                _execute_async_commit(cursor, sql, params)
            else:  # inside someone's transaction: its durability is not ours to change
                cursor.execute(sql, params)
        connection.mysite_result_written_at = time.monotonic()


def _running_here(task_id: str) -> bool:
    """Whether this thread is running the task now (a worker's tracer writing its
    STARTED), so its outcome will be written from here too."""
    task = get_current_task()
    request = getattr(task, "request", None)
    return request is not None and request.id == task_id and not request.is_eager


@dataclass(eq=False)
class _Pending:
    backend: UpsertDatabaseBackend
    task_id: str
    result: object
    request: object
    using: str | None
    started_at: object  # an aware datetime: the STARTED write's date_started and date_done
    delay: float  # seconds
    due: float = 0.0  # time.monotonic()
    writing: bool = False


class _StartedWriter:
    """Writes the STARTED of tasks still running ``delay`` after they started.

    One per process, made on first use in that process (a prefork child gets
    its own, never its parent's thread or lock). The task's outcome settles
    it: a STARTED not yet due is dropped, and its start time goes with the
    outcome. One that is being written as the task ends is safe too: its
    statement does nothing once any later state is stored (``_upsert_sql``).
    """

    def __init__(self):
        self.pid = os.getpid()
        self.wake = threading.Condition()
        self.pending: dict[str, _Pending] = {}  # in start order, so in due order
        self.sleeping_until: float | None = None  # None: asleep until notified
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="results-started", daemon=True)
        self.thread.start()

    def defer(self, entry: _Pending) -> None:
        entry.due = time.monotonic() + entry.delay
        with self.wake:
            self.pending[entry.task_id] = entry
            # Woken only when asleep without a deadline: under load it wakes once a
            # delay, not once a task (a deadline it sleeps to is never later than this one).
            if self.sleeping_until is None:
                self.wake.notify()

    def settle(self, task_id: str):
        """Forget the task's STARTED; its start time if it started in this process."""
        with self.wake:
            entry = self.pending.pop(task_id, None)
        return None if entry is None else entry.started_at

    def stop(self) -> None:
        """End the thread and close its connection (tests: before the database is dropped)."""
        with self.wake:
            self.stopped = True
            self.wake.notify()
        self.thread.join(10)

    def _run(self) -> None:
        connected = False
        while True:
            with self.wake:
                due, idle = self._due_or_wait(connected)
                if self.stopped:
                    break
            if due:
                self._write(due)
                connected = True
            elif idle:  # no write for IDLE_CLOSE_SECONDS: the database gets its connection back
                connections.close_all()
                connected = False
        connections.close_all()

    def _due_or_wait(self, connected: bool) -> tuple[list[_Pending], bool]:
        """The entries due now, marked as being written; else wait (lock held) and
        say whether it was IDLE_CLOSE_SECONDS with nothing to do."""
        now = time.monotonic()
        due, next_due = [], None
        for entry in self.pending.values():
            if entry.writing:
                continue
            if entry.due > now:
                next_due = entry.due
                break
            entry.writing = True
            due.append(entry)
        if due or self.stopped:
            return due, False
        self.sleeping_until = next_due
        idle = False
        if next_due is not None:
            self.wake.wait(next_due - now)
        elif connected:
            idle = not self.wake.wait(IDLE_CLOSE_SECONDS)
        else:
            self.wake.wait()
        self.sleeping_until = None
        return [], idle

    def _write(self, due: list[_Pending]) -> None:
        close_old_connections()  # as a task would: drop a broken or too old connection
        for entry in due:
            connection = connections[entry.using or router.db_for_write(TaskResult)]
            try:
                entry.backend._upsert_state(
                    connection,
                    entry.task_id,
                    entry.result,
                    states.STARTED,
                    None,
                    entry.request,
                    started_at=entry.started_at,
                    late=True,
                )
            except DatabaseError:  # a view of the work: the outcome (with the start time) comes
                logger.warning("could not store STARTED of task %s", entry.task_id, exc_info=True)
                close_old_connections()
                continue
            with self.wake:  # written: the outcome need not carry the start time
                if self.pending.get(entry.task_id) is entry:
                    del self.pending[entry.task_id]


_started_writer: _StartedWriter | None = None
_started_writer_lock = threading.Lock()


def _writer_mine() -> _StartedWriter | None:
    if _started_writer is not None and _started_writer.pid == os.getpid():
        return _started_writer
    return None


def _writer() -> _StartedWriter:
    global _started_writer  # noqa: PLW0603  (one per process)
    writer = _writer_mine()
    if writer is None:
        with _started_writer_lock:
            writer = _writer_mine()
            if writer is None:
                writer = _started_writer = _StartedWriter()
    return writer


def started_writer_stop() -> None:
    """Stop this process's STARTED writer, if it has one (a new one starts on demand)."""
    global _started_writer  # noqa: PLW0603
    writer = _writer_mine()
    if writer is not None:
        writer.stop()
    _started_writer = None


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
            connection.health_check_done = True  # type: ignore[attr-defined]  # Django's, unstubbed


def _execute_async_commit(cursor, sql: str, params: list) -> None:
    """Run ``sql`` in its own asynchronously committed transaction, in one round trip."""
    try:
        cursor.execute(f"BEGIN; {ASYNC_COMMIT}; {sql}; COMMIT", params)
    except DatabaseError:
        # A failed statement leaves the transaction block open and aborted.
        with contextlib.suppress(DatabaseError):
            cursor.execute("ROLLBACK")
        raise


def _upsert(
    connection, task_id: str, created, fields: dict, *, late: bool, revoked: bool
) -> tuple[str, list]:
    values = {"task_id": task_id, "date_created": created, **fields}
    sql, model_fields = _upsert_sql(connection.alias, tuple(values), late=late, revoked=revoked)
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(model_fields, values.values(), strict=True)
    ]
    return sql, params


@functools.cache
def _upsert_sql(
    alias: str, names: tuple[str, ...], *, late: bool, revoked: bool
) -> tuple[str, list]:
    """The statement for one set of columns (a handful of sets exist: built once each).

    ``late``: a deferred STARTED, which changes a row only if it holds no final
    state and no state written after the task started (its ``date_done``).
    ``revoked``: a REVOKED, which leaves a row already REVOKED as it is: the
    operator's revoke (mysite.operations, "Revoked by ...") is written first,
    and the worker that later drops the message writes its own plain
    "revoked" over nothing."""
    quote = connections[alias].ops.quote_name
    meta = TaskResult._meta
    model_fields = [meta.get_field(name) for name in names]
    columns = {
        name: quote(field.column)  # type: ignore[union-attr, arg-type]  # TaskResult's own columns
        for name, field in zip(names, model_fields, strict=True)
    }
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
    table = quote(meta.db_table)
    if revoked:
        sql += f" WHERE {table}.{columns['status']} <> '{states.REVOKED}'"
    if late:
        final = ", ".join(f"'{state}'" for state in sorted(states.READY_STATES))
        sql += (
            f" WHERE {table}.{columns['status']} NOT IN ({final})"
            f" AND {table}.{columns['date_done']} <= EXCLUDED.{columns['date_done']}"
        )
    return sql, model_fields
