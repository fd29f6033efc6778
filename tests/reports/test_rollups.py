"""Daily sales rollups: reports from rollups equal the raw aggregate, to the cent.

However orders change after their day was rolled up (the ORM, ``bulk_create``,
raw SQL, ``seed_orders``' COPY, TRUNCATE), on daylight-saving days, with
today's partial day, and across a change of TIME_ZONE. The expected values
come from the live query (``rollups=False``) and from a plain Python sum per
local day (zoneinfo), never from the rollups themselves.
"""

import io
import json
import re
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from mysite.enqueue import enqueue
from reports import rollups, services
from reports.models import DailySales, Order, RolledDay, RollupState
from reports.tasks import rollup_sales
from tests.helpers.properties import FEW
from tests.helpers.services import (
    require,
    wait_for_success,
    while_held,
)

BERLIN = ZoneInfo("Europe/Berlin")
TODAY = timezone.localdate()
YESTERDAY = TODAY - timedelta(days=1)
SPRING = date(2026, 3, 29)  # 23 hours in Berlin
AUTUMN = date(2026, 10, 25)  # 25 hours
CHANNELS = [choice.value for choice in Order.Channel]
STATUSES = [choice.value for choice in Order.Status]
# Days the orders fall on: both DST days and their neighbours, month ends, yesterday, today.
DAYS = sorted(
    {
        day
        for anchor in (SPRING, AUTUMN, date(2026, 10, 1), YESTERDAY)
        for day in (anchor - timedelta(days=1), anchor, anchor + timedelta(days=1))
        if day <= TODAY
    }
    | {TODAY}
)
FIRST, LAST = DAYS[0], DAYS[-1]


def local(day: date, minutes: int, *, fold: int = 0) -> datetime:
    """``minutes`` after local midnight of ``day`` (may be another day), as UTC."""
    wall = datetime.combine(day, time(), tzinfo=BERLIN) + timedelta(minutes=minutes)
    return wall.replace(fold=fold).astimezone(UTC)


# An order near a local midnight (or anywhere in its day), in the past.
ORDER = st.fixed_dictionaries(
    {
        "created_at": st.builds(
            local,
            st.sampled_from(DAYS),
            st.one_of(st.integers(-90, 90), st.integers(0, 24 * 60 - 1)),
        ).filter(lambda when: when <= timezone.now()),
        "amount": st.decimals(min_value=0, max_value=99_999, places=2),
        "status": st.sampled_from(STATUSES),
        "channel": st.sampled_from(CHANNELS),
    }
)


def orders_create(rows: list[dict]) -> list[Order]:
    return Order.objects.bulk_create(Order(customer_ref="C1", **row) for row in rows)


def reference(start: date, end: date) -> dict:
    """The report's numbers computed in Python from every order: the truth."""
    daily: dict = defaultdict(lambda: [Decimal(0), 0])
    channels: dict = defaultdict(lambda: [Decimal(0), 0])
    zone = timezone.get_default_timezone()
    for order in Order.objects.filter(status="paid"):
        day = order.created_at.astimezone(zone).date()
        if start <= day <= end:
            for key, groups in ((day, daily), (order.channel, channels)):
                groups[key][0] += order.amount
                groups[key][1] += 1
    return {
        "daily": sorted((day, sales, count) for day, (sales, count) in daily.items()),
        "by_channel": sorted((ch, sales, count) for ch, (sales, count) in channels.items()),
    }


def flat(aggregates: services.Aggregates) -> dict:
    """In cents: on SQLite, Django's sums are floating point (the live query's too)."""
    return {
        "daily": [
            (row["day"], row["sales"].quantize(services.CENT), row["orders"])
            for row in aggregates.daily
        ],
        "by_channel": [
            (row["channel"], row["sales"].quantize(services.CENT), row["orders"])
            for row in aggregates.by_channel
        ],
    }


def assert_reports_exact(start: date = FIRST, end: date = LAST) -> None:
    """From the rollups, from the live query and in Python: the same report, to the cent."""
    from_rollups = services.sales_aggregates(start=start, end=end)
    live = services.sales_aggregates(start=start, end=end, rollups=False)
    assert from_rollups == live
    assert flat(from_rollups) == reference(start, end)
    assert services.sales_summary(from_rollups) == services.sales_summary(live)


def rolled_days() -> set[date]:
    return set(RolledDay.objects.values_list("day", flat=True))


def fresh() -> None:
    """Hypothesis examples share the test's transaction: start each from nothing."""
    Order.objects.all().delete()
    DailySales.objects.all().delete()
    RolledDay.objects.all().delete()
    RollupState.objects.all().delete()


