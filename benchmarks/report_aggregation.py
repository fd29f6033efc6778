"""Sales report aggregation: rollups and the live query against loading every row, and bare SQL.

    python benchmarks/report_aggregation.py [--orders 1000000] [--repeat 5] [--rebuilds 1]

Makes sure the orders table holds exactly --orders orders over the last 365
days (if not, it empties the table and loads them with ``manage.py seed_orders
--count N --days 365 --seed 7``, then VACUUM ANALYZE), times a full rebuild of
the daily rollups (``rollup_days`` from the first order's day to yesterday,
--rebuilds times), and times four ways to compute the same report for three
periods: the previous complete month (monthly), yesterday (daily) and the 365
days ending yesterday (custom).

- rollups: ``sales_aggregates`` as shipped: the period's rolled-up days from
  the daily rollups (today and days not rolled up would be queried live), then
  ``sales_summary`` and ``sales_frame``: the service's work minus writing the
  CSV and chart.
- live query: the same with ``rollups=False``: one query grouped by local day
  and channel over the orders (what the service did before rollups).
- all rows: the tutorial way. Every paid order of the period through the ORM
  (``.values()``) into a pandas DataFrame, converted to TIME_ZONE, grouped by
  day and by channel in pandas; same totals, best day, per-day frame with the
  7-day average. Its totals are checked against ours (to the cent).
- bare SQL: the live query's floor. Only its aggregate query (per day and
  channel), raw SQL on ``connection.cursor()``, rows fetched, nothing shaped.

The approaches run interleaved (rollups, live query, all rows, bare SQL, then
again), after one untimed warm-up each; the table shows the median wall time
and the spread (min, max). Targets from issue 15: rollups at least 10x faster
than all rows monthly and 30x yearly. A missed target is printed, never an
error: this measures, it does not test.

The medians are saved to ``var/bench/report_aggregation-<orders>.json``; the
cost curve ``var/bench/report_aggregation.png`` (report time by orders, live
query and rollups) is drawn from every such file present, so running it at 1M
and at 10M (two databases) gives both points.

Needs PostgreSQL (the floor is PostgreSQL SQL): DATABASE_URL, default the local
``test`` database; it is migrated first and its orders may be replaced.
"""

import argparse
import gc
import json
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
from benchmarks.env import production_like  # noqa: E402

production_like()

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks.curves import OUT, curve  # noqa: E402
from reports import rollups  # noqa: E402
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
# Rollups at least this many times faster than all rows (issue 15), per period.
TARGETS_VS_ALL_ROWS = {"monthly": 10.0, "yearly": 30.0}

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


def rebuild(times: int) -> list[float]:
    """Time full rebuilds of the rollups: every day from the first order's to yesterday."""
    first = rollups.first_order_day() or timezone.localdate()  # no orders: nothing to roll
    yesterday = timezone.localdate() - timedelta(days=1)
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        days = rollups.rollup_days(first, yesterday)
        seconds.append(time.perf_counter() - started)
    print(
        f"Full rebuild of the rollups ({days} days, {Order.objects.count():,} orders): "
        f"median {statistics.median(seconds):.2f} s, min {min(seconds):.2f} s, "
        f"max {max(seconds):.2f} s of {times}"
    )
    return seconds


