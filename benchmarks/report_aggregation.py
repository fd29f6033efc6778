"""Sales report aggregation: ours against loading every row, and against bare SQL.

    python benchmarks/report_aggregation.py [--orders 1000000] [--repeat 5]

Makes sure the orders table holds exactly --orders orders over the last 365
days (if not, it empties the table and loads them with ``manage.py seed_orders
--count N --days 365 --seed 7``, then VACUUM ANALYZE), and times three ways to
compute the same report for three periods: the previous complete month
(monthly), yesterday (daily) and the 365 days ending yesterday (custom).

- ours: ``sales_aggregates`` (the database sums per local day and per channel),
  then ``sales_summary`` and ``sales_frame``: the service's work minus writing
  the CSV and chart.
- all rows: the tutorial way. Every paid order of the period through the ORM
  (``.values()``) into a pandas DataFrame, converted to TIME_ZONE, grouped by
  day and by channel in pandas; same totals, best day, per-day frame with the
  7-day average. Its totals are checked against ours (to the cent).
- bare SQL: the floor. Only the service's aggregate query (per day and channel), raw SQL on
  ``connection.cursor()``, rows fetched, nothing shaped.

The approaches run interleaved (ours, all rows, bare SQL, then again), after
one untimed warm-up each; the table shows the median wall time. Targets from
the issue: ours at least 10x faster than all rows, within 2x of bare SQL. A
missed target is printed, never an error: this measures, it does not test.

Needs PostgreSQL (the floor is PostgreSQL SQL): DATABASE_URL, default the local
``test`` database; it is migrated first and its orders may be replaced.
"""

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("DEBUG", "false")  # as in production: no query log
os.environ.setdefault("SECRET_KEY", "benchmark-only")

import django  # noqa: E402

django.setup()

import pandas as pd  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from reports.models import Order  # noqa: E402
from reports.services import (  # noqa: E402
    CENT,
    period_bounds,
    sales_aggregates,
    sales_frame,
    sales_summary,
)

DAYS = 365
SEED = 7
TARGET_VS_ALL_ROWS = 10.0  # ours at least this many times faster than all rows
TARGET_VS_FLOOR = 2.0  # ours at most this many times the bare SQL time

TABLE = Order._meta.db_table
# The floor: the service's one aggregate query, written by hand.
AGGREGATE_SQL = (
    f"SELECT (created_at AT TIME ZONE %s)::date AS day, channel, SUM(amount), COUNT(*) "  # noqa: S608
    f"FROM {TABLE} WHERE status = 'paid' AND created_at >= %s AND created_at < %s GROUP BY 1, 2"
)


# --- data ---------------------------------------------------------------------


def reload_reason(wanted: int) -> str | None:
    """Why the orders table must be reloaded, or None when it is as wanted."""
    count = Order.objects.count()
    if count != wanted:
        return f"{count:,} orders, want {wanted:,}"
    newest = Order.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if newest is not None and timezone.localtime(newest).date() < timezone.localdate():
        # Loaded on an earlier day: yesterday is not (fully) covered any more.
        return f"the newest order is from {timezone.localtime(newest):%Y-%m-%d %H:%M}"
    return None


