"""What of the reports app can be left in flight, for the sweep (mysite/sweep.py)."""

from django.db.models import Q

from mysite.sweep import Sweep
from reports.models import Report
from reports.services import report_enqueue


def reports_requeue(reports: list[Report]) -> None:
    """Make each report again, for its own period, under its own task id."""
    for report in reports:
        report_enqueue(report, task_id=report.task_id or None)


SWEEPS = [
    Sweep(
        model="reports.Report",
        in_flight=Q(status__in=[Report.Status.PENDING, Report.Status.RUNNING]),
        since="updated_at",
        after="REPORTS_SWEEP_AFTER",
        requeue=reports_requeue,
        task="reports.tasks.generate_sales_report",
    ),
]
