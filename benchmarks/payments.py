"""Transfers per second on hot accounts: our payment service against pgbench.

Variants interleaved in each round, on the same PostgreSQL server with
the same number of concurrent clients (``--workers``, 4 by default):

- pgbench: PostgreSQL's own built-in ``tpcb-like`` script (BEGIN; UPDATE
  accounts; SELECT; UPDATE tellers; UPDATE branches; INSERT history; END) on
  ``pgbench -i -s 1`` data, so every transaction updates the one branch row:
  the hottest row there is. ``-c N -j <cores> -T``; its "tps (without
  initial connection time)" is the rate.
- service direct: N processes (forked after ``django.setup()`` on the
  benchmark database) call ``payments.services.payment_process`` on
  their share of M pending payments between random pairs of 10 hot accounts
  (created in bulk beforehand: creation is not what is measured). Each process
  connects before the clock starts, as pgbench's rate excludes connecting.
  Rate = M / wall time from the first process starting to the last finishing.
  An extra line does ``payment_create(queue=False)`` + ``payment_process`` per
  transfer (what a deposit does). A transaction that hits a deadlock or a
  lock timeout runs again, as the task would retry it; the table counts them.
- end to end through Celery: a real ``celery -A mysite worker -Q payments
  --prefetch-multiplier 1 -c N`` (prefork, started once, warmed up) on its own
  Redis database; this script calls ``payment_create`` M times, as users do
  (each queues ``process_payment`` on commit). Rate = M / time from the first
  call to the last payment processed (``processed_at``, stamped by the worker).
  The rate of the ``payment_create`` calls alone is printed too: one caller
  (this script) on a small machine can be what limits this line.

- end to end, N callers: the same with N forked callers (N web processes).

Then the worker alone, for the cost curve (var/bench/payments_workers.png): M
payments queued with no worker running, then one worker (``-c`` of
``--drain-workers``, each ``--drain-prefetch``, and prefetch 1 with its task
events disabled) started on an empty queue and given the payments queue;
rate = M / first to last ``processed_at``; CPU = its processes' per payment.

After every round ``services.ledger_check()`` must return ``[]`` and every
payment must be completed: the benchmark proves the transfers were right, not
only fast. Targets from issue 15, of pgbench's rate: the service directly
0.6x, create + process 0.35x, end to end 0.2x. A miss is
printed, never an error: this measures, it does not test.

    python benchmarks/payments.py [--workers 4] [--payments 2000] [--rounds 3]

Needs PostgreSQL (``pgbench`` on the PATH or in /usr/lib/postgresql/*/bin) and
Redis. BENCH_PAYMENTS_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/bench_payments) names a database this
script DROPS and recreates, as it does ``bench_pgbench`` (BENCH_PGBENCH_DATABASE)
on the same server; both names must contain ``bench_``. DATABASE_URL is ignored on purpose, so
a ``make bench`` can never drop a real database. BENCH_PAYMENTS_REDIS_URL
(default redis://127.0.0.1:6379/9) is a Redis database this script empties.
"""

import argparse
import functools
import multiprocessing
import os
import queue
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_PAYMENTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_payments"
)
REDIS_URL = os.environ.get("BENCH_PAYMENTS_REDIS_URL", "redis://127.0.0.1:6379/9")
PGBENCH_DATABASE = os.environ.get("BENCH_PGBENCH_DATABASE", "bench_pgbench")
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["CELERY_BROKER_URL"] = REDIS_URL
from benchmarks.env import production_like  # noqa: E402

production_like()

import django  # noqa: E402

django.setup()

import environ  # noqa: E402
import redis  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import OperationalError, connection, connections  # noqa: E402
from django.db.models import Max, Min  # noqa: E402
from django.utils import timezone  # noqa: E402
from psycopg2 import sql  # noqa: E402

from benchmarks.curves import curve  # noqa: E402
from benchmarks.postgres import server_cursor  # noqa: E402
from benchmarks.workers import worker_start  # noqa: E402
from mysite.celery import app as celery_app  # noqa: E402
from payments import services  # noqa: E402
from payments.models import Payment  # noqa: E402