# --- random order sets ---------------------------------------------------------------


@pytest.mark.django_db
@FEW
@given(st.lists(ORDER, max_size=40), st.sampled_from(DAYS), st.sampled_from(DAYS))
def test_reports_from_rollups_equal_the_raw_aggregate(rows, one, other):
    # given: random orders, rolled up to yesterday
    fresh()
    orders_create(rows)
    rollups.rollup_missing()

    # then: every complete day since the first order is rolled; any period's
    # report is the raw aggregate, to the cent
    if rows:
        first = min(timezone.localtime(row["created_at"]).date() for row in rows)
        expected = {first + timedelta(days=n) for n in range((YESTERDAY - first).days + 1)}
        assert rolled_days() == expected
    assert_reports_exact()
    assert_reports_exact(min(one, other), max(one, other))


CHANGE = st.one_of(
    st.tuples(st.just("insert"), st.lists(ORDER, min_size=1, max_size=5)),
    st.tuples(st.just("raw insert"), ORDER),
    st.tuples(st.just("refund"), st.integers(0, 99)),
    st.tuples(st.just("pay"), st.integers(0, 99)),
    st.tuples(st.just("amount"), st.integers(0, 99), st.decimals(0, 999, places=2)),
    st.tuples(st.just("move"), st.integers(0, 99), ORDER.map(lambda row: row["created_at"])),
    st.tuples(st.just("channel"), st.integers(0, 99), st.sampled_from(CHANNELS)),
    st.tuples(st.just("delete"), st.integers(0, 99)),
    st.tuples(st.just("raw delete day"), st.sampled_from(DAYS)),
    st.tuples(st.just("bulk refund"), st.sampled_from(CHANNELS)),
)


def change_apply(change: tuple) -> None:
    """One late write, the way some part of a real site might make it."""
    kind, *args = change
    ids = list(Order.objects.order_by("id").values_list("id", flat=True))
    table = Order._meta.db_table
    if kind == "insert":
        orders_create(args[0])
    elif kind == "raw insert":
        row = args[0]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (created_at, amount, status, customer_ref, channel) "  # noqa: S608
                "VALUES (%s, %s, %s, 'C2', %s)",
                [row["created_at"], row["amount"], row["status"], row["channel"]],
            )
    elif kind == "raw delete day":
        begins = local(args[0], 0)
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE created_at >= %s AND created_at < %s",  # noqa: S608
                [begins, begins + timedelta(hours=12)],
            )
    elif kind == "bulk refund":
        Order.objects.filter(channel=args[0], status="paid").update(status="refunded")
    elif ids:
        order = Order.objects.get(pk=ids[args[0] % len(ids)])
        if kind == "refund":
            order.status = "refunded"
        elif kind == "pay":
            order.status = "paid"
        elif kind == "amount":
            order.amount = args[1]
        elif kind == "move":
            order.created_at = args[1]
        elif kind == "channel":
            order.channel = args[1]
        if kind == "delete":
            order.delete()
        else:
            order.save()


@pytest.mark.django_db
@FEW
@given(st.lists(ORDER, max_size=30), st.lists(CHANGE, max_size=8))
def test_late_writes_after_the_roll_up_are_in_the_next_report(rows, changes):
    # given: orders rolled up
    fresh()
    orders_create(rows)
    rollups.rollup_missing()
    rolled = rolled_days()

    # when: orders are inserted, refunded, paid, changed, moved and deleted afterwards
    for change in changes:
        change_apply(change)

    # then: the reports still equal the raw aggregate; on PostgreSQL without
    # falling back to the live query (the triggers adjusted the rollups)
    assert_reports_exact()
    if connection.vendor == "postgresql":
        assert rolled_days() == rolled


# --- bulk loads ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_bulk_load_after_the_roll_up_is_reflected():
    # given: a month of orders, rolled up
    call_command("seed_orders", count=3000, days=30, seed=1, stdout=io.StringIO())
    rollups.rollup_missing()
    assert_reports_exact(TODAY - timedelta(days=40), TODAY)

    # when: another load into the same days (COPY on PostgreSQL), and a bulk_create
    call_command("seed_orders", count=5000, days=30, seed=2, stdout=io.StringIO())
    orders_create(
        [
            {"created_at": local(YESTERDAY, 60 * hour), "amount": Decimal("10.01")}
            | {"status": "paid", "channel": CHANNELS[hour % 4]}
            for hour in range(24)
        ]
    )

    # then
    assert_reports_exact(TODAY - timedelta(days=40), TODAY)


