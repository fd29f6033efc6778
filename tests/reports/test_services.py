"""Report periods, sums and shapes, on the database, without the worker."""

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from reports import services
from reports.models import Order, Report

BERLIN = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 11, 22)  # a Sunday


def order(when: datetime, amount: str, *, status="paid", channel="web") -> Order:
    return Order.objects.create(
        created_at=when, amount=Decimal(amount), status=status, channel=channel, customer_ref="C1"
    )


@pytest.mark.parametrize(
    ("period", "start", "end", "expected"),
    [
        ("daily", None, None, (date(2026, 11, 21), date(2026, 11, 21))),
        ("weekly", None, None, (date(2026, 11, 9), date(2026, 11, 15))),
        ("monthly", None, None, (date(2026, 10, 1), date(2026, 10, 31))),
        ("daily", date(2024, 2, 29), None, (date(2024, 2, 29), date(2024, 2, 29))),
        ("weekly", date(2026, 1, 1), None, (date(2025, 12, 29), date(2026, 1, 4))),
        ("monthly", date(2024, 2, 10), None, (date(2024, 2, 1), date(2024, 2, 29))),
        ("monthly", date(2025, 12, 31), None, (date(2025, 12, 1), date(2025, 12, 31))),
        ("custom", date(2026, 1, 1), date(2026, 1, 1), (date(2026, 1, 1), date(2026, 1, 1))),
    ],
)
def test_period_bounds(period, start, end, expected):
    assert services.period_bounds(period=period, start=start, end=end, today=TODAY) == expected


def test_a_week_on_monday_is_the_previous_week():
    monday = date(2026, 11, 16)

    assert services.period_bounds(period="weekly", today=monday) == (
        date(2026, 11, 9),
        date(2026, 11, 15),
    )


def test_january_reports_december():
    assert services.period_bounds(period="monthly", today=date(2027, 1, 1)) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )


@pytest.mark.parametrize(
    ("period", "start", "end", "message"),
    [
        ("yearly", None, None, "Unknown period 'yearly'"),
        ("custom", date(2026, 5, 2), date(2026, 5, 1), "start date 2026-05-02 is after the end"),
        ("custom", date(2026, 5, 1), None, "needs a start date and an end date"),
        ("daily", date(2026, 11, 23), None, "after today"),
        ("weekly", date(2026, 11, 23), None, r"2026-11-23 is after today \(2026-11-22\)"),
        ("monthly", date(2026, 11, 1), None, "ends on 2026-11-30, after today"),
        ("weekly", date(9999, 12, 31), None, "9999-12-31 is after today"),  # was OverflowError
        ("weekly", date(1, 1, 1), None, "0001-01-01 is before 1970-01-01"),
        ("custom", date(1969, 12, 31), date(1970, 1, 1), "1969-12-31 is before 1970-01-01"),
        ("monthly", None, date(2026, 1, 1), "takes a start date only"),
        ("custom", date(2024, 1, 1), date(2026, 1, 1), "covers 732 days; at most 366"),
    ],
)
def test_bad_periods_are_refused_with_the_reason(period, start, end, message):
    with pytest.raises(services.ReportRejected, match=message):
        services.period_bounds(period=period, start=start, end=end, today=TODAY)


@pytest.mark.django_db
def test_sums_match_an_independent_computation_on_random_orders():
    # given: random orders across two months, every status and channel
    rng = random.Random(42)
    start = datetime(2026, 9, 20, tzinfo=BERLIN)
    orders = []
    for _ in range(600):
        when = start + timedelta(seconds=rng.uniform(0, 40 * 86400))
        amount = Decimal(rng.randint(100, 99_999)) / 100
        status = rng.choice(["paid", "paid", "paid", "refunded", "cancelled"])
        channel = rng.choice(["web", "store", "phone", "partner"])
        orders.append(Order(created_at=when, amount=amount, status=status, channel=channel))
    Order.objects.bulk_create(orders)

    # when
    aggregates = services.sales_aggregates(start=date(2026, 10, 1), end=date(2026, 10, 31))
    summary = services.sales_summary(aggregates)

    # then: the same as summing in Python, day by Berlin day
    per_day = defaultdict(Decimal)
    per_channel = defaultdict(Decimal)
    count = 0
    for o in orders:
        day = o.created_at.astimezone(BERLIN).date()
        if o.status == "paid" and date(2026, 10, 1) <= day <= date(2026, 10, 31):
            per_day[day] += o.amount
            per_channel[o.channel] += o.amount
            count += 1
    total = sum(per_day.values())
    assert summary["orders"] == count
    assert summary["total_sales"] == str(total)
    assert summary["average_order_value"] == str((total / count).quantize(Decimal("0.01")))
    best = max(per_day.items(), key=lambda item: (item[1], -item[0].toordinal()))
    assert summary["best_day"] == {"date": best[0].isoformat(), "sales": str(best[1])}
    assert {k: Decimal(v["sales"]) for k, v in summary["breakdown"].items()} == per_channel
    assert {row["day"]: row["sales"] for row in aggregates.daily} == per_day


