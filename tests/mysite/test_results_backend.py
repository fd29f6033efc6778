from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery import states
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from mysite.celery import app as celery_app
from mysite.results import UpsertDatabaseBackend
from tests.conftest import require


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
