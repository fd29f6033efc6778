"""Reports retry transient errors with the project task class, for the same period.

A beat run passes only the period; the retry pins the dates, so a report that
fails at 23:59 and is retried after midnight is still yesterday's.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult

from mysite.enqueue import enqueue
from reports.models import Report
from reports.tasks import generate_sales_report
from tests.helpers.services import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media")]


def test_a_storage_hiccup_is_retried_for_the_same_period(celery_worker, flaky_storage):
    # given: the first write of the report's files fails
    flaky_storage.update(match="reports/", failures_left=1)
    yesterday = timezone.localdate() - timedelta(days=1)

    # when: queued as beat queues it, with the period only
    task_id = enqueue(generate_sales_report, kwargs={"period": "daily"})

    # then: the retry made the same report, under the same id
    report = wait_for(
        lambda: Report.objects.filter(status="ready", task_id=task_id).first(),
        what="the report to be ready after a retry",
    )
    assert (report.start_date, report.end_date) == (yesterday, yesterday)
    assert flaky_storage["failures_left"] == 0
    result = wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first())
    assert f"'start': '{yesterday.isoformat()}'" in result.task_kwargs  # the pinned date


def test_a_report_whose_storage_keeps_failing_is_marked_failed_with_the_reason(
    celery_worker, flaky_storage, monkeypatch
):
    # given: storage that keeps failing, and one retry allowed
    flaky_storage.update(match="reports/", failures_left=10**6)
    monkeypatch.setattr(generate_sales_report, "max_retries", 1)

    # when
    task_id = enqueue(generate_sales_report, kwargs={"period": "daily"})

    # then: given up, the report says why and the result says FAILURE
    report = wait_for(
        lambda: Report.objects.filter(status="failed", task_id=task_id).first(),
        what="the report to fail",
    )
    assert report.error.startswith("Gave up after 1 retries: StorageUnavailable: could not write")
    assert wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status="FAILURE").exists(),
        what="the result to say FAILURE",
    )
