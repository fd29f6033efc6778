"""Sales reports: periods, aggregation in the database, pandas shaping, CSV and chart."""

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from celery.schedules import crontab
from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from mysite.enqueue import enqueue
from mysite.errors import Rejected
from mysite.storage import file_replace
from notifications.models import Channel
from notifications.services import NotificationRejected, notification_send
from reports.models import Report
from reports.rollups import sales_rows

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
CRONTAB_LOOKBACK_DAYS = 400  # a slot is searched for this far back: a yearly one is found
# Reports cover days from here to today: nothing we sold is older, and date
# arithmetic near year 1 or 9999 overflows (and matplotlib cannot draw it).
EARLIEST_DATE = date(1970, 1, 1)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ReportRejected(Rejected):
    """A report request we refuse; the message names the problem."""

    code = "report_rejected"


def date_parse(value: str) -> date:
    """``YYYY-MM-DD`` (ASCII digits) to a date, or ``ReportRejected``; range: ``date_check``."""
    try:
        if ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    shown = value if len(value) <= 40 else f"{value[:40]}…"  # noqa: PLR2004
    raise ReportRejected(f"{shown!r} is not a date (use YYYY-MM-DD).")


def date_check(value: date, *, today: date) -> date:
    """``value`` if a report may cover it (EARLIEST_DATE to today), else ``ReportRejected``."""
    if value < EARLIEST_DATE:
        raise ReportRejected(f"{value} is before {EARLIEST_DATE}: reports start there.")
    if value > today:
        raise ReportRejected(f"{value} is after today ({today}): it has not happened.")
    return value


@dataclass(frozen=True)
class Aggregates:
    """What the database returns for a period: small, whatever the number of orders."""

    daily: list[dict]  # {"day": date, "sales": Decimal, "orders": int}, days with sales only
    by_channel: list[dict]  # {"channel": str, "sales": Decimal, "orders": int}


def period_bounds(
    *, period: str, start: date | None = None, end: date | None = None, today: date | None = None
) -> tuple[date, date]:
    """The first and last day (inclusive) of a report, or ``ReportRejected``.

    Without ``start`` a daily, weekly or monthly report covers the previous
    complete period as of ``today`` (beat schedules rely on this); with it, the
    day, Monday-to-Sunday week or month that contains ``start``.
    """
    today = today or timezone.localdate()
    if period not in Report.Period.values:
        raise ReportRejected(f"Unknown period {period!r}: use {', '.join(Report.Period.values)}.")
    for given in filter(None, (start, end)):  # before any arithmetic on them
        date_check(given, today=today)
    if period == Report.Period.CUSTOM:
        if start is None or end is None:
            raise ReportRejected("A custom report needs a start date and an end date.")
    elif end is not None:
        raise ReportRejected(f"A {period} report takes a start date only; its end follows.")
    elif period == Report.Period.DAILY:
        start = start or today - timedelta(days=1)
        end = start
    elif period == Report.Period.WEEKLY:
        anchor = start or today - timedelta(days=7)
        start = anchor - timedelta(days=anchor.weekday())
        end = start + timedelta(days=6)
    else:
        anchor = start or today.replace(day=1) - timedelta(days=1)
        start = anchor.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)

    if start > end:
        raise ReportRejected(f"The start date {start} is after the end date {end}.")
    if end > today:
        raise ReportRejected(
            f"The period ends on {end}, after today ({today}): it has not happened."
        )
    days = (end - start).days + 1
    if days > settings.REPORTS_MAX_DAYS:
        raise ReportRejected(
            f"The range covers {days} days; at most {settings.REPORTS_MAX_DAYS} are allowed."
        )
    return start, end


def report_request(
    *, period: str, start: date | None = None, end: date | None = None, user=None
) -> Report:
    """Validate a request and queue the report; the same period replaces its old report."""
    first, last = period_bounds(period=period, start=start, end=end)
    with transaction.atomic():
        report, _ = Report.objects.update_or_create(
            period=period,
            start_date=first,
            end_date=last,
            defaults={"status": Report.Status.PENDING, "error": "", "requested_by": user},
        )
        report_enqueue(report)
    return report


def report_request_if_missing(*, period: str, start: date) -> Report | None:
    """Queue the report of the period containing ``start`` unless it has one already.

    Any report of the period counts, whatever its status: a pending or running
    one is not queued twice, a failed one is left for staff to look at. The
    unique constraint decides a race: of two callers at once, one creates the
    row and queues it, the other waits for that commit and gets None.
    """
    first, last = period_bounds(period=period, start=start)
    with transaction.atomic():
        report, created = Report.objects.get_or_create(
            period=period, start_date=first, end_date=last
        )
        if not created:
            return None
        report_enqueue(report)
    return report


def report_task_kwargs(report: Report) -> dict:
    """The task arguments that make exactly this report (its period, pinned)."""
    kwargs = {"period": report.period, "start": report.start_date.isoformat()}
    if report.period == Report.Period.CUSTOM:
        kwargs["end"] = report.end_date.isoformat()
    return kwargs


