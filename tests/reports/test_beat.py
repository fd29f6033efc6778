"""A real beat process (the project's lease scheduler, a django-celery-beat
DatabaseScheduler) notices schedule edits without a restart: disabling one
task, disabling and re-enabling several in bulk, and changing an interval.

Beat runs as a subprocess on the test database and the configured broker; the
session's in-process worker runs what it sends and stores the results, whose
``periodic_task_name`` (extended results) says which schedule sent them. Beat's
own log says when it reloaded the schedule and what it sent.
"""

import json
import time
from functools import partial

import pytest
from celery import states
from django.conf import settings
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
from django_celery_results.models import TaskResult

from mysite.schedules import schedules_set_enabled
from tests.helpers.celery_process import BeatProcess

BEAT_MAX_INTERVAL = 1  # seconds: how often beat checks the database for changes
START_TIMEOUT = 30.0  # beat imports Django and Celery: slow on a busy machine
RUN_TIMEOUT = 30.0  # to see a schedule run
RELOAD_TIMEOUT = 15.0  # for beat to log that it reloaded after a change
QUIET_SECONDS = 4.0  # a stopped schedule must stay silent this long
STOP_TIMEOUT = 10.0

STARTED = "beat: Starting..."
RELOADED = "DatabaseScheduler: Schedule changed."


class Beat(BeatProcess):
    """A running ``celery beat`` with the project's scheduler, and its log."""

    stop_timeout = STOP_TIMEOUT

    def logged(self, text: str, since: int = 0) -> bool:
        return text in self.log(since)

    def wait_watching(self) -> None:
        """Wait until beat notices a change to the schedule table.

        Beat remembers the change marker on its first check; a change before
        that check would go unnoticed, so touch the marker until one is seen.
        """
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            since = self.mark()
            PeriodicTasks.update_changed()
            if self.poll(partial(self.logged, RELOADED, since), timeout=3 * BEAT_MAX_INTERVAL):
                return
        pytest.fail(
            f"beat never reloaded its schedule after a change; its log:\n{self.log()}",
            pytrace=False,
        )


@pytest.fixture
def beat(transactional_db, celery_worker, tmp_path):
    """``celery beat`` with the project's scheduler on the test database and broker.

    Stopped before the test database is flushed. Its log is printed on
    teardown: pytest shows it when the test failed.
    """
    running = Beat(
        tmp_path / "beat.log",
        max_interval=BEAT_MAX_INTERVAL,
        options=("-S", settings.CELERY_BEAT_SCHEDULER),
        environment={"BEAT_HEARTBEAT_FILE": str(tmp_path / "beat.heartbeat")},
    )
    try:
        running.wait_log(STARTED, timeout=START_TIMEOUT, what="beat to start")
        running.wait_watching()
        yield running
    finally:
        running.stop()
        running.print_log()
        drain(running)


def drain(beat: Beat) -> None:
    """Let the worker finish what beat sent, so no result lands after the flush."""
    names = beat.sent_tasks()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(finished(n) < beat.sent(n) for n in names):
        time.sleep(0.1)


def results(name: str):
    return TaskResult.objects.filter(periodic_task_name=name)


def runs(name: str) -> int:
    """Runs of the schedule ``name`` that reached the worker (any state)."""
    return results(name).count()


def finished(name: str) -> int:
    return results(name).filter(status__in=states.READY_STATES).count()


def every_second(name: str) -> PeriodicTask:
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name=name,
        interval=interval,
        task="mysite.tasks.demo_task",
        kwargs=json.dumps({"seconds": 0}),
    )


def succeeded(name: str) -> int:
    return results(name).filter(status=states.SUCCESS).count()


def wait_running(beat: Beat, *names: str, since: dict[str, int] | None = None) -> None:
    """Wait until each schedule has succeeded twice (more than ``since[name]`` times before)."""
    since = since or {}

    def all_ran():
        return all(succeeded(name) >= since.get(name, 0) + 2 for name in names)

    if not beat.poll(all_ran, timeout=RUN_TIMEOUT):
        counts = {name: (beat.sent(name), runs(name)) for name in names}
        pytest.fail(
            f"timed out after {RUN_TIMEOUT}s waiting for two runs each of {names} "
            f"(sent, run): {counts}"
        )


