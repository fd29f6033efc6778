import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reports import rollups, services


class Command(BaseCommand):
    help = (
        "Rebuild the daily sales rollups of complete days (default: from the first order's "
        "day to yesterday). A change of TIME_ZONE rebuilds every day."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", help="YYYY-MM-DD: the first day to roll up")
        parser.add_argument("--to", dest="last", help="YYYY-MM-DD: the last day (before today)")

    def handle(self, *args, first, last, **options):
        try:
            first, last = rollup_bounds(first, last)
        except services.ReportRejected as exc:
            raise CommandError(str(exc)) from exc
        if first is None:
            self.stdout.write("There are no orders; nothing to roll up.")
            return
        started = time.monotonic()
        days = rollups.rollup_days(first, last)
        self.stdout.write(
            self.style.SUCCESS(
                f"Rolled up {days} days, {first} to {last}, in {time.monotonic() - started:.1f} s."
            )
        )


def rollup_bounds(first: str | None, last: str | None):
    """The days ``--from`` and ``--to`` name, or ``ReportRejected`` (dates as reports read them).

    Only complete days roll up: ``--to`` defaults to yesterday and may not be
    today; ``--from`` defaults to the first order's day. (None, None) when
    there is nothing to roll up.
    """
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    first_day = services.date_check(services.date_parse(first), today=today) if first else None
    last_day = services.date_check(services.date_parse(last), today=today) if last else None
    if last_day == today:
        raise services.ReportRejected(
            f"{today} is today: it is not complete, reports read it live. Use --to {yesterday}."
        )
    if first_day == today:
        raise services.ReportRejected(
            f"{today} is today: it is not complete, reports read it live."
        )
    last_day = last_day or yesterday
    if first_day is None:
        oldest = rollups.first_order_day()
        if oldest is None:
            return None, None
        first_day = min(oldest, last_day)
    if first_day > last_day:
        raise services.ReportRejected(
            f"The start date {first_day} is after the end date {last_day}."
        )
    return first_day, last_day
