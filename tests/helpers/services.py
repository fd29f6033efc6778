"""The services a test needs (a database, ports, a broker) and how it waits for them."""

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

IN_CI = os.environ.get("CI") == "true"


def require(available: bool, reason: str) -> None:
    """Skip unless ``available``; under CI=true a missing service is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def wait_for(condition: Callable[[], object], *, timeout: float = 30.0, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_for_success(task_id: str, *, timeout: float = 30.0):
    """The task's stored result once it is SUCCESS (run by the real worker)."""
    from celery import states
    from django_celery_results.models import TaskResult

    return wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status=states.SUCCESS).first(),
        timeout=timeout,
        what=f"task {task_id} to succeed",
    )


def waiting_for_a_lock() -> int:
    """Sessions of this database (PostgreSQL) waiting for a lock right now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def while_held(
    holder: threading.Thread,
    waiter: threading.Thread,
    *,
    holding: threading.Event,
    release: threading.Event,
    what: str,
) -> None:
    """Start ``holder``; once it sets ``holding`` (its transaction holds rows),
    start ``waiter`` and wait until it waits for a lock; then ``release`` the
    holder (it commits) and join both."""
    holder.start()
    try:
        assert holding.wait(timeout=10), "the holder never held its rows"
        waiter.start()
        wait_for(waiting_for_a_lock, timeout=10, what=what)
    finally:
        release.set()
        holder.join()
        if waiter.ident is not None:
            waiter.join()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(db: dict) -> str:
    """A DATABASE_URL for the database pytest-django created (``db`` after setup)."""
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"  # absolute: sqlite:////abs/path
    if engine.startswith("django.db.backends.postgresql"):
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
        host = str(db.get("HOST") or "localhost")
        if host.startswith("/"):  # a Unix socket folder
            host = quote(host, safe="")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        options = db.get("OPTIONS") or {}
        query = f"?{urlencode(options)}" if options else ""
        return f"postgres://{auth}{host}{port}/{quote(str(db['NAME']), safe='')}{query}"
    pytest.fail(f"no DATABASE_URL for a subprocess (beat, a worker) on {engine}")