def assert_stopped(beat: Beat, *names: str, since: int) -> None:
    """Beat reloads after the change at ``since``, and then sends none of ``names``.

    First let in-flight runs land: every message beat sent is run by the worker.
    Then for QUIET_SECONDS neither beat's sends nor the stored runs may grow.
    """
    beat.wait_log(RELOADED, since=since, timeout=RELOAD_TIMEOUT, what="beat to reload")
    if not beat.poll(
        lambda: all(finished(name) >= beat.sent(name) for name in names), timeout=RUN_TIMEOUT
    ):
        counts = {name: (beat.sent(name), finished(name)) for name in names}
        pytest.fail(f"the runs beat sent did not all finish (sent, finished): {counts}")
    before = {name: (beat.sent(name), runs(name)) for name in names}
    deadline = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < deadline:
        beat.check_alive()
        now = {name: (beat.sent(name), runs(name)) for name in names}
        assert now == before, f"runs (sent, run) after the change: {before} -> {now}"
        time.sleep(0.2)


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-password-1")
    client.force_login(admin)
    return client


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_disabled_task_stops_running_without_restart(beat):
    # given: a schedule every second, running
    task = every_second("beat demo every second")
    wait_running(beat, task.name)
    first = results(task.name).filter(status=states.SUCCESS).first()
    assert first.task_name == "mysite.tasks.demo_task"
    assert json.loads(first.result) == {"slept": 0.0}

    # when: disabled with a plain save
    since = beat.mark()
    task.enabled = False
    task.save()

    # then
    assert_stopped(beat, task.name, since=since)
    assert beat.process.poll() is None  # the same beat throughout


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_admin_bulk_disable_then_service_bulk_enable(beat, admin_client):
    # given: two schedules every second, both running
    tasks = [every_second("beat bulk one"), every_second("beat bulk two")]
    names = [task.name for task in tasks]
    wait_running(beat, *names)

    # when: the admin action disables both at once
    since = beat.mark()
    response = admin_client.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": "disable_tasks", "_selected_action": [task.pk for task in tasks]},
    )

    # then
    assert response.status_code == 302
    assert not PeriodicTask.objects.filter(name__in=names, enabled=True).exists()
    assert_stopped(beat, *names, since=since)

    # when: the service enables both again
    stopped_at = {name: succeeded(name) for name in names}
    assert schedules_set_enabled(names=names, enabled=True) == 2

    # then: both run again, on the same beat
    wait_running(beat, *names, since=stopped_at)
    assert beat.process.poll() is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_interval_changed_in_admin_stops_frequent_runs(beat, admin_client):
    # given: a schedule every second, running
    task = every_second("beat demo interval edit")
    interval = task.interval
    wait_running(beat, task.name)

    # when: the interval becomes every hour on its admin page
    since = beat.mark()
    response = admin_client.post(
        reverse("admin:django_celery_beat_intervalschedule_change", args=[interval.pk]),
        {
            "every": 1,
            "period": IntervalSchedule.HOURS,
            "periodictask_set-TOTAL_FORMS": 1,
            "periodictask_set-INITIAL_FORMS": 1,
            "periodictask_set-MIN_NUM_FORMS": 0,
            "periodictask_set-MAX_NUM_FORMS": 1000,
            "periodictask_set-0-id": task.pk,
            "periodictask_set-0-interval": interval.pk,
            "_save": "Save",
        },
    )

    # then: saved, still enabled, and no more runs every second
    assert response.status_code == 302, response.context and response.context.get("errors")
    interval.refresh_from_db()
    assert (interval.every, interval.period) == (1, IntervalSchedule.HOURS)
    assert PeriodicTask.objects.get(pk=task.pk).enabled
    assert_stopped(beat, task.name, since=since)
    assert beat.process.poll() is None