User = get_user_model()
HOT_ACCOUNTS = 10
DEPOSIT = Decimal("1000000.00")  # far more than M transfers of at most 1.00 can take
CURRENCY = "EUR"
# Of pgbench's rate (issue 15)
TARGETS = {"direct": 0.6, "create": 0.35, "celery": 0.2, "callers": 0.2}
client = redis.Redis.from_url(REDIS_URL)


@dataclass
class Outcome:
    transfers: int
    seconds: float
    retries: int = 0  # transactions retried after a deadlock or lock timeout
    call_seconds: float | None = None  # Celery: until the last payment_create returned
    cpu_seconds: float | None = None  # Python CPU of the clients (direct) or the worker (drain)
    wall_start: float | None = None  # time.time() when the clients started

    @property
    def cpu_ms(self) -> float | None:
        """CPU milliseconds per transfer, in our processes (not PostgreSQL's)."""
        return None if self.cpu_seconds is None else 1000 * self.cpu_seconds / self.transfers

    @property
    def rate(self) -> float:
        return self.transfers / self.seconds


# --- databases ----------------------------------------------------------------


def server_config() -> dict:
    config = environ.Env.db_url_config(DATABASE_URL)
    if "postgresql" not in config["ENGINE"]:
        raise SystemExit("This benchmark needs PostgreSQL (row locks, pgbench).")
    for name in (config["NAME"], PGBENCH_DATABASE):
        if "bench_" not in name:
            raise SystemExit(f"Refusing to drop {name!r}: a benchmark database's name has bench_.")
    return config


def database_recreate(config: dict, name: str) -> None:
    """DROP (closing any session left by an earlier run) and CREATE ``name``."""
    with server_cursor(config) as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def pgbench_path() -> str:
    found = shutil.which("pgbench") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)), None
    )
    if not found:
        raise SystemExit("pgbench not found: install postgresql-client (or -contrib).")
    return str(found)


def pgbench_command(config: dict, *args: str) -> list[str]:
    return [
        pgbench_path(),
        *("-h", str(config.get("HOST") or "127.0.0.1"), "-p", str(config.get("PORT") or 5432)),
        *("-U", str(config.get("USER") or "postgres")),
        *args,
        PGBENCH_DATABASE,
    ]


def pgbench_env(config: dict) -> dict:
    return {**os.environ, "PGPASSWORD": str(config.get("PASSWORD") or "")}


def vacuum() -> None:
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute("VACUUM ANALYZE")


def accounts_prepare() -> list[int]:
    """HOT_ACCOUNTS customer accounts, each funded by a real (ledgered) deposit."""
    ids = []
    for index in range(HOT_ACCOUNTS):
        owner = User.objects.create(username=f"bench-payer-{index:02d}", password="!")  # noqa: S106  (unusable)
        account = services.account_open(owner=owner, name=f"Hot {index}", currency=CURRENCY)
        services.account_deposit(
            account=account, amount=DEPOSIT, idempotency_key=f"bench-deposit-{index}"
        )
        ids.append(account.pk)
    return ids


def random_transfers(account_ids: list[int], count: int, seed: str) -> list[tuple]:
    """(payer, payee, amount) between random distinct hot accounts, 0.01 to 1.00."""
    rng = random.Random(seed)
    return [
        (*rng.sample(account_ids, 2), Decimal(rng.randint(1, 100)).scaleb(-2)) for _ in range(count)
    ]


def ledger_verify(label: str, log: Path) -> None:
    problems = services.ledger_check()
    not_completed = Payment.objects.exclude(status=Payment.Status.COMPLETED).count()
    print(f"    {label}: ledger_check() = {problems!r}, not completed: {not_completed}")
    if problems or not_completed:
        raise SystemExit(f"The ledger does not add up: the rates mean nothing (worker log: {log}).")


# --- pgbench ------------------------------------------------------------------

TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE)
TRANSACTIONS = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)


def pgbench_init(config: dict) -> None:
    database_recreate(config, PGBENCH_DATABASE)
    subprocess.run(  # noqa: S603  (pgbench, our arguments)
        pgbench_command(config, "-i", "-s", "1", "-q"),
        env=pgbench_env(config),
        check=True,
        capture_output=True,
    )