def report_enqueue(report: Report, *, task_id: str | None = None) -> None:
    """Queue the task for ``report`` on commit; the task id is stored on the row.

    ``task_id``: queue it again under the id it had (the sweep)."""
    from reports.tasks import generate_sales_report as generate_sales_report_task

    report.task_id = enqueue(
        generate_sales_report_task, kwargs=report_task_kwargs(report), task_id=task_id
    )
    report.save(update_fields=["task_id", "updated_at"])


def report_prepare(*, period: str, start: str | None, end: str | None, task_id: str) -> Report:
    """The task's first step: the report row for these arguments, marked running."""
    first, last = period_bounds(
        period=period,
        start=date.fromisoformat(start) if start else None,
        end=date.fromisoformat(end) if end else None,
    )
    report, _ = Report.objects.get_or_create(period=period, start_date=first, end_date=last)
    Report.objects.filter(pk=report.pk).update(
        status=Report.Status.RUNNING, task_id=task_id, error="", updated_at=Now()
    )
    return report


def sales_aggregates(*, start: date, end: date, rollups: bool = True) -> Aggregates:
    """Paid orders from ``start`` to ``end`` (inclusive), summed per local day and channel.

    Days begin at midnight in TIME_ZONE, so a daylight-saving day has 23 or 25
    hours. Complete days that are rolled up are read from the daily rollups,
    the others (today, days not rolled up) with one grouped query on the
    orders (``reports.rollups``); ``rollups=False``: everything live. What
    comes back is one row per day and channel, whatever the number of orders.
    """
    rows = sales_rows(start, end, rollups=rollups)
    # Rows per day and channel (at most 366 x channels); the per-day and
    # per-channel totals are exact Decimal sums of those.
    daily: dict[date, dict] = {}
    by_channel: dict[str, dict] = {}
    for row in rows:
        for groups, label in ((daily, "day"), (by_channel, "channel")):
            key = getattr(row, label)  # the row's day or channel
            group = groups.setdefault(key, {label: key, "sales": Decimal(0), "orders": 0})
            group["sales"] += row.sales
            group["orders"] += row.orders
    return Aggregates(
        daily=[daily[day] for day in sorted(daily)],
        by_channel=[by_channel[channel] for channel in sorted(by_channel)],
    )


def sales_frame(aggregates: Aggregates, *, start: date, end: date) -> "pd.DataFrame":
    """One row per day of the period, days without sales as zero, with a 7-day average."""
    import pandas as pd  # here, not at the top: see report_generate

    days = pd.date_range(start, end, freq="D").date
    frame = pd.DataFrame(
        [(row["day"], row["orders"], float(row["sales"])) for row in aggregates.daily],
        columns=["date", "orders", "sales"],
    ).set_index("date")
    frame = frame.reindex(days, fill_value=0)
    frame.index.name = "date"
    frame = frame.astype({"orders": int, "sales": float})
    frame["sales_7d_avg"] = frame["sales"].rolling(7, min_periods=1).mean()
    return frame


def sales_summary(aggregates: Aggregates) -> dict:
    """Totals in exact decimals (as strings in JSON), best day and breakdown."""
    total = sum((row["sales"] for row in aggregates.daily), Decimal(0))
    orders = sum(row["orders"] for row in aggregates.daily)
    if not orders:
        return {
            "total_sales": "0.00",
            "orders": 0,
            "average_order_value": "0.00",
            "best_day": None,
            "breakdown": {},
            "message": "There were no sales in this period.",
        }
    best = max(aggregates.daily, key=lambda row: (row["sales"], -row["day"].toordinal()))
    return {
        "total_sales": str(total.quantize(CENT)),
        "orders": orders,
        "average_order_value": str((total / orders).quantize(CENT)),
        "best_day": {"date": best["day"].isoformat(), "sales": str(best["sales"].quantize(CENT))},
        "breakdown": {
            row["channel"]: {"sales": str(row["sales"].quantize(CENT)), "orders": row["orders"]}
            for row in aggregates.by_channel
        },
        "message": "",
    }


def report_generate(*, report_id: int) -> Report:
    """Aggregate, shape, write the CSV and chart, and mark the report ready.

    pandas and matplotlib are imported by the first report a process makes:
    at the top of the module they cost every web, worker and beat process
    (and every ``manage.py`` command) half a second at start.
    """
    from reports import charts

    started = time.monotonic()
    report = Report.objects.get(pk=report_id)
    aggregates = sales_aggregates(start=report.start_date, end=report.end_date)
    frame = sales_frame(aggregates, start=report.start_date, end=report.end_date)
    summary = sales_summary(aggregates)
    title = f"{report.get_period_display()} sales, {report.start_date} to {report.end_date}"

    stem = f"reports/{report.pk}/sales-{report.period}-{report.start_date}-{report.end_date}"
    csv_name = file_replace(f"{stem}.csv", frame.to_csv(float_format="%.2f").encode())
    chart_name = file_replace(f"{stem}.png", charts.sales_chart_png(frame, title=title))

    Report.objects.filter(pk=report.pk).update(
        status=Report.Status.READY,
        summary=summary,
        csv_file=csv_name,
        chart=chart_name,
        row_count=summary["orders"],
        duration=timedelta(seconds=time.monotonic() - started),
        finished_at=timezone.now(),
        updated_at=Now(),
        error="",
    )
    logger.info("report %s ready: %s orders", report.pk, summary["orders"])
    report = Report.objects.get(pk=report.pk)
    _tell_requester(report)
    return report


