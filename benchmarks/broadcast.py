"""Broadcast N in-app notifications: chunked dispatch against one task per notification.

Both variants run in the same invocation, through the same real worker process
(``celery -A mysite worker -Q notifications``, prefork x2 by default: the
Procfile's shape, and on a small machine the kinder one to the one-task-each
variant, which is CPU-bound on per-task overhead), on the same Redis and
database, so their ratio is fair on a noisy machine even where the absolute
numbers are not.

- chunked (ours): ``broadcast_send(audience="all", channel="in_app", ...)``:
  one bulk INSERT of the rows, then one ``send_broadcast_chunk`` task per
  ``NOTIFICATION_BROADCAST_CHUNK`` (500) ids. Done when the Broadcast row has
  ``finished_at``.
- one task each (the seed documents' way): the same rows created in bulk the
  same way (status queued, a dedupe key unique to the run, no broadcast row),
  then ``group(send_notification.s(id) for id in ids).apply_async()``. Done
  when every row is sent (a COUNT polled every 0.5 s).

Each time runs from before the rows are created until the last notification
is delivered, as the worker stamped it (``finished_at`` / the latest
``sent_at``; worker and script share the clock). "call s" is how long the
caller waited before getting control back (rows created and tasks published).
The rows (and their task results) are deleted after each variant. Target from
the issue: chunked at least 20x the notifications/s of one task each. A miss
is printed, never an error: this measures, it does not test.

    python benchmarks/broadcast.py [--notifications 100000] [--pool prefork --concurrency 2]

The cost curve (ours only): ``--curve 10000 100000 1000000 [--rounds 3]`` runs
the chunked variant at each size (ascending: the users are only ever added),
median of the rounds, and prints seconds per 1,000 notifications (flat is the
goal) as a table and ``var/bench/broadcast.png`` (benchmarks/curves.py).

Needs PostgreSQL and Redis. DATABASE_URL defaults to a dedicated local database
``bench_broadcast`` (created if missing, then migrated), because an
``audience="all"`` broadcast reaches every active user: the script keeps exactly
N active users ``bench-00000``... there and refuses to run if any other user is
active. BENCH_REDIS_URL (default redis://127.0.0.1:6379/12) is a database
number this script empties.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS_URL = os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
DATABASE_URL = os.environ.setdefault(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_broadcast"
)
os.environ["CELERY_BROKER_URL"] = REDIS_URL
from benchmarks.env import production_like  # noqa: E402

production_like()


def database_create_if_missing(url: str) -> None:
    """Create the PostgreSQL database ``url`` names if it does not exist yet."""
    import environ
    from psycopg2 import sql

    from benchmarks.postgres import server_cursor

    config = environ.Env.db_url_config(url)
    if "postgresql" not in config["ENGINE"]:
        return
    with server_cursor(config) as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
            print(f"Created database {config['NAME']!r}.")


database_create_if_missing(DATABASE_URL)

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from celery import group  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_celery_results.models import TaskResult  # noqa: E402

from benchmarks.curves import curve  # noqa: E402
from benchmarks.workers import worker_start  # noqa: E402
from mysite.celery import app as celery_app  # noqa: E402
from mysite.enqueue import enqueue  # noqa: E402
from notifications.models import Broadcast, Channel, ContactPoint, Notification  # noqa: E402
from notifications.services import broadcast_send  # noqa: E402
from notifications.tasks import send_broadcast_chunk, send_notification  # noqa: E402

User = get_user_model()
PREFIX = "bench-"
BODY = "Benchmark broadcast: scheduled maintenance tonight at 22:00."
TARGET = 20.0  # chunked at least this many times the notifications/s of one task each
WARM_UP = 20
TASK_NAMES = [send_notification.name, send_broadcast_chunk.name]
FINAL = [Notification.Status.SENT, Notification.Status.FAILED]
client = redis.Redis.from_url(REDIS_URL)


@dataclass
class Outcome:
    label: str
    tasks: int
    call_seconds: float  # until the caller had control back
    seconds: float  # until the last notification was delivered
    sent: int
    failed: int


# --- data ---------------------------------------------------------------------


def username(index: int) -> str:
    return f"{PREFIX}{index:05d}"


def users_prepare(count: int) -> None:
    """Exactly ``count`` active users bench-00000...; refuse if anyone else is active."""
    wanted = {username(i) for i in range(count)}
    bench = User.objects.filter(username__startswith=PREFIX)
    existing = set(bench.values_list("username", flat=True))
    surplus = sorted(existing - wanted)
    for start in range(0, len(surplus), 5000):
        User.objects.filter(username__in=surplus[start : start + 5000]).delete()
    missing = sorted(wanted - existing)
    if missing:
        print(f"Creating {len(missing)} benchmark users...", flush=True)
    for start in range(0, len(missing), 50_000):  # bulk_create holds its objects: a slice at a time
        User.objects.bulk_create(
            (
                User(username=name, password="!", is_active=True)  # noqa: S106  (unusable)
                for name in missing[start : start + 50_000]
            ),
            batch_size=5000,
        )
    bench.filter(is_active=False).update(is_active=True)
    ContactPoint.objects.filter(user__username__startswith=PREFIX).delete()  # nobody opted out
    others = User.objects.filter(is_active=True).exclude(username__startswith=PREFIX)
    if others.exists() or bench.count() != count:
        names = ", ".join(others.order_by("pk").values_list("username", flat=True)[:5])
        raise SystemExit(
            f"The database has other active users ({names}...): an audience='all' broadcast "
            "would reach them too. Use an empty database, e.g. the default "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_broadcast."
        )


def leftovers_delete(since=None) -> None:
    """Benchmark notifications, broadcasts and (since ``since``) their task results."""
    Notification.objects.filter(recipient__username__startswith=PREFIX).delete()
    Broadcast.objects.filter(body=BODY).delete()
    if since is not None:
        TaskResult.objects.filter(task_name__in=TASK_NAMES, date_created__gte=since).delete()


def vacuum() -> None:
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        for model in (Notification, Broadcast, TaskResult, User):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# --- worker -------------------------------------------------------------------


def final_count(rows) -> int:
    return rows.filter(status__in=FINAL).count()


def wait_final(label: str, rows, count: int, timeout: float, interval: float) -> float:
    """Poll until ``count`` of ``rows`` are sent or failed; return when that was seen."""
    deadline = time.monotonic() + timeout
    report_at = time.monotonic() + 10
    while (done := final_count(rows)) < count:
        now = time.monotonic()
        if now > deadline:
            raise SystemExit(f"{label}: timed out after {timeout:.0f} s ({done}/{count} done)")
        if now > report_at:
            print(f"  {label}: {done}/{count} delivered", flush=True)
            report_at = now + 10
        time.sleep(interval)
    return time.time()


def warm_up(recipient_ids: list[int]) -> None:
    """A few single tasks, so every worker process has its imports and connection."""
    key = f"bench-warm-up:{uuid.uuid4().hex}"
    rows = Notification.objects.filter(dedupe_key=key)
    Notification.objects.bulk_create(
        Notification(recipient_id=pk, channel=Channel.IN_APP, body=BODY, dedupe_key=key)
        for pk in recipient_ids
    )
    for pk in rows.values_list("pk", flat=True):
        enqueue(send_notification, args=[pk])
    wait_final("warm-up", rows, len(recipient_ids), timeout=120, interval=0.1)
    rows.delete()


# --- the variants -------------------------------------------------------------


def chunked(count: int, timeout: float) -> Outcome:
    start = time.time()
    broadcast = broadcast_send(audience=Broadcast.Audience.ALL, channel=Channel.IN_APP, body=BODY)
    called = time.time()
    if broadcast.total != count:
        raise SystemExit(f"The broadcast reached {broadcast.total} users, not {count}.")
    deadline = time.monotonic() + timeout
    report_at = time.monotonic() + 10
    while (row := Broadcast.objects.get(pk=broadcast.pk)).finished_at is None:
        now = time.monotonic()
        if now > deadline:
            raise SystemExit(f"chunked: timed out after {timeout:.0f} s ({row})")
        if now > report_at:
            print(f"  chunked: {row.sent + row.failed}/{count} delivered", flush=True)
            report_at = now + 10
        time.sleep(0.1)
    return Outcome(
        label="chunked (ours)",
        tasks=-(-count // settings.NOTIFICATION_BROADCAST_CHUNK),
        call_seconds=called - start,
        seconds=row.finished_at.timestamp() - start,
        sent=row.sent,
        failed=row.failed,
    )


def one_task_each(count: int, timeout: float) -> Outcome:
    key = f"bench-each:{uuid.uuid4().hex}"
    rows = Notification.objects.filter(dedupe_key=key)
    start = time.time()
    # As broadcast_send creates them, minus the Broadcast row (the seed's way
    # has none; with one, each send would also count itself on it).
    recipient_ids = list(
        User.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
    )
    with transaction.atomic():
        Notification.objects.bulk_create(
            (
                Notification(recipient_id=pk, channel=Channel.IN_APP, body=BODY, dedupe_key=key)
                for pk in recipient_ids
            ),
            batch_size=5000,
        )
        ids = list(rows.order_by("pk").values_list("pk", flat=True))
    group(send_notification.s(pk) for pk in ids).apply_async()
    called = time.time()
    seen = wait_final("one task each", rows, count, timeout, interval=0.5)
    failed = rows.filter(status=Notification.Status.FAILED).count()
    last_sent = rows.aggregate(last=Max("sent_at"))["last"]
    end = last_sent.timestamp() if not failed and last_sent else seen
    return Outcome(
        label="one task each (group)",
        tasks=len(ids),
        call_seconds=called - start,
        seconds=end - start,
        sent=count - failed,
        failed=failed,
    )


# --- the cost curve -------------------------------------------------------------


def curve_show(runs: dict[int, list[Outcome]]) -> None:
    """The table so far, and var/bench/broadcast.png."""
    header = (
        f"{'notifications':>14}{'tasks':>7}{'call s':>8}{'seconds':>9}{'notif/s':>9}"
        f"{'s per 1,000':>13}{'spread':>17}{'failed':>8}"
    )
    print(header)
    print("-" * len(header))
    points = []
    for count, outcomes in runs.items():
        per_1000 = sorted(1000 * o.seconds / count for o in outcomes)
        median = statistics.median(per_1000)
        seconds = statistics.median(o.seconds for o in outcomes)
        points.append((count, median))
        print(
            f"{count:>14,}{outcomes[0].tasks:>7}"
            f"{statistics.median(o.call_seconds for o in outcomes):>8.1f}{seconds:>9.1f}"
            f"{count / seconds:>9.0f}{median:>13.3f}"
            f"{f'{per_1000[0]:.3f}-{per_1000[-1]:.3f}':>17}"
            f"{sum(o.failed for o in outcomes):>8}"
        )
    curve(
        "broadcast",
        x_label="notifications",
        y_label="s per 1,000",
        series={"chunked (ours)": points},
        title="In-app broadcast: seconds per 1,000 notifications",
    )


def cost_curve(sizes: list[int], rounds: int, options) -> None:
    """The chunked variant at each size, median of ``rounds``: seconds per 1,000."""
    since = timezone.now()
    leftovers_delete()
    print(
        f"Broadcast cost curve: chunked (ours), {', '.join(f'{n:,}' for n in sizes)} in-app "
        f"notifications, median of {rounds}; one {options.pool} worker x{options.concurrency}",
        flush=True,
    )
    runs: dict[int, list[Outcome]] = {}
    process, log = worker_start(
        celery_app, "-Q", "notifications", "-P", options.pool, "-c", str(options.concurrency)
    )
    try:
        for count in sorted(sizes):
            started = time.monotonic()
            users_prepare(count)
            vacuum()
            print(f"  {count:,} users ready ({time.monotonic() - started:.0f} s)", flush=True)
            if count == min(sizes):
                warm_up(list(User.objects.order_by("pk").values_list("pk", flat=True)[:WARM_UP]))
            for round_number in range(1, rounds + 1):
                outcome = chunked(count, options.timeout)
                runs.setdefault(count, []).append(outcome)
                print(
                    f"  {count:,} round {round_number}: {outcome.seconds:.1f} s "
                    f"({1000 * outcome.seconds / count:.3f} s per 1,000; "
                    f"call {outcome.call_seconds:.1f} s)",
                    flush=True,
                )
                leftovers_delete(since)
                vacuum()
            curve_show(runs)  # after each size: a run stopped later keeps what it measured
    finally:
        process.terminate()
        process.wait(timeout=60)
        client.flushdb()
        leftovers_delete(since)

    if any(o.failed for outcomes in runs.values() for o in outcomes):
        print(f"Some notifications failed; see the worker log {log}")


# --- main ---------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=100_000, help="recipients")
    parser.add_argument("--pool", choices=["prefork", "threads"], default="prefork")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes/threads")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per variant")
    parser.add_argument(
        "--curve", type=int, nargs="+", metavar="N", help="the cost curve at these sizes (ours)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size (--curve)")
    options = parser.parse_args()
    count = options.notifications

    if options.curve:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
        )
        client.flushdb()
        cost_curve(options.curve, options.rounds, options)
        return

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
    )
    client.flushdb()
    since = timezone.now()
    leftovers_delete()
    users_prepare(count)
    vacuum()
    print(
        f"Broadcast: {count} in-app notifications per variant, one {options.pool} worker "
        f"x{options.concurrency} on the notifications queue, Redis broker, "
        f"{connection.vendor} database {connection.settings_dict['NAME']!r}",
        flush=True,
    )

    outcomes = []
    process, log = worker_start(
        celery_app, "-Q", "notifications", "-P", options.pool, "-c", str(options.concurrency)
    )
    try:
        warm_up(list(User.objects.order_by("pk").values_list("pk", flat=True)[:WARM_UP]))
        for variant in (chunked, one_task_each):
            outcome = variant(count, options.timeout)
            outcomes.append(outcome)
            print(f"  {outcome.label}: {outcome.seconds:.1f} s", flush=True)
            leftovers_delete(since)
            vacuum()
    finally:
        process.terminate()
        process.wait(timeout=60)
        client.flushdb()
        leftovers_delete(since)

    header = f"{'variant':<24}{'tasks':>8}{'call s':>9}{'seconds':>9}{'notif/s':>10}{'failed':>8}"
    print(header)
    print("-" * len(header))
    for outcome in outcomes:
        print(
            f"{outcome.label:<24}{outcome.tasks:>8}{outcome.call_seconds:>9.1f}"
            f"{outcome.seconds:>9.1f}{count / outcome.seconds:>10.0f}{outcome.failed:>8}"
        )
    ours, each = outcomes
    ratio = each.seconds / ours.seconds
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(
        f"chunked / one task each: {ratio:.1f}x the notifications/s "
        f"(target at least {TARGET:.0f}x: {verdict})"
    )
    if any(outcome.failed for outcome in outcomes):
        print(f"Some notifications failed; see the worker log {log}")


if __name__ == "__main__":
    main()