def pgbench_run(config: dict, clients: int, seconds: int) -> Outcome:
    threads = min(clients, os.cpu_count() or 1)
    result = subprocess.run(  # noqa: S603  (pgbench, our arguments)
        pgbench_command(config, "-c", str(clients), "-j", str(threads), "-T", str(seconds)),
        env=pgbench_env(config),
        check=True,
        capture_output=True,
        text=True,
    )
    tps, transactions = TPS.search(result.stdout), TRANSACTIONS.search(result.stdout)
    if not (tps and transactions):
        raise SystemExit(f"Could not read pgbench's output:\n{result.stdout}{result.stderr}")
    rate = float(tps.group(1))
    return Outcome(transfers=int(transactions.group(1)), seconds=int(transactions.group(1)) / rate)


# --- our service, called directly ---------------------------------------------


def direct_child(work: str, items: list, barrier, results) -> None:
    """One client process: connect, wait for the others, then run its share."""
    # Broker connections of its own: the parent's, inherited by the fork, would be
    # shared by every child (Celery's own after-fork hook is billiard's, not run here).
    celery_app._after_fork()
    connection.ensure_connection()
    retries = 0
    barrier.wait()
    start, cpu, wall = time.monotonic(), time.process_time(), time.time()
    for item in items:
        while True:
            try:
                if work == "process":
                    services.payment_process(payment_id=item)
                elif work == "queue":  # as a web process does: the task is published on commit
                    payer, payee, amount, key = item
                    services.payment_create(
                        payer_id=payer, payee_id=payee, amount=amount, idempotency_key=key
                    )
                else:
                    payer, payee, amount, key = item
                    payment, _ = services.payment_create(
                        payer_id=payer,
                        payee_id=payee,
                        amount=amount,
                        idempotency_key=key,
                        queue=False,
                    )
                    services.payment_process(payment_id=payment.pk)
                break
            except OperationalError:  # deadlock or lock timeout: retry, as the task would
                retries += 1
    results.put((start, time.monotonic(), retries, time.process_time() - cpu, wall))
    connection.close()


def run_clients(work: str, shares: list[list]) -> Outcome:
    """Fork one process per share; the wall time from the first start to the last end."""
    context = multiprocessing.get_context("fork")  # children inherit django.setup()
    connections.close_all()  # no connection shared across a fork
    barrier = context.Barrier(len(shares))
    results = context.Queue()
    processes = [
        context.Process(target=direct_child, args=(work, share, barrier, results))
        for share in shares
    ]
    for process in processes:
        process.start()
    reports: list[tuple] = []  # what direct_child puts
    while len(reports) < len(processes):
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            if any(process.exitcode not in (None, 0) for process in processes):
                for process in processes:
                    process.kill()
                raise SystemExit("A client process failed; see its traceback above.") from None
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise SystemExit(f"A client process exited with {process.exitcode}.")
    return Outcome(
        transfers=sum(len(share) for share in shares),
        seconds=max(report[1] for report in reports) - min(report[0] for report in reports),
        retries=sum(report[2] for report in reports),
        cpu_seconds=sum(report[3] for report in reports),
        wall_start=min(report[4] for report in reports),
    )


def service_direct(account_ids: list[int], count: int, clients: int, tag: str) -> Outcome:
    now = timezone.now()
    created = Payment.objects.bulk_create(
        (
            Payment(
                idempotency_key=f"{tag}-{index}",
                payer_id=payer,
                payee_id=payee,
                amount=amount,
                currency=CURRENCY,
                enqueued_at=now,
            )
            for index, (payer, payee, amount) in enumerate(
                random_transfers(account_ids, count, tag)
            )
        ),
        batch_size=1000,
    )
    ids = [payment.pk for payment in created]
    vacuum()
    return run_clients("process", [ids[i::clients] for i in range(clients)])


def service_create_process(account_ids: list[int], count: int, clients: int, tag: str) -> Outcome:
    items = [
        (payer, payee, str(amount), f"{tag}-{index}")
        for index, (payer, payee, amount) in enumerate(random_transfers(account_ids, count, tag))
    ]
    return run_clients("create", [items[i::clients] for i in range(clients)])


