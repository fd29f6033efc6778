from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import psycopg2
import pytest
from celery import states
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from mysite import config
from mysite.celery import app as celery_app
from mysite.celery import close_old_db_connections_before
from mysite.results import FRESH_SECONDS, UpsertDatabaseBackend
from mysite.tasks import demo_task
from tests.helpers.celery_process import WorkerProcess
from tests.helpers.services import database_url, require, wait_for, wait_for_success


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
    """This thread's default connection (the wrapper itself, not the proxy), newly
    connected and with no result written on it, with Django's health checks on
    (as in production). New: one older than CONN_MAX_AGE would be closed by the
    task's start (close_old_connections), and a new connection is not checked.
    No result: an earlier test's write, under a second ago, would skip the check."""
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL=postgres://...)")
    wrapper = connections[DEFAULT_DB_ALIAS]
    wrapper.close()
    wrapper.ensure_connection()
    vars(wrapper).pop("mysite_result_written_at", None)
    enabled = wrapper.health_check_enabled
    wrapper.health_check_enabled = True
    yield wrapper
    wrapper.health_check_enabled = enabled


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


# A task's STARTED, written only once it has run RESULTS_STARTED_AFTER_MS.

STATE_LOG = """
CREATE TABLE test_state_log (task_id text, status text, date_started timestamptz);
CREATE FUNCTION test_state_log() RETURNS trigger AS $$
BEGIN
    INSERT INTO test_state_log VALUES (NEW.task_id, NEW.status, NEW.date_started);
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_state_log AFTER INSERT OR UPDATE ON django_celery_results_taskresult
    FOR EACH ROW EXECUTE FUNCTION test_state_log();
"""


@pytest.fixture
def state_log(transactional_db):
    """Every state written to a result row, in order, by any process (a trigger)."""
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL=postgres://...)")
    with connection.cursor() as cursor:
        cursor.execute(STATE_LOG)

    def written(task_id: str) -> list[tuple[str, object]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT status, date_started FROM test_state_log WHERE task_id = %s", [task_id]
            )
            return cursor.fetchall()

    yield written
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER test_state_log ON django_celery_results_taskresult;"
            "DROP FUNCTION test_state_log(); DROP TABLE test_state_log;"
        )


def test_a_task_done_within_the_delay_writes_only_its_outcome(state_log, celery_worker):
    # when: a task that ends long before RESULTS_STARTED_AFTER_MS
    task_id = demo_task.delay(seconds=0).id
    row = wait_for_success(task_id)

    # then: one write, which carries the start time
    [(status, date_started)] = state_log(task_id)
    assert status == states.SUCCESS
    assert date_started is not None
    assert row.date_created <= row.date_started <= row.date_done


def test_a_task_running_longer_shows_started_then_its_outcome(state_log, celery_worker):
    # when: a task that runs for 1 s
    task_id = demo_task.delay(seconds=1).id

    # then: STARTED while it runs, then SUCCESS with the same start time
    running = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status=states.STARTED).first(),
        what="STARTED",
    )
    started = celery_app.backend.decode_content(running, running.result)
    assert started["hostname"] == celery_worker.hostname  # the console's "running on"
    done = wait_for_success(task_id)
    assert [status for status, _ in state_log(task_id)] == [states.STARTED, states.SUCCESS]
    assert done.date_started == running.date_started
    delay = timedelta(milliseconds=settings.RESULTS_STARTED_AFTER_MS)
    assert done.date_done - done.date_started >= timedelta(seconds=1) > delay


def test_with_no_delay_started_is_written_at_once(state_log, celery_worker, settings):
    settings.RESULTS_STARTED_AFTER_MS = 0

    task_id = demo_task.delay(seconds=0).id
    wait_for_success(task_id)

    assert [status for status, _ in state_log(task_id)] == [states.STARTED, states.SUCCESS]


def test_prefork_children_defer_started_each_with_its_own_writer(state_log, tmp_path):
    # given: a prefork worker of two processes, the default delay
    worker = WorkerProcess(tmp_path / "w.log", concurrency=2, name="started", queues="default")
    try:
        worker.wait_ready()

        # when: a short and a long task at once, one in each child
        long_id = demo_task.delay(seconds=1.5).id
        short_id = demo_task.delay(seconds=0).id
        wait_for_success(long_id)
        wait_for_success(short_id)
    finally:
        worker.stop()

    # then
    assert [status for status, _ in state_log(short_id)] == [states.SUCCESS]
    assert [status for status, _ in state_log(long_id)] == [states.STARTED, states.SUCCESS]


def late_started(task_id: str, started_at) -> None:
    """What the STARTED writer sends for a task that started at ``started_at``."""
    backend = celery_app.backend
    backend._upsert_state(
        connection,
        task_id,
        {"pid": 1, "hostname": "w"},
        states.STARTED,
        None,
        None,
        started_at=started_at,
        late=True,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("outcome", [states.SUCCESS, states.FAILURE, states.REVOKED])
def test_a_late_started_never_overwrites_the_outcome(outcome):
    # given: the task's outcome is stored (it ended as its STARTED was being written)
    started_at = timezone.now()
    celery_app.backend.store_result("t-10", None, outcome)

    # when
    late_started("t-10", started_at)

    # then
    assert TaskResult.objects.get(task_id="t-10").status == outcome


@pytest.mark.django_db
def test_a_late_started_never_overwrites_a_state_written_after_the_start():
    # given: the task asked for a retry after it started
    started_at = timezone.now()
    celery_app.backend.store_result("t-11", None, states.RETRY)

    late_started("t-11", started_at)

    assert TaskResult.objects.get(task_id="t-11").status == states.RETRY


@pytest.mark.django_db
def test_a_late_started_is_written_over_an_earlier_run_or_no_row():
    # given: a RETRY from an earlier run; a task with no row yet
    celery_app.backend.store_result("t-12", None, states.RETRY)
    started_at = timezone.now()

    late_started("t-12", started_at)
    late_started("t-13", started_at)

    rows = TaskResult.objects.filter(task_id__in=["t-12", "t-13"])
    assert {(r.status, r.date_started, r.date_done) for r in rows} == {
        (states.STARTED, started_at, started_at)
    }


def test_started_outside_a_running_task_is_written_at_once(db):
    # A STARTED stored by anything but the worker running the task is immediate.
    celery_app.backend.store_result("t-14", None, states.STARTED)

    assert TaskResult.objects.get(task_id="t-14").status == states.STARTED


@pytest.mark.parametrize("value", ["-1", "0.1", "soon"])
def test_a_bad_started_delay_is_a_clear_configuration_error(monkeypatch, value):
    monkeypatch.setenv("RESULTS_STARTED_AFTER_MS", value)

    with pytest.raises(config.ConfigError, match=r"RESULTS_STARTED_AFTER_MS=.* at least 0"):
        config.whole_number("RESULTS_STARTED_AFTER_MS", config.RESULTS_STARTED_AFTER_MS_DEFAULT)
