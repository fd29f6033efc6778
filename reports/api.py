"""``/api/v1/reports/``: sales reports, for staff (registered in ``mysite/api/v1.py``)."""

from datetime import date, datetime, timedelta
from typing import Any, Literal

from django.urls import reverse
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from mysite.api.auth import staff_required
from mysite.api.errors import ApiError, responses
from mysite.api.pagination import Page
from mysite.storage import file_response
from reports import selectors, services
from reports.models import Report

router = Router(tags=["reports"])


class ReportIn(Schema):
    period: Literal["daily", "weekly", "monthly", "custom"]
    start: date | None = Field(
        None,
        description=(
            "A day of the period (custom: its first day); none: the previous complete period. "
            f"From {services.EARLIEST_DATE} to today."
        ),
    )
    end: date | None = Field(None, description="Custom reports only: the last day.")


class ReportOut(Schema):
    id: int
    period: str
    start_date: date
    end_date: date
    status: str = Field(description="pending, running, ready or failed.")
    error: str
    summary: dict[str, Any] | None = Field(description="Totals, once ready.")
    row_count: int = Field(description="Orders aggregated.")
    duration_seconds: float | None
    task_id: str
    created_at: datetime
    finished_at: datetime | None
    url: str = Field(description="This report's API address (poll it until ready or failed).")
    page_url: str
    csv_url: str | None = Field(description="Once ready: the CSV download.")
    chart_url: str | None = Field(description="Once ready: the chart (PNG) download.")

    @staticmethod
    def resolve_summary(report: Report) -> dict | None:
        return report.summary if report.status == Report.Status.READY else None

    @staticmethod
    def resolve_duration_seconds(report: Report) -> float | None:
        duration: timedelta | None = report.duration
        return None if duration is None else duration.total_seconds()

    @staticmethod
    def resolve_url(report: Report) -> str:
        return reverse("api-v1:report-get", args=[report.pk])

    @staticmethod
    def resolve_page_url(report: Report) -> str:
        return report.get_absolute_url()

    @staticmethod
    def resolve_csv_url(report: Report) -> str | None:
        return _file_url(report, "csv_file", "api-v1:report-csv")

    @staticmethod
    def resolve_chart_url(report: Report) -> str | None:
        return _file_url(report, "chart", "api-v1:report-chart")


def _file_url(report: Report, field: str, name: str) -> str | None:
    ready = report.status == Report.Status.READY and getattr(report, field)
    return reverse(name, args=[report.pk]) if ready else None


def download(content_type: str, what: str) -> dict:
    """``openapi_extra`` of a download: the file as binary (or a redirect to it)."""
    return {
        "responses": {
            200: {
                "description": f"The {what}, as an attachment.",
                "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
            },
            302: {"description": "With MEDIA_DOWNLOAD_REDIRECT: a presigned URL of the file."},
        }
    }


@router.post("/", response=responses({202: ReportOut}, 403), url_name="report-generate")
def report_generate(request, payload: ReportIn):
    """Queue a sales report (staff). The same period again replaces its report."""
    staff_required(request)
    report = services.report_request(
        period=payload.period, start=payload.start, end=payload.end, user=request.user
    )
    return Status(202, report)


@router.get("/", response=responses({200: list[ReportOut]}, 403), url_name="report-list")
@paginate(Page)
def report_list(request):
    """Every report, the latest period first (staff)."""
    staff_required(request)
    return selectors.reports_latest_first()


@router.get("/{report_id}", response=responses({200: ReportOut}, 403, 404), url_name="report-get")
def report_get(request, report_id: int):
    """One report: its status, and once ready its summary and downloads (staff)."""
    staff_required(request)
    return selectors.report_get(report_id=report_id)


@router.get(
    "/{report_id}/csv",
    response=responses({}, 403, 404, 409),
    url_name="report-csv",
    openapi_extra=download("text/csv", "CSV: one row per day"),
)
def report_csv(request, report_id: int):
    """The report's CSV (staff); 409 until it is ready."""
    return _report_file(request, report_id, "csv_file")


@router.get(
    "/{report_id}/chart",
    response=responses({}, 403, 404, 409),
    url_name="report-chart",
    openapi_extra=download("image/png", "chart (PNG)"),
)
def report_chart(request, report_id: int):
    """The report's chart (staff); 409 until it is ready."""
    return _report_file(request, report_id, "chart")


def _report_file(request, report_id: int, field: str):
    staff_required(request)
    report = selectors.report_get(report_id=report_id)
    stored = getattr(report, field)
    if report.status != Report.Status.READY or not stored:
        raise ApiError(409, f"The report is {report.status}: it has no file yet.")
    return file_response(stored, filename=stored.name.rsplit("/", 1)[-1], as_attachment=True)