# --- end to end through Celery ------------------------------------------------


def create_queued(payer: int, payee: int, amount: Decimal, key: str) -> tuple[int, int]:
    """``payment_create`` as a view calls it (queued on commit); (payment id, retries)."""
    for retries in range(10):
        try:
            payment, _ = services.payment_create(
                payer_id=payer, payee_id=payee, amount=str(amount), idempotency_key=key
            )
        except OperationalError:  # a deadlock with a worker; a view would answer 500
            continue
        return payment.pk, retries
    raise SystemExit(f"payment_create({key!r}) failed 10 times in a row.")


def last_processed(rows, timeout: float):
    """When the last of ``rows`` was processed, once none is pending."""
    deadline = time.monotonic() + timeout
    while rows.filter(status=Payment.Status.PENDING).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"celery: timed out after {timeout:.0f} s")
        time.sleep(0.05)
    return rows.aggregate(last=Max("processed_at"))["last"]


def through_celery(account_ids: list[int], count: int, tag: str, timeout: float = 300) -> Outcome:
    transfers = random_transfers(account_ids, count, tag)
    start = time.time()
    created = [
        create_queued(payer, payee, amount, f"{tag}-{index}")
        for index, (payer, payee, amount) in enumerate(transfers)
    ]
    called = time.time()
    ids = [pk for pk, _ in created]
    rows = Payment.objects.filter(pk__gte=min(ids), pk__lte=max(ids))
    last = last_processed(rows, timeout)
    return Outcome(
        transfers=count,
        seconds=last.timestamp() - start,
        retries=sum(retries for _, retries in created),
        call_seconds=called - start,
    )


