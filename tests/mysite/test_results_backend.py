from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import psycopg2
import pytest
from celery import states
from django.conf import settings
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from mysite.celery import app as celery_app
from mysite.celery import close_old_db_connections_before
from mysite.results import FRESH_SECONDS, UpsertDatabaseBackend
from tests.helpers.services import database_url, require


def test_the_app_stores_results_with_the_upsert_backend():
    assert isinstance(celery_app.backend, UpsertDatabaseBackend)


@pytest.mark.django_db
def test_each_state_is_one_statement(django_assert_num_queries):
    backend = celery_app.backend

    with django_assert_num_queries(1):
        backend.store_result("t-1", {"pid": 1}, states.STARTED)
    with django_assert_num_queries(1):
        backend.store_result("t-1", {"answer": 42}, states.SUCCESS)

    [row] = TaskResult.objects.all()
    assert row.task_id == "t-1"
    assert row.status == states.SUCCESS
    assert backend.decode_content(row, row.result) == {"answer": 42}


@pytest.mark.django_db
def test_success_keeps_the_started_and_created_times():
    # given: a task that started a while ago
    backend = celery_app.backend
    backend.store_result("t-2", None, states.STARTED)
    earlier = timezone.now() - timedelta(minutes=5)
    TaskResult.objects.filter(task_id="t-2").update(date_created=earlier, date_started=earlier)

    # when
    backend.store_result("t-2", "done", states.SUCCESS)

    # then
    row = TaskResult.objects.get(task_id="t-2")
    assert row.date_created == earlier
    assert row.date_started == earlier
    assert row.date_done > earlier


@pytest.mark.django_db
def test_failure_is_stored_readably_and_read_back_by_celery():
    backend = celery_app.backend

    backend.mark_as_failure("t-3", ValueError("bad input"))

    meta = backend.get_task_meta("t-3")
    assert meta["status"] == states.FAILURE
    assert isinstance(meta["result"], ValueError)
    assert str(meta["result"]) == "bad input"


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_postgresql_commits_results_asynchronously():
    # when
    with CaptureQueriesContext(connection) as queries:
        celery_app.backend.store_result("t-4", None, states.STARTED)

    # then: one upsert, and on PostgreSQL it may skip waiting for the disk
    [upsert] = [q["sql"] for q in queries if "INSERT INTO" in q["sql"]]
    assert "ON CONFLICT" in upsert
    async_commit = "SET LOCAL synchronous_commit TO OFF" in upsert
    assert async_commit == (connection.vendor == "postgresql")
    assert TaskResult.objects.get(task_id="t-4").status == states.STARTED


@pytest.mark.django_db
def test_inside_a_transaction_the_callers_durability_is_kept():
    with CaptureQueriesContext(connection) as queries:
        celery_app.backend.store_result("t-5", None, states.STARTED)

    assert not any("synchronous_commit" in q["sql"] for q in queries)


@pytest.mark.django_db(transaction=True)
def test_a_failed_write_leaves_the_connection_usable():
    # given: a task name longer than its column allows (PostgreSQL enforces it)
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL=postgres://...)")
    request = SimpleNamespace(task="x" * 300, hostname="worker")

    # when
    with pytest.raises(DatabaseError, match="too long"):
        celery_app.backend.store_result("t-6", None, states.STARTED, request=request)

    # then: no transaction left open and aborted; the next write works
    assert connection.connection.get_transaction_status() == TRANSACTION_STATUS_IDLE
    celery_app.backend.store_result("t-6", None, states.STARTED)
    assert TaskResult.objects.get(task_id="t-6").status == states.STARTED


@pytest.fixture
def health_checks(transactional_db):
    """The default connection, connected, with Django's health checks on (as in production)."""
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL=postgres://...)")
    connection.ensure_connection()
    enabled = connection.health_check_enabled
    connection.health_check_enabled = True
    yield connection
    connection.health_check_enabled = enabled


def first_query_checks(conn) -> bool:
    """Whether the next query on ``conn`` is preceded by a health check."""
    with (
        mock.patch.object(conn, "is_usable", wraps=conn.is_usable) as is_usable,
        conn.cursor() as cursor,
    ):
        cursor.execute("SELECT 2")
    return is_usable.called


def test_a_task_right_after_a_result_write_skips_the_health_check(health_checks):
    # given: the previous task wrote its result
    celery_app.backend.store_result("t-7", None, states.SUCCESS)

    # when: the next task starts
    close_old_db_connections_before()

    # then
    assert not first_query_checks(health_checks)


def test_a_task_after_an_idle_connection_checks_it_first(health_checks):
    celery_app.backend.store_result("t-8", None, states.SUCCESS)
    health_checks.mysite_result_written_at -= FRESH_SECONDS  # a while ago

    close_old_db_connections_before()

    assert first_query_checks(health_checks)


def test_a_task_without_a_result_write_before_it_checks_the_connection(health_checks):
    health_checks.__dict__.pop("mysite_result_written_at", None)

    close_old_db_connections_before()

    assert first_query_checks(health_checks)


def test_a_connection_the_database_dropped_while_idle_is_replaced(health_checks):
    # given: a result written a while ago; the database ended that session since
    celery_app.backend.store_result("t-9", None, states.STARTED)
    health_checks.mysite_result_written_at -= FRESH_SECONDS
    dropped = health_checks.connection.info.backend_pid
    other = psycopg2.connect(database_url(settings.DATABASES["default"]))
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [dropped])
    finally:
        other.close()

    # when: the next task starts and writes its state
    close_old_db_connections_before()
    celery_app.backend.store_result("t-9", None, states.SUCCESS)

    # then: on a new connection
    assert health_checks.connection.info.backend_pid != dropped
    assert TaskResult.objects.get(task_id="t-9").status == states.SUCCESS