@pytest.mark.django_db
def test_truncate_empties_the_rolled_days():
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    call_command("seed_orders", count=500, days=10, seed=3, stdout=io.StringIO())
    rollups.rollup_missing()

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Order._meta.db_table}")
    orders_create([{"created_at": local(YESTERDAY, 600), "amount": Decimal(5), "channel": "web"}])

    assert YESTERDAY in rolled_days()
    assert_reports_exact(TODAY - timedelta(days=20), TODAY)


@pytest.mark.django_db(transaction=True)
def test_an_order_written_during_a_roll_up_waits_for_it_and_is_counted(monkeypatch):
    """The roll-up has summed yesterday but not committed; an order for
    yesterday written then waits for it (its table lock), and its trigger, which
    then sees the rolled day, adds it. Without the lock it would be lost."""
    require(connection.vendor == "postgresql", "concurrent writers need PostgreSQL")
    orders_create([{"created_at": local(YESTERDAY, 600), "amount": Decimal(1), "channel": "web"}])
    summed, release = threading.Event(), threading.Event()
    live_rows = rollups.live_rows

    def live_rows_then_wait(runs):
        rows = live_rows(runs)
        if threading.current_thread().name == "roll-up":
            summed.set()
            release.wait(timeout=30)
        return rows

    monkeypatch.setattr(rollups, "live_rows", live_rows_then_wait)

    def run(call):
        def target():
            try:
                call()
            finally:
                connection.close()

        return target

    roll_up = threading.Thread(
        target=run(lambda: rollups.rollup_days(YESTERDAY, YESTERDAY)), name="roll-up"
    )
    late = {"created_at": local(YESTERDAY, 700), "amount": Decimal("2.00"), "channel": "web"}
    writer = threading.Thread(target=run(lambda: orders_create([late])), name="writer")
    while_held(
        roll_up, writer, holding=summed, release=release, what="the writer to wait for the roll-up"
    )

    row = DailySales.objects.get(day=YESTERDAY)
    assert (row.sales, row.orders) == (Decimal("3.00"), 2)
    assert_reports_exact(YESTERDAY, YESTERDAY)


# --- days ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("day", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
def test_a_dst_day_is_rolled_up_with_its_own_hours(day):
    # given: orders on both sides of each midnight, and in the hour that
    # happens twice (fall back) or not at all (spring forward)
    orders_create(
        [
            {"created_at": local(day, minutes), "amount": Decimal(amount), "channel": "web"}
            for minutes, amount in [(-1, "1.00"), (0, "2.00"), (150, "4.00"), (1439, "8.00")]
        ]
        + [{"created_at": local(day, 150, fold=1), "amount": Decimal("16.00"), "channel": "web"}]
        + [{"created_at": local(day, 24 * 60), "amount": Decimal("32.00"), "channel": "web"}]
    )
    rollups.rollup_days(day - timedelta(days=1), day + timedelta(days=1))

    # then: the day holds what happened between its two local midnights,
    # 23 or 25 hours apart; the rollup row says so
    row = DailySales.objects.get(day=day)
    hours = (local(day + timedelta(days=1), 0) - local(day, 0)) / timedelta(hours=1)
    assert hours == (23 if day == SPRING else 25)
    # 02:30 twice (or not at all: then 03:30 CEST and 01:30 CET) and 23:59, not
    # the minute before midnight or midnight after
    assert (row.sales, row.orders) == (Decimal("30.00"), 4)
    assert_reports_exact(day - timedelta(days=1), day + timedelta(days=1))


@pytest.mark.django_db
def test_today_is_read_live_and_never_rolled_up():
    # given: orders yesterday and today, rolled up
    orders_create(
        [
            {"created_at": local(YESTERDAY, 600), "amount": Decimal("10.00"), "channel": "web"},
            {"created_at": timezone.now() - timedelta(seconds=1), "amount": Decimal("2.50")}
            | {"channel": "store"},
        ]
    )
    rollups.rollup_missing()
    assert TODAY not in rolled_days()

    # when: another order today
    orders_create([{"created_at": timezone.now(), "amount": Decimal("1.25"), "channel": "web"}])

    # then: a report to today holds today's partial day, live
    report = services.sales_aggregates(start=YESTERDAY, end=TODAY)
    assert [(row["day"], row["sales"], row["orders"]) for row in report.daily][-1] == (
        TODAY,
        Decimal("3.75"),
        2,
    )
    assert_reports_exact(YESTERDAY, TODAY)


