"""Daily sales rollups: paid sales per local day and channel, read by reports.

A report sums ``DailySales`` for every complete day of its period that is
rolled up (``RolledDay``), and queries the orders live for the rest: today,
and any day not rolled up (yet, or any more). Both come from the same grouped
aggregate, so a rolled day holds exactly what the live query would return.

Keeping the rollups exact when orders change after their day was rolled up
is the database's job, so no writer can bypass it (the ORM, ``bulk_create``,
``seed_orders``' COPY, raw SQL, a psql session): triggers on ``reports_order``,
created by migration ``reports.0002_rollups``.

- **PostgreSQL: the triggers adjust the rollup.** Statement-level AFTER
  triggers with transition tables add, per statement, the paid rows it
  inserted and subtract those it deleted; an UPDATE does both (old row out,
  new row in: a refund, a new amount, another day or channel). Chosen over
  marking days dirty because a report then never waits for a re-roll and
  never falls back to scanning orders after a late change: the cost is one
  grouped upsert per writing statement (a 50,000-row COPY batch included),
  paid only by statements touching a rolled-up day. Today is never rolled
  up, so the ordinary stream of new orders changes no rollup row and takes no
  rollup lock. TRUNCATE empties the rollup rows (the rolled days stay rolled,
  with no sales).
- **SQLite: the triggers mark days dirty.** SQLite has no named time zones,
  so a trigger cannot tell an order's local day; instead a row trigger
  un-rolls the days it can fall on (its UTC date, the day before and after).
  Those days are read live until the next roll-up (nightly) rolls them again:
  exact, and simple, for the embedded database of development.

A roll-up holds a SHARE ROW EXCLUSIVE lock on the orders table while it
recomputes its days (in chunks of ``CHUNK_DAYS``): writers wait for it, so no
order can commit between the aggregate and the rollup rows without its
trigger seeing the rolled day; a second roll-up waits too (the mode conflicts
with itself). Readers are not blocked.

The days are local days in TIME_ZONE as the roll-up found it, recorded in
``RollupState``; the triggers use that zone. While it differs from TIME_ZONE,
reports ignore the rollups (read everything live) and the next roll-up (the
command, or the nightly task) rebuilds from scratch.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from reports.models import DailySales, Order, RolledDay, RollupState

logger = logging.getLogger(__name__)

CHUNK_DAYS = 31  # days recomputed per transaction (and per table lock) by a roll-up


@dataclass(frozen=True)
class SalesRow:
    day: date
    channel: str
    sales: Decimal
    orders: int


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs of consecutive days."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last) for first, last in runs]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_default_timezone())


def live_rows(runs: list[tuple[date, date]]) -> list[SalesRow]:
    """Paid orders of the days in ``runs``, summed per local day and channel, in one query.

    Days begin at midnight in TIME_ZONE, so a daylight-saving day has 23 or 25
    hours. The database does the summing in one pass; what comes back is one
    row per day and channel, whatever the number of orders.
    """
    if not runs:
        return []
    within = Q()
    for first, last in runs:
        within |= Q(created_at__gte=_midnight(first), created_at__lt=_midnight(last + timedelta(1)))
    rows = (
        Order.objects.filter(within, status=Order.Status.PAID)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values("day", "channel")
        .annotate(sales=Sum("amount"), orders=Count("id"))
        .order_by()
    )
    return [SalesRow(row["day"], row["channel"], row["sales"], row["orders"]) for row in rows]


def rolled_rows(start: date, end: date) -> tuple[set[date], list[SalesRow]]:
    """The rolled-up days from ``start`` to ``end`` and their rows, in one query.

    Only complete days (before today), and none while the rollups were built
    in another time zone than TIME_ZONE. One statement reads the days and their
    rows together, so a roll-up or an un-roll committing meanwhile cannot pair
    a day with rows it does not hold.
    """
    last = min(end, timezone.localdate() - timedelta(days=1))
    if last < start:
        return set(), []
    rows = (
        RolledDay.objects.filter(day__gte=start, day__lte=last)
        .filter(Exists(RollupState.objects.filter(pk=1, time_zone=settings.TIME_ZONE)))
        .values_list("day", "sales__channel", "sales__sales", "sales__orders")
    )
    days: set[date] = set()
    found = []
    for day, channel, sales, orders in rows:
        days.add(day)
        if orders:  # None: a day without sales; 0: its last sale went afterwards
            found.append(SalesRow(day, channel, sales, orders))
    return days, found


def sales_rows(start: date, end: date, *, rollups: bool = True) -> list[SalesRow]:
    """Paid sales from ``start`` to ``end`` per local day and channel: rollups, then live."""
    if not rollups:
        return live_rows([(start, end)])
    rolled, rows = rolled_rows(start, end)
    every_day = (start + timedelta(days=offset) for offset in range((end - start).days + 1))
    return rows + live_rows(day_runs(day for day in every_day if day not in rolled))


# --- rolling up ------------------------------------------------------------------------


def first_order_day() -> date | None:
    """The local day of the oldest order, or None without orders."""
    oldest = Order.objects.aggregate(oldest=Min("created_at"))["oldest"]
    return timezone.localtime(oldest).date() if oldest else None


def _lock_orders() -> None:
    """Writers and other roll-ups wait until this transaction ends (writers'
    triggers then see its days); readers do not. SQLite: its write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Order._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")


