"""Celery tasks of the reports app: thin, they call services.

Routed to the `reports` queue by CELERY_TASK_ROUTES.
"""

import logging

from celery import shared_task

from mysite.retry import retry_delay
from mysite.storage import StorageUnavailable
from reports import services

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=5, time_limit=15 * 60, soft_time_limit=14 * 60)
def generate_sales_report(
    self, period: str, start: str | None = None, end: str | None = None
) -> dict:
    """Make the sales report of a period. Without dates: the previous complete period, now.

    A beat schedule passes only ``{"period": "daily"}`` (or weekly, monthly).
    Storage trouble retries with the project backoff, for the same period.
    """
    report = services.report_prepare(period=period, start=start, end=end, task_id=self.request.id)
    try:
        report = services.report_generate(report_id=report.pk)
    except StorageUnavailable as exc:
        if self.request.retries >= self.max_retries:
            services.report_fail(report_id=report.pk, reason=f"Storage kept failing: {exc}")
            raise
        same_period = {"period": period, "start": report.start_date.isoformat()}
        if period == report.Period.CUSTOM:
            same_period["end"] = report.end_date.isoformat()
        raise self.retry(
            exc=exc, kwargs=same_period, countdown=retry_delay(self.request.retries)
        ) from exc
    except Exception as exc:
        services.report_fail(report_id=report.pk, reason=f"{type(exc).__name__}: {exc}")
        raise
    return {"report": report.pk, "status": report.status, "orders": report.row_count}


@shared_task(time_limit=5 * 60, soft_time_limit=4 * 60)
def catch_up_reports() -> dict:
    """Periodic: queue the scheduled reports beat did not send (beat down, a DST gap)."""
    return {"queued": [report.pk for report in services.reports_catch_up()]}