def through_celery_callers(
    account_ids: list[int], count: int, clients: int, tag: str, timeout: float = 300
) -> Outcome:
    """End to end with ``clients`` callers (forked, as for the direct lines) instead
    of one: M / first call to the last ``processed_at``."""
    items = [
        (payer, payee, str(amount), f"{tag}-{index}")
        for index, (payer, payee, amount) in enumerate(random_transfers(account_ids, count, tag))
    ]
    calls = run_clients("queue", [items[i::clients] for i in range(clients)])
    rows = Payment.objects.filter(idempotency_key__startswith=f"{tag}-")
    last = last_processed(rows, timeout)
    return Outcome(
        transfers=count,
        seconds=last.timestamp() - calls.wall_start,
        retries=calls.retries,
        call_seconds=calls.seconds,
    )


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its descendants (Linux /proc)."""
    parents, times = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        child = int(stat.parent.name)
        parents[child], times[child] = int(fields[1]), int(fields[11]) + int(fields[12])
    tree, found = {pid}, {pid}
    while found:
        found = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= found
    return sum(times.get(member, 0) for member in tree) / os.sysconf("SC_CLK_TCK")


def drained(
    account_ids: list[int], count: int, tag: str, pool: tuple, *, events: bool, timeout: float = 300
):
    """The worker alone: ``count`` payments queued with no worker running, then a
    worker with ``pool`` options started; rate = payments / first to last
    ``processed_at``; CPU = the worker's processes, from taking up the queue to
    the last payment (its start-up is not counted)."""
    items = [
        (payer, payee, str(amount), f"{tag}-{index}")
        for index, (payer, payee, amount) in enumerate(random_transfers(account_ids, count, tag))
    ]
    run_clients("queue", [items[i::4] for i in range(4)])
    rows = Payment.objects.filter(idempotency_key__startswith=f"{tag}-")
    # Started on an empty queue, so its start-up is not counted; then given the payments.
    process, log = worker_start(celery_app, "-Q", "bench-idle", *pool)
    try:
        # On a connection of their own, closed here: a pooled one would keep its
        # reply consumer's BRPOP, which the next forked callers inherit and hang on.
        with celery_app.connection_for_write() as broker:
            if not events:  # what a worker costs without its task events (Flower, celery events)
                celery_app.control.disable_events(reply=True, connection=broker)
            cpu = tree_cpu(process.pid)
            # our broker: this worker only
            celery_app.control.add_consumer("payments", reply=True, connection=broker)
        deadline = time.monotonic() + timeout
        while rows.filter(status=Payment.Status.PENDING).exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"drain: timed out after {timeout:.0f} s (worker log: {log})")
            time.sleep(0.05)
        cpu = tree_cpu(process.pid) - cpu
    finally:
        process.terminate()
        process.wait(timeout=60)
    span = rows.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    return Outcome(transfers=count - 1, seconds=seconds, cpu_seconds=cpu * (count - 1) / count)


def drain_phase(account_ids: list[int], count: int, rounds: int, options) -> None:
    """Worker throughput by processes (-c), prefetch and task events, interleaved;
    the cost curve goes to var/bench/payments_workers.png."""
    combos = [(c, p, True) for p in options.drain_prefetch for c in options.drain_workers]
    combos += [(c, 1, False) for c in options.drain_workers]
    rates: dict[tuple, list[float]] = {combo: [] for combo in combos}
    cpus: dict[tuple, list[float]] = {combo: [] for combo in combos}
    for number in range(1, rounds + 1):
        for processes, prefetch, events in combos:
            pool = ("-P", "prefork", "-c", str(processes), "--prefetch-multiplier", str(prefetch))
            tag = f"drain-{number}-{processes}-{prefetch}-{events}"
            outcome = drained(account_ids, count, tag, pool, events=events)
            rates[processes, prefetch, events].append(outcome.rate)
            cpus[processes, prefetch, events].append(outcome.cpu_ms)
            vacuum()
            print(
                f"  round {number}: worker -c {processes} prefetch {prefetch}"
                f"{'' if events else ', events off'}: {outcome.rate:.0f}/s, "
                f"worker CPU {outcome.cpu_ms:.2f} ms/payment",
                flush=True,
            )
        ledger_verify(f"drain round {number}", Path("var"))
    header = f"{'processes':<11}{'prefetch':>9}{'events':>8}{'rate/s':>9}{'min':>7}{'max':>7}"
    print(f"{header}{'CPU ms':>8}")
    for (processes, prefetch, events), runs in rates.items():
        print(
            f"{processes:<11}{prefetch:>9}{'on' if events else 'off':>8}"
            f"{statistics.median(runs):>9.0f}{min(runs):>7.0f}{max(runs):>7.0f}"
            f"{statistics.median(cpus[processes, prefetch, events]):>8.2f}"
        )
    series: dict[str, list[tuple[float, float]]] = {}
    for processes, prefetch, events in combos:
        label = f"prefetch {prefetch}" + ("" if events else ", events off")
        rate = statistics.median(rates[processes, prefetch, events])
        series.setdefault(label, []).append((processes, rate))
    curve(
        "payments_workers",
        x_label="worker processes",
        y_label="payments/s",
        title="payments: one worker's throughput by processes (2 cores)",
        series=series,
    )


def summary(labels: dict[str, str], outcomes: dict[str, list[Outcome]]) -> None:
    """The table of medians, each against pgbench's median, and the targets."""
    baseline = statistics.median(o.rate for o in outcomes["pgbench"])
    header = (
        f"{'variant':<36}{'transfers':>10}{'seconds':>9}{'rate/s':>9}{'retried':>9}"
        f"{'vs pgbench':>12}{'CPU ms':>8}"
    )
    print(header)
    print("-" * len(header))
    medians = {}
    for key, runs in outcomes.items():
        middle = sorted(runs, key=lambda o: o.rate)[len(runs) // 2]
        medians[key] = rate = statistics.median(o.rate for o in runs)
        cpu = [o.cpu_ms for o in runs if o.cpu_ms is not None]
        print(
            f"{labels[key]:<36}{middle.transfers:>10}{middle.seconds:>9.2f}{rate:>9.0f}"
            f"{middle.retries:>9}{rate / baseline:>11.2f}x"
            + (f"{statistics.median(cpu):>8.2f}" if cpu else f"{'':>8}")
        )
    for key, target in TARGETS.items():
        ratio = medians[key] / baseline
        spread = [o.rate / p.rate for o, p in zip(outcomes[key], outcomes["pgbench"], strict=True)]
        verdict = "met" if ratio >= target else "NOT met"
        print(
            f"{key} / pgbench: {ratio:.2f}x (rounds {min(spread):.2f}-{max(spread):.2f}x; "
            f"target at least {target}x: {verdict})"
        )
    # call_seconds is set on these two kinds of outcome.
    calls = statistics.median(o.transfers / o.call_seconds for o in outcomes["celery"])  # type: ignore[operator]
    parallel = statistics.median(o.transfers / o.call_seconds for o in outcomes["callers"])  # type: ignore[operator]
    print(
        f"(end to end: the payment_create calls alone ran at {calls:.0f}/s from one caller, "
        f"{parallel:.0f}/s from several callers; "
        "retried = transactions that hit a deadlock or lock timeout and ran again; "
        "CPU ms = Python CPU per transfer in the client processes, median)"
    )


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="concurrent clients / workers")
    parser.add_argument("--payments", type=int, default=2000, help="transfers per variant")
    parser.add_argument("--seconds", type=int, default=10, help="pgbench -T")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument(
        "--drain-workers", type=ints, default=[1, 2, 4], help="worker -c values to drain with"
    )
    parser.add_argument(
        "--drain-prefetch", type=ints, default=[1, 4], help="prefetch multipliers to drain with"
    )
    parser.add_argument("--no-drain", action="store_true", help="skip the worker-only phase")
    options = parser.parse_args()
    workers, count = options.workers, options.payments

    config = server_config()
    database_recreate(config, config["NAME"])
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=os.environ,
        check=True,
    )
    pgbench_init(config)
    client.flushdb()
    account_ids = accounts_prepare()
    print(
        f"Payments: {HOT_ACCOUNTS} hot accounts, {count} transfers per variant, {workers} "
        f"concurrent clients, PostgreSQL {connection.pg_version // 10000} database "  # type: ignore[attr-defined]
        f"{config['NAME']!r} vs pgbench tpcb-like -s 1 -c {workers} -T {options.seconds}; "
        f"median of {options.rounds} interleaved rounds",
        flush=True,
    )

    labels = {
        "pgbench": f"pgbench tpcb-like (-c {workers})",
        "direct": "service direct (payment_process)",
        "create": "service direct, create + process",
        "celery": "end to end through Celery",
        "callers": f"end to end, {workers} callers",
    }
    outcomes: dict[str, list[Outcome]] = {key: [] for key in labels}
    pool = ("-Q", "payments", "-P", "prefork", "-c", str(workers), "--prefetch-multiplier", "1")
    process, log = worker_start(celery_app, *pool)
    try:
        through_celery(account_ids, 4 * workers, "warm-up")
        for number in range(1, options.rounds + 1):
            vacuum()
            runs = {
                "pgbench": functools.partial(pgbench_run, config, workers, options.seconds),
                "direct": functools.partial(
                    service_direct, account_ids, count, workers, f"direct-{number}"
                ),
                "create": functools.partial(
                    service_create_process, account_ids, count, workers, f"create-{number}"
                ),
                "celery": functools.partial(through_celery, account_ids, count, f"celery-{number}"),
                "callers": functools.partial(
                    through_celery_callers, account_ids, count, workers, f"callers-{number}"
                ),
            }
            for key, run in runs.items():
                outcome = run()
                outcomes[key].append(outcome)
                vacuum()
                retried = f", {outcome.retries} retried" if outcome.retries else ""
                print(f"  round {number}: {labels[key]}: {outcome.rate:.0f}/s{retried}", flush=True)
            ledger_verify(f"round {number}", log)
    finally:
        process.terminate()
        process.wait(timeout=60)
        client.flushdb()

    summary(labels, outcomes)
    if not options.no_drain:
        print(
            "\nThe worker alone: payments queued first, then one worker drains them; "
            f"median of {options.rounds}",
            flush=True,
        )
        try:
            drain_phase(account_ids, count, options.rounds, options)
        finally:
            client.flushdb()


if __name__ == "__main__":
    main()