def _same_zone_or_reset() -> bool:
    """Forget every rollup built in another time zone; True if it did. In a transaction."""
    state = RollupState.objects.select_for_update().filter(pk=1).first()
    if state is not None and state.time_zone == settings.TIME_ZONE:
        return False
    DailySales.objects.all().delete()
    RolledDay.objects.all().delete()
    RollupState.objects.update_or_create(
        pk=1, defaults={"time_zone": settings.TIME_ZONE, "updated_at": timezone.now()}
    )
    if state is not None:
        logger.warning(
            "rollups: built in %s, TIME_ZONE is %s: rebuilding", state.time_zone, settings.TIME_ZONE
        )
    return state is not None


def _roll(first: date, last: date) -> None:
    """Recompute the days from ``first`` to ``last``, in one transaction."""
    with transaction.atomic():
        _lock_orders()
        _same_zone_or_reset()
        DailySales.objects.filter(day__gte=first, day__lte=last).delete()
        RolledDay.objects.filter(day__gte=first, day__lte=last).delete()
        now = timezone.now()
        count = (last - first).days + 1
        RolledDay.objects.bulk_create(
            RolledDay(day=first + timedelta(days=offset), rolled_at=now) for offset in range(count)
        )
        DailySales.objects.bulk_create(
            DailySales(day_id=row.day, channel=row.channel, sales=row.sales, orders=row.orders)
            for row in live_rows([(first, last)])
        )


def rollup_days(first: date, last: date) -> int:
    """Roll up (again) every day from ``first`` to ``last``; returns the number of days.

    Only complete days: ``last`` must be before today (``rollup_bounds`` checks).
    """
    rolled = 0
    while first <= last:
        chunk_last = min(last, first + timedelta(days=CHUNK_DAYS - 1))
        _roll(first, chunk_last)
        rolled += (chunk_last - first).days + 1
        first = chunk_last + timedelta(days=1)
    return rolled


def rollup_missing() -> int:
    """The nightly job: roll up each complete day since the first order that is not rolled up.

    After a change of TIME_ZONE that is every day: a rebuild. Returns the
    number of days rolled up.
    """
    yesterday = timezone.localdate() - timedelta(days=1)
    first = first_order_day()
    if first is None or first > yesterday:
        return 0
    with transaction.atomic():
        _lock_orders()
        reset = _same_zone_or_reset()  # before reading which days are rolled
    rolled = set(RolledDay.objects.filter(day__gte=first).values_list("day", flat=True))
    every_day = (first + timedelta(days=offset) for offset in range((yesterday - first).days + 1))
    count = sum(rollup_days(*run) for run in day_runs(d for d in every_day if d not in rolled))
    logger.info("rollups: %s days rolled up%s", count, " (time zone changed)" if reset else "")
    return count