def ensure_orders(wanted: int) -> None:
    reason = reload_reason(wanted)
    if reason is None:
        print(f"Orders: {wanted:,} over {DAYS} days already loaded.")
        return
    print(f"Orders: {reason}; reloading {wanted:,} over {DAYS} days (seed {SEED}).", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE} RESTART IDENTITY")
    started = time.perf_counter()
    subprocess.run(  # noqa: S603  (our own interpreter and code)
        [
            *(sys.executable, "manage.py", "seed_orders"),
            *("--count", str(wanted), "--days", str(DAYS), "--seed", str(SEED)),
        ],
        cwd=ROOT,
        check=True,
    )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")  # fresh statistics, hint bits set
    vacuumed = time.perf_counter() - started
    print(f"Loaded {wanted:,} orders in {loaded:.1f} s (VACUUM ANALYZE {vacuumed:.1f} s).")


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The aware datetimes ``sales_aggregates`` filters on: local midnights."""
    zone = timezone.get_default_timezone()
    begins = datetime.combine(start, datetime.min.time(), tzinfo=zone)
    ends = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return begins, ends


# --- the three approaches -------------------------------------------------------


def ours(start: date, end: date, phases: dict[str, list[float]]) -> dict:
    t0 = time.perf_counter()
    aggregates = sales_aggregates(start=start, end=end)
    t1 = time.perf_counter()
    summary = sales_summary(aggregates)
    t2 = time.perf_counter()
    sales_frame(aggregates, start=start, end=end)
    t3 = time.perf_counter()
    phases["queries"].append(t1 - t0)
    phases["summary"].append(t2 - t1)
    phases["frame"].append(t3 - t2)
    return summary


def all_rows(start: date, end: date) -> dict:
    """As a tutorial would: every row into pandas, then group there."""
    begins, ends = day_bounds(start, end)
    rows = Order.objects.filter(
        status=Order.Status.PAID, created_at__gte=begins, created_at__lt=ends
    ).values("created_at", "amount", "channel")
    df = pd.DataFrame.from_records(rows, columns=["created_at", "amount", "channel"])
    df["amount"] = df["amount"].astype(float)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True).dt.tz_convert(
        str(timezone.get_default_timezone())
    )
    df["day"] = df["created_at"].dt.date

    daily = df.groupby("day")["amount"].agg(["sum", "count"])
    by_channel = df.groupby("channel")["amount"].agg(["sum", "count"])
    days = pd.date_range(start, end, freq="D").date
    frame = daily.reindex(days, fill_value=0)
    frame["sales_7d_avg"] = frame["sum"].rolling(7, min_periods=1).mean()

    total = df["amount"].sum()
    orders = len(df)
    best = daily["sum"].idxmax() if orders else None
    return {
        "total_sales": f"{total:.2f}",
        "orders": orders,
        "average_order_value": f"{total / orders:.2f}" if orders else "0.00",
        "best_day": best.isoformat() if best else None,
        "breakdown": {
            channel: {"sales": f"{row['sum']:.2f}", "orders": int(row["count"])}
            for channel, row in by_channel.iterrows()
        },
    }


def bare_sql(start: date, end: date) -> list:
    """The floor: the aggregate query by hand, rows fetched, nothing else."""
    begins, ends = day_bounds(start, end)
    with connection.cursor() as cursor:
        cursor.execute(AGGREGATE_SQL, [str(timezone.get_default_timezone()), begins, ends])
        return cursor.fetchall()


def check_same(summary: dict, tutorial: dict, floor: list) -> None:
    """All three compute the same report, so comparing their times is fair."""
    assert tutorial["total_sales"] == summary["total_sales"], (tutorial, summary)
    assert tutorial["orders"] == summary["orders"], (tutorial, summary)
    assert tutorial["average_order_value"] == summary["average_order_value"], (tutorial, summary)
    best = summary["best_day"]["date"] if summary["best_day"] else None
    assert tutorial["best_day"] == best, (tutorial, summary)
    assert tutorial["breakdown"] == summary["breakdown"], (tutorial, summary)
    total = sum((row[2] for row in floor), Decimal(0))
    assert str(total.quantize(CENT)) == summary["total_sales"], (total, summary)
    assert sum(row[3] for row in floor) == summary["orders"], summary
    per_channel: dict[str, int] = {}
    for _, channel, _, orders in floor:
        per_channel[channel] = per_channel.get(channel, 0) + orders
    assert per_channel == {
        channel: row["orders"] for channel, row in summary["breakdown"].items()
    }, (per_channel, summary)


# --- measuring ------------------------------------------------------------------


def timed(call: Callable[[], object]) -> float:
    gc.collect()  # the previous approach's garbage is not this one's cost
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def measure(label: str, start: date, end: date, repeat: int) -> dict[str, float]:
    phases: dict[str, list[float]] = {"queries": [], "summary": [], "frame": []}
    summary = ours(start, end, phases)  # warm-ups, untimed, and the fairness check
    check_same(summary, all_rows(start, end), bare_sql(start, end))
    phases = {name: [] for name in phases}

    approaches: dict[str, Callable[[], object]] = {
        "ours": lambda: ours(start, end, phases),
        "all rows": lambda: all_rows(start, end),
        "bare SQL": lambda: bare_sql(start, end),
    }
    times: dict[str, list[float]] = {name: [] for name in approaches}
    for _ in range(repeat):
        for name, call in approaches.items():
            times[name].append(timed(call))

    medians = {name: statistics.median(values) for name, values in times.items()}
    report(
        label,
        start,
        end,
        orders=summary["orders"],
        repeat=repeat,
        times=times,
        medians=medians,
        phases=phases,
    )
    return medians


def report(
    label: str,
    start: date,
    end: date,
    *,
    orders: int,
    repeat: int,
    times: dict[str, list[float]],
    medians: dict[str, float],
    phases: dict[str, list[float]],
) -> None:
    days = (end - start).days + 1
    print(f"\n{label}: {start} to {end} ({days} days), {orders:,} paid orders; median of {repeat}")
    header = f"{'approach':<10}{'median s':>11}{'min s':>10}{'max s':>10}{'vs ours':>10}"
    print(header)
    print("-" * len(header))
    for name, values in times.items():
        print(
            f"{name:<10}{medians[name]:>11.4f}{min(values):>10.4f}{max(values):>10.4f}"
            f"{medians[name] / medians['ours']:>9.2f}x"
        )
    faster = medians["all rows"] / medians["ours"]
    within = medians["ours"] / medians["bare SQL"]
    met = {True: "met", False: "MISSED"}
    print(
        f"ours is {faster:.1f}x faster than all rows "
        f"(target >= {TARGET_VS_ALL_ROWS:.0f}x: {met[faster >= TARGET_VS_ALL_ROWS]})"
    )
    print(
        f"ours is within {within:.2f}x of the floor, bare SQL "
        f"(target <= {TARGET_VS_FLOOR:.0f}x: {met[within <= TARGET_VS_FLOOR]})"
    )
    print(
        "ours, median per step: "
        + ", ".join(f"{name} {statistics.median(v) * 1000:.2f} ms" for name, v in phases.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders in the table")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; medians are reported")
    options = parser.parse_args()
    if options.orders < 1 or options.repeat < 1:
        parser.error("--orders and --repeat must be at least 1")

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
    )
    if connection.vendor != "postgresql":
        raise SystemExit(f"Needs PostgreSQL (the bare SQL floor), not {connection.vendor}.")
    ensure_orders(options.orders)

    yesterday = timezone.localdate() - timedelta(days=1)
    periods = [
        ("Monthly (previous month)", period_bounds(period="monthly")),
        ("Daily (yesterday)", period_bounds(period="daily")),
        (
            "Yearly (custom, 365 days to yesterday)",
            period_bounds(period="custom", start=yesterday - timedelta(days=364), end=yesterday),
        ),
    ]
    print(
        f"Report aggregation on PostgreSQL {connection.pg_version // 10000}, "
        f"TIME_ZONE {timezone.get_default_timezone()}; approaches interleaved, "
        "one warm-up each"
    )
    for label, (start, end) in periods:
        measure(label, start, end, options.repeat)


if __name__ == "__main__":
    main()
