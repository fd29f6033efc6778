"""Properties: any input to the report dates and commands is a value or a clear error.

Bounded (a fixed number of examples, derandomized) so they run in seconds in
``make test``. Nothing is published: the tests' transaction never commits.
"""

import io
import re
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from reports import services
from reports.models import Order, Report, RolledDay
from tests.helpers.properties import BOUNDED, FEW, option, refusal

PERIODS = st.sampled_from(["daily", "weekly", "monthly", "custom"])
DATES = st.dates()  # year 1 to 9999: the ends overflowed
NEAR = st.dates(min_value=date(1965, 1, 1), max_value=date(2035, 12, 31))  # either side
DATE_TEXT = st.one_of(NEAR.map(date.isoformat), DATES.map(date.isoformat), st.text(max_size=12))


@BOUNDED
@given(st.text(max_size=30))
def test_date_parse_gives_a_date_or_says_why(value):
    message = refusal(lambda: services.date_parse(value), services.ReportRejected)
    if message is None:
        assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)
        assert services.date_parse(value).isoformat() == value
    else:
        assert "is not a date (use YYYY-MM-DD)" in message


@BOUNDED
@given(DATES)
def test_date_parse_reads_every_iso_date(value):
    assert services.date_parse(value.isoformat()) == value


@BOUNDED
@given(
    st.one_of(PERIODS, st.text(max_size=8)),
    st.none() | NEAR | DATES,
    st.none() | NEAR | DATES,
    st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 12, 31)),
)
def test_period_bounds_is_a_sane_range_or_refused(period, start, end, today):
    def bounds():
        return services.period_bounds(period=period, start=start, end=end, today=today)

    if refusal(bounds, services.ReportRejected) is None:
        first, last = bounds()
        assert services.EARLIEST_DATE <= first <= last <= today
        assert (last - first).days < 366  # REPORTS_MAX_DAYS
        if start is not None:
            assert first <= start <= last


@pytest.mark.django_db
@FEW
@given(
    st.one_of(PERIODS, st.text(max_size=8)).map(lambda value: [f"--period={value}"]),
    option("start", DATE_TEXT),
    option("end", DATE_TEXT),
)
def test_generate_report_arguments_queue_a_report_or_a_command_error(period, start, end):
    before = Report.objects.count()

    def command():
        call_command("generate_report", *period, *start, *end, stdout=io.StringIO())

    if refusal(command, CommandError) is not None:
        assert Report.objects.count() == before
    else:
        report = Report.objects.order_by("-updated_at").first()
        assert services.EARLIEST_DATE <= report.start_date <= report.end_date
        assert report.end_date <= timezone.localdate()


NOT_ASCII_NUMBERS = st.text(max_size=6).filter(lambda value: not re.fullmatch("[0-9]+", value))


def number(low: int, high: int) -> st.SearchStrategy[str]:
    """Small numbers (so little is written), anything else, and far too large ones."""
    return st.one_of(
        st.integers(low, high).map(str),
        NOT_ASCII_NUMBERS,
        st.sampled_from(["10000001", "9" * 30, "٣", "²", "1e3", "0x10", " 5", "1_0"]),
    )


@pytest.mark.django_db
@FEW
@given(
    number(-3, 30).map(lambda value: [f"--count={value}"]),  # the default is 10,000
    option("days", number(-3, 4000)),
    option("batch", number(-3, 50)),
    option("seed", st.one_of(number(-3, 10), st.integers(2**64, 2**80).map(str))),
)
def test_seed_orders_arguments_seed_or_a_command_error(count, days, batch, seed):
    before = Order.objects.count()

    def command():
        call_command("seed_orders", *count, *days, *batch, *seed, stdout=io.StringIO())

    if refusal(command, CommandError) is None:
        assert 1 <= Order.objects.count() - before <= 30
    else:
        assert Order.objects.count() == before


RECENT = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)).map(date.isoformat)


@pytest.mark.django_db
@FEW
@given(option("from", st.one_of(RECENT, DATE_TEXT)), option("to", st.one_of(RECENT, DATE_TEXT)))
@pytest.mark.slow
def test_rollup_sales_arguments_roll_up_complete_days_or_a_command_error(first, last):
    Order.objects.create(
        created_at=timezone.now() - timedelta(days=5), amount=1, channel="web", customer_ref="C1"
    )

    def command():
        call_command("rollup_sales", *first, *last, stdout=io.StringIO())

    if refusal(command, CommandError) is None:
        days = list(RolledDay.objects.values_list("day", flat=True))
        assert all(services.EARLIEST_DATE <= day < timezone.localdate() for day in days)
