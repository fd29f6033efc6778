"""The catch-up: scheduled reports beat did not send are queued once, and only those.

Unit tests call the service with a fixed ``now`` and capture the on-commit
publishes (nothing reaches the broker); the concurrency test and the end-to-end
test commit for real and let the session's worker generate what was queued.
"""

import json
import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django_celery_beat.models import PeriodicTask

from mysite.enqueue import enqueue
from mysite.schedules import schedules_install, schedules_set_enabled
from reports import services
from reports.models import Report
from reports.tasks import catch_up_reports
from tests.helpers.services import (
    require,
    wait_for_success,
    while_held,
)

BERLIN = ZoneInfo("Europe/Berlin")
# A Wednesday: the daily slot (01:00) was today, the weekly (Sunday 02:00) on
# 2026-09-13, the monthly (the 1st, 03:00) on 2026-09-01.
NOW = datetime(2026, 9, 16, 10, 0, tzinfo=BERLIN)
DAILY = ("daily", date(2026, 9, 15), date(2026, 9, 15))
WEEKLY = ("weekly", date(2026, 8, 31), date(2026, 9, 6))  # the week complete on Sunday 13th
MONTHLY = ("monthly", date(2026, 8, 1), date(2026, 8, 31))

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def schedules():
    """The project's periodic tasks, as `setup_schedules` installs them."""
    schedules_install()


def key(report: Report) -> tuple[str, date, date]:
    return (report.period, report.start_date, report.end_date)


def make(period_key: tuple[str, date, date], status: str = "ready") -> Report:
    period, start, end = period_key
    return Report.objects.create(period=period, start_date=start, end_date=end, status=status)


def published(callbacks) -> list[dict]:
    """The keyword arguments of the tasks the captured on-commit callbacks publish."""
    return [callback.args[2] for callback in callbacks]


@pytest.mark.django_db
def test_catch_up_queues_exactly_the_missing_reports(schedules, django_capture_on_commit_callbacks):
    # given: yesterday's daily report exists, the weekly and monthly do not
    daily = make(DAILY)

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        queued = services.reports_catch_up(now=NOW)

    # then: the two missing ones, pending, each queued once with its own dates
    assert sorted(key(report) for report in queued) == [MONTHLY, WEEKLY]
    assert sorted(published(callbacks), key=lambda kwargs: kwargs["period"]) == [
        {"period": "monthly", "start": "2026-08-01"},
        {"period": "weekly", "start": "2026-08-31"},
    ]
    assert {report.status for report in Report.objects.exclude(pk=daily.pk)} == {"pending"}
    assert all(report.task_id for report in queued)
    assert Report.objects.count() == 3
    daily.refresh_from_db()
    assert (daily.status, daily.task_id) == ("ready", "")  # left alone


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["pending", "running", "ready", "failed"])
def test_catch_up_leaves_a_report_of_the_period_alone_whatever_its_status(
    schedules, status, django_capture_on_commit_callbacks
):
    # given: every period has a report in this status
    reports = [make(period_key, status) for period_key in (DAILY, WEEKLY, MONTHLY)]

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        queued = services.reports_catch_up(now=NOW)

    # then: nothing queued, nothing changed
    assert queued == []
    assert callbacks == []
    assert [(report.status, report.task_id) for report in Report.objects.order_by("pk")] == [
        (status, "")
    ] * len(reports)


@pytest.mark.django_db
def test_catch_up_skips_disabled_schedules(schedules, django_capture_on_commit_callbacks):
    # given: staff disabled the weekly report in the admin (its save), and the
    # monthly one in bulk
    weekly = PeriodicTask.objects.get(name="Weekly sales report")
    weekly.enabled = False
    weekly.save()
    schedules_set_enabled(names=["Monthly sales report"], enabled=False)

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        queued = services.reports_catch_up(now=NOW)

    # then: only the daily report, whose schedule is on
    assert [key(report) for report in queued] == [DAILY]
    assert published(callbacks) == [{"period": "daily", "start": "2026-09-15"}]