@pytest.mark.django_db
def test_a_day_not_rolled_up_is_read_live_between_rolled_days():
    orders_create(
        [
            {"created_at": local(YESTERDAY - timedelta(days=n), 600), "amount": Decimal(n)}
            | {"channel": "web"}
            for n in range(1, 8)
        ]
    )
    rollups.rollup_missing()
    RolledDay.objects.filter(day=YESTERDAY - timedelta(days=3)).delete()

    assert_reports_exact(YESTERDAY - timedelta(days=7), YESTERDAY)


# --- the time zone ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_change_of_time_zone_ignores_the_rollups_then_rebuilds(settings):
    # given: orders near midnight rolled up in Berlin
    orders_create(
        [
            {"created_at": local(YESTERDAY - timedelta(days=n), m), "amount": Decimal("1.10")}
            | {"channel": "web"}
            for n in range(1, 5)
            for m in (-30, 30, 600)
        ]
    )
    rollups.rollup_missing()
    start, end = YESTERDAY - timedelta(days=6), YESTERDAY
    berlin = services.sales_aggregates(start=start, end=end)

    # when: the site moves to New York (other local days)
    settings.TIME_ZONE = "America/New_York"

    # then: its reports ignore the Berlin rollups, and are New York's days
    assert services.sales_aggregates(start=start, end=end) != berlin
    assert_reports_exact(start, end)

    # when: the nightly roll-up runs; then: every day again, in New York
    assert rollups.rollup_missing() >= 5
    assert RollupState.objects.get().time_zone == "America/New_York"
    assert timezone.localdate() - timedelta(days=1) in rolled_days()
    orders_create([{"created_at": local(YESTERDAY, -30), "amount": Decimal(7), "channel": "web"}])
    assert_reports_exact(start, end)


# --- the command and the task -----------------------------------------------------------


@pytest.mark.django_db
def test_rollup_sales_rebuilds_a_range(capsys):
    orders_create(
        [
            {"created_at": local(YESTERDAY - timedelta(days=n), 600), "amount": Decimal(n)}
            | {"channel": "phone"}
            for n in range(10)
        ]
    )
    out = io.StringIO()

    call_command("rollup_sales", stdout=out)
    assert "Rolled up 10 days" in out.getvalue()
    DailySales.objects.update(sales=0)  # as if it had gone wrong
    call_command(
        "rollup_sales", f"--from={YESTERDAY - timedelta(days=9)}", f"--to={YESTERDAY}", stdout=out
    )

    assert rolled_days() == {YESTERDAY - timedelta(days=n) for n in range(10)}
    assert_reports_exact(YESTERDAY - timedelta(days=9), YESTERDAY)


@pytest.mark.django_db
def test_rollup_sales_without_orders_does_nothing():
    out = io.StringIO()
    call_command("rollup_sales", stdout=out)
    assert "nothing to roll up" in out.getvalue()
    assert not RolledDay.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from=2026-13-01"], "'2026-13-01' is not a date (use YYYY-MM-DD)."),
        (["--to=yesterday"], "'yesterday' is not a date (use YYYY-MM-DD)."),
        (["--from=1969-12-31"], "1969-12-31 is before 1970-01-01: reports start there."),
        ([f"--to={TODAY + timedelta(days=1)}"], "it has not happened"),
        ([f"--to={TODAY}"], f"{TODAY} is today: it is not complete"),
        ([f"--from={TODAY}"], f"{TODAY} is today: it is not complete"),
        (
            [f"--from={YESTERDAY}", f"--to={YESTERDAY - timedelta(days=1)}"],
            f"The start date {YESTERDAY} is after the end date {YESTERDAY - timedelta(days=1)}.",
        ),
    ],
)
def test_rollup_sales_refuses_bad_dates(arguments, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("rollup_sales", *arguments, stdout=io.StringIO())
    assert not RolledDay.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_nightly_task_on_the_worker_rolls_up_the_missing_days(celery_worker):
    # given: a week of orders, three days rolled up already
    orders_create(
        [
            {"created_at": local(YESTERDAY - timedelta(days=n), 600), "amount": Decimal("3.30")}
            | {"channel": "web"}
            for n in range(7)
        ]
    )
    rollups.rollup_days(YESTERDAY - timedelta(days=2), YESTERDAY)

    # when: beat's entry runs on the real worker
    result = wait_for_success(enqueue(rollup_sales))

    # then: the four missing days were rolled up
    assert json.loads(result.result) == {"days": 4}
    assert rolled_days() == {YESTERDAY - timedelta(days=n) for n in range(7)}
    assert_reports_exact(YESTERDAY - timedelta(days=6), YESTERDAY)
