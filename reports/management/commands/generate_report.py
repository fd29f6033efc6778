from datetime import date

from django.core.management.base import BaseCommand, CommandError

from mysite.commands import timeout_argument, wait_with_progress
from reports import services
from reports.models import Report


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (use YYYY-MM-DD).") from exc


class Command(BaseCommand):
    help = "Queue a sales report; without --start, the previous complete period."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="daily, weekly, monthly or custom")
        parser.add_argument("--start", help="YYYY-MM-DD: a day of the period (custom: its start)")
        parser.add_argument("--end", help="YYYY-MM-DD: the last day (custom only)")
        parser.add_argument("--wait", action="store_true", help="wait and print the summary")
        timeout_argument(parser)

    def handle(self, *args, period, start, end, wait, timeout, **options):
        try:
            report = services.report_request(
                period=period,
                start=iso_date(start) if start else None,
                end=iso_date(end) if end else None,
            )
        except services.ReportRejected as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Report {report.pk} queued: {report} (task {report.task_id}).")
        if not wait:
            return

        def check():
            report.refresh_from_db()
            return None, report.status in {Report.Status.READY, Report.Status.FAILED}

        wait_with_progress(self.stdout, check, timeout=timeout, what="report")
        if report.status == Report.Status.FAILED:
            raise CommandError(f"Report {report.pk} failed: {report.error}")
        summary = report.summary
        self.stdout.write(
            self.style.SUCCESS(
                f"Report {report.pk} ready: {summary['orders']} orders, "
                f"{summary['total_sales']} in sales. CSV: {report.csv_file.name}"
            )
        )
