"""Celery tasks of the reports app: thin, they call services.

Routed to the `reports` queue by CELERY_TASK_ROUTES.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.db.models import Q

from mysite.storage import StorageUnavailable
from mysite.taskbase import ProjectTask, WorkRow
from reports import rollups, services
from reports.models import Report


class ReportTask(ProjectTask):
    def next_try_kwargs(self, kwargs: dict) -> dict:
        """A retry makes the same report, even after midnight: a beat run passes
        only the period, whose default moves with the date."""
        report = Report.objects.filter(task_id=self.request.id).first()
        return services.report_task_kwargs(report) if report else kwargs


@shared_task(
    bind=True,
    base=ReportTask,
    transient=(StorageUnavailable, OperationalError, InterfaceError),
    max_retries=5,
    row=WorkRow(
        "reports.Report",
        done=Q(status=Report.Status.READY),
        reopen={"status": Report.Status.PENDING, "error": ""},
        fail=services.report_fail,
    ),
    time_limit=15 * 60,
    soft_time_limit=14 * 60,
)
def generate_sales_report(
    self, period: str, start: str | None = None, end: str | None = None
) -> dict:
    """Make the sales report of a period. Without dates: the previous complete period, now.

    A beat schedule passes only ``{"period": "daily"}`` (or weekly, monthly).
    Storage and database trouble retries with the project backoff, for the
    same period; anything else, or the last retry, marks the report failed.
    """
    report = services.report_prepare(period=period, start=start, end=end, task_id=self.request.id)
    report = services.report_generate(report_id=report.pk)
    return {"report": report.pk, "status": report.status, "orders": report.row_count}


@shared_task(time_limit=5 * 60, soft_time_limit=4 * 60)
def catch_up_reports() -> dict:
    """Periodic: queue the scheduled reports beat did not send (beat down, a DST gap)."""
    return {"queued": [report.pk for report in services.reports_catch_up()]}


# As long as a report may take (the reports queue's workers stop gracefully
# within it): a full rebuild of 10M orders takes seconds; a time-zone change
# re-rolls in 31-day chunks, each its own transaction, so a cut-off run keeps
# what it did and the next night goes on.
@shared_task(time_limit=15 * 60, soft_time_limit=14 * 60)
def rollup_sales() -> dict:
    """Nightly: roll up the days not rolled up yet (yesterday); all of them after a
    change of TIME_ZONE. The daily report, an hour later, reads its day from there."""
    return {"days": rollups.rollup_missing()}