def write_cost(rounds: int, *, inserts: int = 1000, copied: int = 50_000) -> dict:
    """What the rollup triggers cost writers, triggers on against off, interleaved.

    Single-row ORM inserts of today's orders (the ordinary stream: no rollup
    row changes) and one COPY of ``copied`` orders into rolled-up days (a late
    bulk load: the trigger adds them to the rollups). All in one transaction
    that is rolled back, so the table is left as it was.
    """
    from django.db import transaction

    from reports.management.commands.seed_orders import Command as Seed

    seed = Seed()
    rng = np.random.default_rng(SEED)
    now = timezone.now()
    times: dict[str, list[float]] = {
        f"{what}, triggers {state}": [] for what in ("insert", "COPY") for state in ("on", "off")
    }
    with transaction.atomic():
        for _ in range(rounds):
            for state in ("on", "off"):
                with connection.cursor() as cursor:
                    action = "ENABLE" if state == "on" else "DISABLE"
                    cursor.execute(f"ALTER TABLE {TABLE} {action} TRIGGER USER")
                started = time.perf_counter()
                for n in range(inserts):
                    Order.objects.create(
                        created_at=now, amount="9.99", channel="web", customer_ref=f"W{n}"
                    )
                times[f"insert, triggers {state}"].append((time.perf_counter() - started) / inserts)
                rows = seed._rows(rng, copied, now, (3 * 86400.0, 30 * 86400.0))
                started = time.perf_counter()
                seed._copy(rows)
                times[f"COPY, triggers {state}"].append(time.perf_counter() - started)
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
        transaction.set_rollback(True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nWhat the triggers cost writers (median of {rounds}, on/off interleaved):")
    for what, unit, scale in (("insert", "ms per insert", 1000), ("COPY", f"s per {copied:,}", 1)):
        on, off = medians[f"{what}, triggers on"], medians[f"{what}, triggers off"]
        spread = " / ".join(
            f"{min(times[f'{what}, triggers {state}']) * scale:.3f}-"
            f"{max(times[f'{what}, triggers {state}']) * scale:.3f}"
            for state in ("on", "off")
        )
        print(
            f"  {what:<7} on {on * scale:.3f}, off {off * scale:.3f} {unit}: "
            f"{on / off:.2f}x (spread on / off: {spread})"
        )
    return medians


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The aware datetimes ``sales_aggregates`` filters on: local midnights."""
    zone = timezone.get_default_timezone()
    begins = datetime.combine(start, datetime.min.time(), tzinfo=zone)
    ends = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return begins, ends


# --- the three approaches -------------------------------------------------------


def ours(start: date, end: date, phases: dict[str, list[float]], *, use_rollups: bool) -> dict:
    t0 = time.perf_counter()
    aggregates = sales_aggregates(start=start, end=end, rollups=use_rollups)
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
        "best_day": str(best) if best else None,  # a date: str() is its isoformat()
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


def check_same(summary: dict, tutorial: dict, floor: list, rolled: dict) -> None:
    """All four compute the same report, so comparing their times is fair."""
    assert rolled == summary, (rolled, summary)
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


ROLLUPS, LIVE = "rollups", "live query"


def measure(label: str, start: date, end: date, repeat: int) -> dict[str, float]:
    phases: dict[str, dict[str, list[float]]] = {
        approach: {"queries": [], "summary": [], "frame": []} for approach in (ROLLUPS, LIVE)
    }
    # warm-ups, untimed, and the fairness check
    summary = ours(start, end, phases[LIVE], use_rollups=False)
    rolled = ours(start, end, phases[ROLLUPS], use_rollups=True)
    check_same(summary, all_rows(start, end), bare_sql(start, end), rolled)
    for steps in phases.values():
        for values in steps.values():
            values.clear()

    approaches: dict[str, Callable[[], object]] = {
        ROLLUPS: lambda: ours(start, end, phases[ROLLUPS], use_rollups=True),
        LIVE: lambda: ours(start, end, phases[LIVE], use_rollups=False),
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
    return {
        "orders": summary["orders"],
        "medians": medians,
        "min": {name: min(values) for name, values in times.items()},
        "max": {name: max(values) for name, values in times.items()},
    }


def report(
    label: str,
    start: date,
    end: date,
    *,
    orders: int,
    repeat: int,
    times: dict[str, list[float]],
    medians: dict[str, float],
    phases: dict[str, dict[str, list[float]]],
) -> None:
    days = (end - start).days + 1
    print(f"\n{label}: {start} to {end} ({days} days), {orders:,} paid orders; median of {repeat}")
    header = (
        f"{'approach':<12}{'median s':>11}{'min s':>10}{'max s':>10}"
        f"{'all rows /':>12}{'vs rollups':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, values in times.items():
        print(
            f"{name:<12}{medians[name]:>11.4f}{min(values):>10.4f}{max(values):>10.4f}"
            f"{medians['all rows'] / medians[name]:>11.1f}x"
            f"{medians[name] / medians[ROLLUPS]:>11.1f}x"
        )
    faster = medians["all rows"] / medians[ROLLUPS]
    # the spread of the ratio: slowest all rows over fastest rollups, and back
    low = min(times["all rows"]) / max(times[ROLLUPS])
    high = max(times["all rows"]) / min(times[ROLLUPS])
    target = next((t for key, t in TARGETS_VS_ALL_ROWS.items() if key in label.lower()), None)
    verdict = (
        f" (target >= {target:.0f}x: {'met' if faster >= target else 'MISSED'})" if target else ""
    )
    print(f"rollups are {faster:.1f}x faster than all rows (spread {low:.1f}-{high:.1f}x){verdict}")
    print(
        f"rollups are {medians[LIVE] / medians[ROLLUPS]:.1f}x faster than the live query; "
        f"the live query is within {medians[LIVE] / medians['bare SQL']:.2f}x of bare SQL"
    )
    for approach, steps in phases.items():
        print(
            f"{approach}, median per step: "
            + ", ".join(f"{name} {statistics.median(v) * 1000:.2f} ms" for name, v in steps.items())
        )


def save(orders: int, rebuild_seconds: list[float], results: dict[str, dict]) -> None:
    """This run's medians, for the table in the README and the cost curve."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"report_aggregation-{orders}.json"
    path.write_text(
        json.dumps({"orders": orders, "rebuild_s": rebuild_seconds, "periods": results}, indent=1)
    )
    print(f"\nresults: {path}")


def cost_curve() -> None:
    """Report time by orders in the table, live query and rollups, from every saved run."""
    series: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(OUT.glob("report_aggregation-*.json")):
        run = json.loads(path.read_text())
        for period in ("monthly", "yearly"):
            for approach in (LIVE, ROLLUPS):
                seconds = run["periods"][period]["medians"][approach]
                series.setdefault(f"{approach}, {period}", []).append((run["orders"], seconds))
    curve(
        "report_aggregation",
        x_label="orders",
        y_label="s per report",
        series=series,
        title="Sales report: live query vs rollups",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders in the table")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; medians are reported")
    parser.add_argument("--rebuilds", type=int, default=1, help="timed full rebuilds")
    parser.add_argument(
        "--write-rounds", type=int, default=3, help="rounds of the trigger cost (0: skip)"
    )
    options = parser.parse_args()
    if options.orders < 1 or options.repeat < 1 or options.rebuilds < 1:
        parser.error("--orders, --repeat and --rebuilds must be at least 1")

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
    )
    if connection.vendor != "postgresql":
        raise SystemExit(f"Needs PostgreSQL (the bare SQL floor), not {connection.vendor}.")
    ensure_orders(options.orders)
    rebuild_seconds = rebuild(options.rebuilds)
    if options.write_rounds:
        write_cost(options.write_rounds)

    yesterday = timezone.localdate() - timedelta(days=1)
    periods = {
        "monthly": ("Monthly (previous month)", period_bounds(period="monthly")),
        "daily": ("Daily (yesterday)", period_bounds(period="daily")),
        "yearly": (
            "Yearly (custom, 365 days to yesterday)",
            period_bounds(period="custom", start=yesterday - timedelta(days=364), end=yesterday),
        ),
    }
    print(
        f"Report aggregation on PostgreSQL {connection.pg_version // 10000}, "  # type: ignore[attr-defined]
        f"TIME_ZONE {timezone.get_default_timezone()}; approaches interleaved, "
        "one warm-up each"
    )
    results = {
        key: measure(label, start, end, options.repeat)
        for key, (label, (start, end)) in periods.items()
    }
    save(options.orders, rebuild_seconds, results)
    cost_curve()


if __name__ == "__main__":
    main()