@pytest.mark.django_db
def test_catch_up_without_report_schedules_queues_nothing():
    # given: no periodic tasks at all (setup_schedules never ran)
    # when
    queued = services.reports_catch_up(now=NOW)

    # then
    assert queued == []
    assert Report.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("now", "expected_day"),
    [
        # 01:00 is the slot; the catch-up waits 30 minutes for the scheduled run
        (datetime(2026, 9, 16, 1, 29, tzinfo=BERLIN), date(2026, 9, 14)),
        (datetime(2026, 9, 16, 1, 30, tzinfo=BERLIN), date(2026, 9, 15)),
        # staff moved the daily report to 06:00: before that, yesterday's slot counts
        (datetime(2026, 9, 16, 5, 0, tzinfo=BERLIN), date(2026, 9, 14)),
    ],
)
def test_catch_up_follows_the_crontab_and_waits_for_the_scheduled_run(
    schedules, now, expected_day, django_capture_on_commit_callbacks
):
    # given: the weekly and monthly reports exist; for the 05:00 case the daily
    # schedule was moved to 06:00 in the admin
    make(WEEKLY)
    make(MONTHLY)
    if now.hour == 5:
        crontab = PeriodicTask.objects.get(name="Daily sales report").crontab
        crontab.hour = "6"
        crontab.save()

    # when
    with django_capture_on_commit_callbacks():
        queued = services.reports_catch_up(now=now)

    # then
    assert [key(report) for report in queued] == [("daily", expected_day, expected_day)]


@pytest.mark.django_db
def test_catch_up_twice_in_a_row_queues_each_report_once(
    schedules, django_capture_on_commit_callbacks
):
    # given: a first catch-up queued the three reports
    with django_capture_on_commit_callbacks() as first_callbacks:
        first = services.reports_catch_up(now=NOW)

    # when: it runs again (the worker has not even started on them)
    with django_capture_on_commit_callbacks() as second_callbacks:
        second = services.reports_catch_up(now=NOW + timedelta(hours=1))

    # then
    assert sorted(key(report) for report in first) == [DAILY, MONTHLY, WEEKLY]
    assert len(first_callbacks) == 3
    assert second == []
    assert second_callbacks == []
    assert Report.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_catch_ups_at_once_queue_each_report_once(schedules, celery_worker):
    """The first catch-up has inserted the three rows but not committed; the
    second, started then, finds nothing yet, waits on the unique index for the
    first insert it tries, and after the commit queues nothing."""
    require(connection.vendor == "postgresql", "concurrent inserts need PostgreSQL")
    inserted, release = threading.Event(), threading.Event()
    outcome: dict[str, list[Report] | Exception] = {}

    def first_catch_up():
        try:
            with transaction.atomic():
                outcome["first"] = services.reports_catch_up(now=NOW)
                inserted.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def second_catch_up():
        try:
            outcome["second"] = services.reports_catch_up(now=NOW)
        except Exception as exc:  # noqa: BLE001  (shown by the assert below)
            outcome["second"] = exc
        finally:
            connection.close()

    # given: the first catch-up holds its uncommitted rows; when: the second
    # runs meanwhile, and the first commits once it waits
    while_held(
        threading.Thread(target=first_catch_up),
        threading.Thread(target=second_catch_up),
        holding=inserted,
        release=release,
        what="the second catch-up to wait",
    )

    # then: three reports, queued once each, all generated by the worker
    assert sorted(key(report) for report in outcome["first"]) == [DAILY, MONTHLY, WEEKLY]
    assert outcome["second"] == []
    assert Report.objects.count() == 3
    for report in outcome["first"]:
        wait_for_success(report.task_id)
    assert set(Report.objects.values_list("status", flat=True)) == {"ready"}


@pytest.mark.django_db(transaction=True)
def test_the_catch_up_task_on_the_worker_generates_the_missing_reports(schedules, celery_worker):
    # given: no report at all, the schedules installed
    # when: beat's catch-up entry runs its task on the real worker, twice
    first = wait_for_success(enqueue(catch_up_reports))
    second = wait_for_success(enqueue(catch_up_reports))

    # then: the first queued one report per scheduled period, the worker made
    # them; the second found them and queued nothing
    queued = json.loads(first.result)["queued"]
    assert json.loads(second.result) == {"queued": []}
    reports = Report.objects.filter(pk__in=queued)
    assert sorted(reports.values_list("period", flat=True)) == ["daily", "monthly", "weekly"]
    for report in reports:
        wait_for_success(report.task_id)
    assert list(Report.objects.values_list("status", flat=True)) == ["ready"] * 3