def _tell_requester(report: Report) -> None:
    """Whoever asked for the report gets an in-app message linking to it (once per run)."""
    if report.requested_by is None:
        return
    try:
        notification_send(
            recipient=report.requested_by,
            channel=Channel.IN_APP,
            subject="Your report is ready",
            body=f"{report} is ready.",
            link=report.get_absolute_url(),
            dedupe_key=f"report-ready:{report.pk}:{report.task_id}",
        )
    except NotificationRejected as exc:  # e.g. in-app messages turned off
        logger.info("report %s: requester not told: %s", report.pk, exc)


def report_fail(*, report_id: int, reason: str) -> None:
    logger.warning("report %s failed: %s", report_id, reason)
    Report.objects.filter(pk=report_id).update(
        status=Report.Status.FAILED, error=reason, finished_at=timezone.now(), updated_at=Now()
    )


# The catch-up looks at a schedule's latest slot once it is this old: by then
# the run beat sent has made its report row (the task's first step).
CATCH_UP_GRACE = timedelta(minutes=30)
SCHEDULED_PERIODS = (Report.Period.DAILY, Report.Period.WEEKLY, Report.Period.MONTHLY)


def reports_catch_up(
    *, now: datetime | None = None, grace: timedelta = CATCH_UP_GRACE
) -> list[Report]:
    """Queue the scheduled reports beat did not send; return the reports queued.

    For each enabled report schedule (staff's crontab, as edited in the admin),
    the latest slot at least ``grace`` before ``now`` says which period its
    last run should have reported: the previous complete period as of that
    slot's day. A period with no report at all is requested; one with a report
    in any status is left alone (a failed report waits for staff), and a
    disabled schedule is not looked at. Beat down at 01:00, say: the next run
    of this puts it right.
    Only the latest period of each schedule: older gaps need `generate_report`.
    """
    from django_celery_beat.models import PeriodicTask

    # In UTC: aware arithmetic in a local zone is wall-clock arithmetic, and
    # 03:29 CEST less 30 minutes would be 02:59, a time that did not happen.
    cutoff = (now or timezone.now()).astimezone(UTC) - grace
    slots: dict[str, datetime] = {}
    scheduled = PeriodicTask.objects.filter(
        task="reports.tasks.generate_sales_report", enabled=True, crontab__isnull=False
    ).select_related("crontab")
    for periodic_task in scheduled:
        period = _scheduled_period(periodic_task.kwargs)
        if period is None:
            continue
        if periodic_task.crontab is None:  # filtered out above; tells the type checker
            continue
        slot = _crontab_last_slot(periodic_task.crontab.schedule, before=cutoff)
        if slot is not None and (
            period not in slots or slot.timestamp() > slots[period].timestamp()
        ):
            slots[period] = slot

    queued = []
    for period, slot in sorted(slots.items()):
        start, _ = period_bounds(period=period, today=slot.date())
        report = report_request_if_missing(period=period, start=start)
        if report is not None:
            logger.warning(
                "catch-up: no %s report for %s to %s (slot %s): queued report %s",
                period, report.start_date, report.end_date, slot.isoformat(), report.pk,
            )  # fmt: skip
            queued.append(report)
    return queued


def _scheduled_period(kwargs: str) -> str | None:
    """The period a scheduled report task's JSON kwargs name, if it is one beat schedules."""
    try:
        period = json.loads(kwargs or "{}").get("period")
    except (ValueError, AttributeError):
        return None
    return period if period in SCHEDULED_PERIODS else None


def _crontab_last_slot(schedule: crontab, *, before: datetime) -> datetime | None:
    """The latest time at or before ``before`` that ``schedule`` names, in its time zone.

    A wall time that does not exist (the spring-forward gap) is read with the
    offset before the change (PEP 495 fold=0: 02:30 is 03:30 CEST), one that
    happens twice (fall-back) at its first occurrence: the instants celery's
    crontab fires at.
    Day of month, month and day of week must all match, as in celery.
    """
    zone = getattr(schedule, "tz", None) or timezone.get_default_timezone()
    limit = before.astimezone(UTC)
    day = before.astimezone(zone).date()
    for _ in range(CRONTAB_LOOKBACK_DAYS):
        if (
            day.month in schedule.month_of_year
            and day.day in schedule.day_of_month
            and day.isoweekday() % 7 in schedule.day_of_week
        ):
            for hour in sorted(schedule.hour, reverse=True):
                for minute in sorted(schedule.minute, reverse=True):
                    slot = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                    if slot.astimezone(UTC) <= limit:  # compare instants, not wall times
                        return slot
        day -= timedelta(days=1)
    return None
