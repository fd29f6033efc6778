"""Result retention: failures outlive successes, rows in flight outlive both,
UserTask rows go with their results, and the cleanup deletes in batches that
never hold up the workers writing results."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from celery import states
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler
from django_celery_results.models import TaskResult

from mysite import retention
from mysite.celery import app as celery_app
from mysite.models import UserTask
from mysite.schedules import project_schedules
from mysite.tasks import prune_results as prune_results_task
from tests.helpers.services import require, wait_for_success
from tests.mysite.test_config import manage, run

NOW = timezone.now()
TABLE = TaskResult._meta.db_table


@pytest.fixture(autouse=True)
def _retention(settings):
    settings.RESULTS_KEEP_DAYS = 7
    settings.RESULTS_KEEP_FAILED_DAYS = 30  # in flight: 60


def result(status: str, *, days_old: float, user=None) -> str:
    """A stored result whose last state was written ``days_old`` days before NOW."""
    task_id = str(uuid.uuid4())
    TaskResult.objects.create(task_id=task_id, status=status, content_type="application/json")
    TaskResult.objects.filter(task_id=task_id).update(date_done=NOW - timedelta(days=days_old))
    if user is not None:
        user_task(task_id, user=user, days_old=days_old)
    return task_id


def user_task(task_id: str, *, user, days_old: float) -> None:
    UserTask.objects.create(task_id=task_id, task_name="mysite.tasks.demo_task", user=user)
    UserTask.objects.filter(task_id=task_id).update(created_at=NOW - timedelta(days=days_old))


def mixed_results(user) -> dict[str, list[str]]:
    """Each state on both sides of its limit; returns the task ids expected to stay and go."""
    stay = [
        result(states.SUCCESS, days_old=1, user=user),
        result(states.SUCCESS, days_old=6.9),
        result(states.FAILURE, days_old=8, user=user),  # a success this old would go
        result(states.REVOKED, days_old=29),
        result(states.STARTED, days_old=31),  # older than any finished row may be
        result(states.RETRY, days_old=59),
        result(states.PENDING, days_old=59),
    ]
    go = [
        result(states.SUCCESS, days_old=7.1, user=user),
        result(states.SUCCESS, days_old=400),
        result(states.FAILURE, days_old=31, user=user),
        result(states.REVOKED, days_old=30.5),
        result(states.STARTED, days_old=61, user=user),
        result(states.RETRY, days_old=90),
    ]
    return {"stay": stay, "go": go}


@pytest.mark.django_db
def test_each_state_is_kept_its_own_time(user):
    # given
    ids = mixed_results(user)

    # when
    counts = retention.results_prune(now=NOW)

    # then
    assert counts == {"succeeded": 2, "failed": 2, "in_flight": 2, "user_tasks": 3}
    assert sorted(TaskResult.objects.values_list("task_id", flat=True)) == sorted(ids["stay"])
    assert sorted(UserTask.objects.values_list("task_id", flat=True)) == sorted(
        [ids["stay"][0], ids["stay"][2]]  # the two kept results that have a user
    )


@pytest.mark.django_db
def test_a_dry_run_counts_the_same_and_deletes_nothing(user):
    # given
    mixed_results(user)
    user_task("never-stored", user=user, days_old=8)

    # when
    dry = retention.results_prune(now=NOW, dry_run=True)

    # then
    assert dry == {"succeeded": 2, "failed": 2, "in_flight": 2, "user_tasks": 4}
    assert (TaskResult.objects.count(), UserTask.objects.count()) == (13, 6)
    assert retention.results_prune(now=NOW) == dry
    assert (TaskResult.objects.count(), UserTask.objects.count()) == (7, 2)


@pytest.mark.django_db
def test_user_tasks_go_with_their_results_or_once_their_result_is_long_gone(user, other_user):
    # given
    expired = result(states.SUCCESS, days_old=10, user=user)
    kept = result(states.SUCCESS, days_old=2, user=other_user)
    user_task("pruned-before", user=user, days_old=7.5)  # result gone: past the PENDING window
    user_task("just-queued", user=other_user, days_old=0.1)  # no result yet: PENDING

    # when
    counts = retention.results_prune(now=NOW)

    # then
    assert counts == {"succeeded": 1, "failed": 0, "in_flight": 0, "user_tasks": 2}
    assert sorted(UserTask.objects.values_list("task_id", flat=True)) == sorted(
        [kept, "just-queued"]
    )
    assert not TaskResult.objects.filter(task_id=expired).exists()


@pytest.mark.django_db
def test_the_cleanup_deletes_in_batches():
    # given
    for _ in range(10):
        result(states.SUCCESS, days_old=8)
    result(states.SUCCESS, days_old=1)

    # when
    with CaptureQueriesContext(connection) as queries:
        counts = retention.results_prune(now=NOW, batch_size=3)

    # then
    deletes = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith(f'DELETE FROM "{TABLE}"')  # noqa: S608  (a prefix, not a query)
    ]
    assert len(deletes) == 4 + 1 + 1  # succeeded 3+3+3+1, failed 0, in flight 0
    assert all("LIMIT 3" in sql for sql in deletes)
    assert counts["succeeded"] == 10
    assert TaskResult.objects.count() == 1


@pytest.mark.parametrize("batch_size", [0, -1, retention.MAX_BATCH + 1])
def test_a_batch_is_one_to_five_thousand_rows(batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be 1\.\.5000"):
        retention.results_prune(batch_size=batch_size)


@pytest.mark.django_db
def test_the_command_reports_counts_and_takes_an_age(capsys):
    # given
    result(states.SUCCESS, days_old=3)
    result(states.FAILURE, days_old=3)
    result(states.STARTED, days_old=3)
    result(states.SUCCESS, days_old=1)

    # when
    call_command("prune_results", "--older-than-days", "2", "--dry-run")
    dry = capsys.readouterr().out
    call_command("prune_results", "--older-than-days", "2")
    done = capsys.readouterr().out

    # then
    assert dry.splitlines() == [
        "would delete        1  succeeded",
        "would delete        1  failed",
        "would delete        0  in flight",
        "would delete        0  user tasks",
    ]
    assert done.splitlines()[:2] == ["deleted        1  succeeded", "deleted        1  failed"]
    assert sorted(TaskResult.objects.values_list("status", flat=True)) == ["STARTED", "SUCCESS"]


@pytest.mark.parametrize("age", ["0", "-3", "seven", "1.5", "99999999"])
def test_the_command_refuses_a_bad_age(age):
    with pytest.raises(CommandError, match=r"older-than-days.*is not a number of days from 1 to"):
        call_command("prune_results", "--older-than-days", age)


def test_the_command_refuses_a_bad_age_passed_as_an_option():
    with pytest.raises(CommandError, match="--older-than-days: 0 is not a number of days"):
        call_command("prune_results", older_than_days=0)


@pytest.mark.parametrize(
    ("variable", "value"), [("RESULTS_KEEP_DAYS", "0"), ("RESULTS_KEEP_FAILED_DAYS", "30d")]
)
def test_a_bad_retention_stops_startup_with_one_line(tmp_path, variable, value):
    # when
    process = run(manage("check"), tmp_path, **{variable: value})

    # then
    assert process.returncode == 2
    assert process.stderr == (
        f"mysite: configuration error: {variable}={value!r} is not a positive whole number, "
        f"e.g. {7 if variable == 'RESULTS_KEEP_DAYS' else 30}.\n"
    )


@pytest.mark.django_db
def test_setup_schedules_replaces_celerys_own_cleanup_keeping_its_time(capsys):
    # given: an earlier release's entry, moved to 05:30 by staff
    crontab = CrontabSchedule.objects.create(minute="30", hour="5")
    PeriodicTask.objects.create(
        name="celery.backend_cleanup", task="celery.backend_cleanup", crontab=crontab
    )

    # when
    call_command("setup_schedules")
    call_command("setup_schedules")

    # then
    out = capsys.readouterr().out
    assert out.count("replaced celery.backend_cleanup -> Prune task results") == 1
    assert out.count("created") == len(project_schedules()) - 1
    prune = PeriodicTask.objects.get(name="Prune task results")
    assert (prune.task, prune.kwargs, prune.crontab.hour, prune.crontab.minute) == (
        "mysite.tasks.prune_results",
        "{}",
        "5",
        "30",
    )
    assert not PeriodicTask.objects.filter(task="celery.backend_cleanup").exists()


@pytest.mark.django_db(transaction=True)  # the scheduler closes old connections
def test_beat_adds_no_cleanup_of_its_own():
    # when: django-celery-beat's scheduler starts (LeaseScheduler is one)
    scheduler = DatabaseScheduler(app=celery_app)
    scheduler._finalize.cancel()  # nothing to save at exit, after the test database is gone

    # then
    assert celery_app.conf.result_expires is None
    assert not PeriodicTask.objects.filter(task="celery.backend_cleanup").exists()


@pytest.mark.django_db(transaction=True)
def test_the_daily_task_prunes_on_a_real_worker(celery_worker):
    # given
    result(states.SUCCESS, days_old=8)

    # when
    task_id = prune_results_task.delay().id

    # then
    done = wait_for_success(task_id)
    assert celery_app.backend.decode_content(done, done.result) == {
        "succeeded": 1,
        "failed": 0,
        "in_flight": 0,
        "user_tasks": 0,
    }


ROWS = 200_000
# The requirement: no writer waits on the pruning's locks for a second. The
# writer's session says so to the server (lock_timeout), so a slow, shared
# machine makes the test slower, never wrong: only a lock wait can fail it.
LOCK_TIMEOUT = "1s"


@pytest.mark.django_db(transaction=True)
def test_pruning_200k_rows_never_holds_up_a_writer_for_a_second():
    require(connection.vendor == "postgresql", "batched pruning under writes: PostgreSQL only")
    # given: 200,000 expired results, written in one statement
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{TABLE}" (task_id, status, content_type, content_encoding, '  # noqa: S608
            "result, date_created, date_done) "
            "SELECT 'old-' || n, 'SUCCESS', 'application/json', 'utf-8', 'null', "
            "now() - interval '10 days', now() - interval '10 days' "
            "FROM generate_series(1, %s) AS n",
            [ROWS],
        )
    written: list[str] = []
    errors: list[Exception] = []
    writing = threading.Event()
    stop = threading.Event()

    def write_results():
        try:
            with connection.cursor() as cursor:  # this thread's own connection
                cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            while not stop.is_set():
                task_id = f"new-{uuid.uuid4()}"
                celery_app.backend.store_result(task_id, {"ok": 1}, states.SUCCESS)
                written.append(task_id)
                writing.set()
        except Exception as exc:  # noqa: BLE001  (a lock wait over LOCK_TIMEOUT, reported below)
            errors.append(exc)
            writing.set()
        finally:
            connections.close_all()  # this thread's own connection

    writer = threading.Thread(target=write_results)
    writer.start()
    assert writing.wait(timeout=10), "the writer wrote nothing"

    # when
    started = time.monotonic()
    try:
        counts = retention.results_prune()
    finally:
        stop.set()
        writer.join(timeout=30)
    seconds = time.monotonic() - started

    # then
    print(f"\npruned {counts['succeeded']} rows in {seconds:.1f} s; {len(written)} writes")
    assert errors == []
    assert counts == {"succeeded": ROWS, "failed": 0, "in_flight": 0, "user_tasks": 0}
    assert TaskResult.objects.filter(task_id__startswith="new-").count() == len(written)
    assert not TaskResult.objects.filter(task_id__startswith="old-").exists()