@pytest.mark.django_db
def test_day_boundaries_follow_the_time_zone_on_a_dst_day():
    # given: 2026-03-29 in Berlin has 23 hours (02:00 -> 03:00)
    order(datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN), "1.00")  # the day before
    order(datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN), "2.00")  # first instant of the day
    order(datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN), "4.00")  # after the jump
    order(datetime(2026, 3, 29, 23, 59, 59, tzinfo=BERLIN), "8.00")  # last second
    order(datetime(2026, 3, 30, 0, 0, tzinfo=BERLIN), "16.00")  # the next day

    aggregates = services.sales_aggregates(start=date(2026, 3, 29), end=date(2026, 3, 29))

    assert [(row["day"], row["sales"], row["orders"]) for row in aggregates.daily] == [
        (date(2026, 3, 29), Decimal("14.00"), 3)
    ]


@pytest.mark.django_db
def test_orders_late_at_night_count_for_the_local_day_not_the_utc_day():
    # 00:30 in Berlin on Oct 2 is 22:30 UTC on Oct 1
    order(datetime(2026, 10, 2, 0, 30, tzinfo=BERLIN), "5.00")

    aggregates = services.sales_aggregates(start=date(2026, 10, 1), end=date(2026, 10, 2))

    assert [row["day"] for row in aggregates.daily] == [date(2026, 10, 2)]


@pytest.mark.django_db
def test_frame_fills_missing_days_with_zero_and_averages_seven_days():
    order(datetime(2026, 10, 1, 12, tzinfo=BERLIN), "70.00")
    order(datetime(2026, 10, 8, 12, tzinfo=BERLIN), "7.00")
    aggregates = services.sales_aggregates(start=date(2026, 10, 1), end=date(2026, 10, 10))

    frame = services.sales_frame(aggregates, start=date(2026, 10, 1), end=date(2026, 10, 10))

    assert len(frame) == 10
    assert list(frame["orders"]) == [1, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert frame.loc[date(2026, 10, 7), "sales_7d_avg"] == pytest.approx(10.0)
    assert frame.loc[date(2026, 10, 8), "sales_7d_avg"] == pytest.approx(1.0)


@pytest.mark.django_db
def test_an_empty_period_gives_a_valid_report_that_says_so(media):
    report = Report.objects.create(
        period="weekly", start_date=date(2026, 11, 9), end_date=date(2026, 11, 15)
    )

    report = services.report_generate(report_id=report.pk)

    assert report.status == Report.Status.READY
    assert report.summary["orders"] == 0
    assert report.summary["message"] == "There were no sales in this period."
    csv = media.read(report.csv_file.name).decode().splitlines()
    assert csv[0] == "date,orders,sales,sales_7d_avg"
    assert len(csv) == 8
    assert csv[1] == "2026-11-09,0,0.00,0.00"
    assert media.read(report.chart.name)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
def test_regenerating_replaces_the_report_and_its_files(media):
    order(timezone.now() - timedelta(days=40), "10.00")
    first = services.report_request(period="monthly", start=date(2026, 10, 1))
    again = services.report_request(period="monthly", start=date(2026, 10, 15))

    assert again.pk == first.pk
    assert Report.objects.count() == 1
    services.report_generate(report_id=first.pk)
    services.report_generate(report_id=first.pk)
    assert len(media.names(f"reports/{first.pk}")) == 2
