"""The cost of a task: no-op tasks end to end, our stack against bare Celery.

Every scenario starts a real worker process with the same pool options, waits
until it answers a ping, enqueues N no-op tasks (after a warm-up) and waits
until all are done. Done means: the task body ran (bare Celery) or its SUCCESS
row is in the database (our stack, results stored). All scenarios run in the
same invocation, on the same Redis and database, so their ratio is fair on a
noisy machine even where the absolute numbers are not.

    python benchmarks/task_overhead.py [--tasks 2000] [--concurrency 2]

Needs Redis and a database: BENCH_REDIS_URL (default redis://127.0.0.1:6379/12,
a database number this script empties) and DATABASE_URL (default the local
PostgreSQL `test` database; it is migrated first).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS_URL = os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ["CELERY_BROKER_URL"] = REDIS_URL
from benchmarks.env import production_like  # noqa: E402

production_like()

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django_celery_results.models import TaskResult  # noqa: E402

from benchmarks import bare_app, tasks  # noqa: E402
from mysite.celery import app as mysite_app  # noqa: E402
from mysite.enqueue import enqueue  # noqa: E402

WARM_UP = 50
SENT_EVENT = mysite_app.conf.task_send_sent_event  # as configured
client = redis.Redis.from_url(REDIS_URL)


@dataclass
class Scenario:
    label: str
    app_module: str  # what `celery -A` gets
    queue: str
    send: Callable[[str], tuple[str | None, float]]  # run id -> (task id, sent at)
    stored_name: str | None = None  # task name whose SUCCESS rows mean "done"
    worker_env: dict | None = None
    sent_event: bool = True  # our publisher sends task-sent events (CELERY_TASK_SEND_SENT_EVENT)
    cwd: Path = ROOT  # the checkout the worker runs (--worker-tree: an earlier commit's)


@dataclass
class Outcome:
    enqueue_rate: float
    done_rate: float
    p50_ms: float
    p95_ms: float
    worker_cpu_ms: float  # CPU per task of the worker's processes (main and pool)
    send_cpu_ms: float  # CPU per task of this process while it enqueued


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``, its live children and those it reaped.

    Unlike a rate, this hardly moves when other work shares the cores. The
    database and Redis servers' CPU is not in it.
    """

    def fields(process: int | str) -> list[str]:
        return Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()

    own = fields(pid)
    ticks = sum(int(own[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            ticks += sum(int(fields(child)[i]) for i in (11, 12))
        except FileNotFoundError:  # exited meanwhile: in cutime once reaped
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def send_bare(run: str) -> tuple[None, float]:
    sent = time.time()
    bare_app.noop.apply_async((run, sent))
    return None, sent


def send_ours(task) -> Callable[[str], tuple[str, float]]:
    def send(run: str) -> tuple[str, float]:
        sent = time.time()
        return enqueue(task, args=[run, sent]), sent

    return send


def start_worker(scenario: Scenario, concurrency: int) -> tuple[subprocess.Popen, str]:
    node = f"bench-{uuid.uuid4().hex[:8]}@localhost"
    command = [
        *(sys.executable, "-m", "celery", "-A", scenario.app_module, "worker"),
        *("-Q", scenario.queue, "-n", node, "-P", "prefork", "-c", str(concurrency)),
        *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"),
    ]
    if scenario.app_module == "mysite":
        command += ["--include", "benchmarks.tasks"]
    env = {**os.environ, **(scenario.worker_env or {})}
    log = (ROOT / "var").joinpath(f"bench-{node.split('@', maxsplit=1)[0]}.log")
    log.parent.mkdir(exist_ok=True)
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and code)
        command, cwd=scenario.cwd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")
    )
    app = bare_app.app if scenario.app_module != "mysite" else mysite_app
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[node], timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker for {scenario.label!r} did not start; see {log}")
    return process, node


def wait_done(scenario: Scenario, run: str, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while done_count(scenario, run) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{scenario.label}: timed out waiting for {count} tasks")
        time.sleep(0.1)


def done_count(scenario: Scenario, run: str) -> int:
    if scenario.stored_name:
        return TaskResult.objects.filter(task_name=scenario.stored_name, status="SUCCESS").count()
    return client.llen(f"bench:done:{run}")


def latencies(scenario: Scenario, run: str, sent_at: dict[str | None, float]) -> list[float]:
    if scenario.stored_name:
        rows = TaskResult.objects.filter(task_name=scenario.stored_name, status="SUCCESS")
        return [
            done.timestamp() - sent_at[tid]
            for tid, done in rows.values_list("task_id", "date_done")
        ]
    return [float(x) for x in client.lrange(f"bench:done:{run}", 0, -1)]


def measure(scenario: Scenario, tasks_count: int, concurrency: int) -> Outcome:
    TaskResult.objects.filter(task_name__startswith="benchmarks.").delete()
    mysite_app.conf.task_send_sent_event = scenario.sent_event and SENT_EVENT
    process, _ = start_worker(scenario, concurrency)
    try:
        warm = uuid.uuid4().hex
        for _ in range(WARM_UP):
            scenario.send(warm)
        wait_done(scenario, warm, WARM_UP)
        TaskResult.objects.filter(task_name__startswith="benchmarks.").delete()

        run = uuid.uuid4().hex
        sent_at: dict[str | None, float] = {}  # by task id (None: bare sends have none)
        worker_cpu = tree_cpu(process.pid)
        start, send_cpu = time.perf_counter(), time.process_time()
        for _ in range(tasks_count):
            task_id, sent = scenario.send(run)
            sent_at[task_id] = sent
        enqueued, send_cpu = time.perf_counter() - start, time.process_time() - send_cpu
        wait_done(scenario, run, tasks_count)
        elapsed = time.perf_counter() - start
        worker_cpu = tree_cpu(process.pid) - worker_cpu
        waits = sorted(latencies(scenario, run, sent_at))
    finally:
        process.terminate()
        process.wait(timeout=60)
    quantiles = statistics.quantiles(waits, n=20)
    return Outcome(
        enqueue_rate=tasks_count / enqueued,
        done_rate=tasks_count / elapsed,
        p50_ms=statistics.median(waits) * 1000,
        p95_ms=quantiles[18] * 1000,
        worker_cpu_ms=worker_cpu * 1000 / tasks_count,
        send_cpu_ms=send_cpu * 1000 / tasks_count,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per scenario")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="WORDS",
        help="run only the scenarios whose label contains WORDS (repeatable; bare always runs)",
    )
    parser.add_argument(
        "--worker-tree",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also run the default scenario with the worker from DIR (e.g. an earlier "
        "commit, `git archive <commit> | tar -x -C DIR`); the publisher is this checkout",
    )
    options = parser.parse_args()

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
    )
    client.flushdb()
    scenarios = [
        Scenario("bare Celery, no result backend", "benchmarks.bare_app", "bench-bare", send_bare),
        Scenario(
            "ours, django-celery-results as shipped",
            "mysite",
            "default",
            send_ours(tasks.noop),
            stored_name="benchmarks.noop",
            worker_env={"CELERY_RESULT_BACKEND": "django-db"},
        ),
        Scenario(
            "ours, upsert result backend (default)",
            "mysite",
            "default",
            send_ours(tasks.noop),
            stored_name="benchmarks.noop",
        ),
        Scenario(
            "ours, upsert, no task-sent event",
            "mysite",
            "default",
            send_ours(tasks.noop),
            stored_name="benchmarks.noop",
            sent_event=False,
        ),
        Scenario(
            "ours, result not stored (domain row)",
            "mysite",
            "default",
            send_ours(tasks.noop_unstored),
        ),
    ]
    for tree in options.worker_tree:
        label, _, folder = tree.partition("=")
        scenarios.append(
            Scenario(
                f"worker of {label}",
                "mysite",
                "default",
                send_ours(tasks.noop),
                stored_name="benchmarks.noop",
                cwd=Path(folder).resolve(),
            )
        )
    if options.only:
        scenarios = [scenarios[0]] + [
            s
            for s in scenarios[1:]
            if any(words in s.label for words in options.only) or s.cwd != ROOT
        ]
    database = django.db.connection.vendor
    print(
        f"Task overhead: {options.tasks} no-op tasks per scenario, prefork worker "
        f"x{options.concurrency}, Redis broker, results in {database} where stored; "
        f"median of {options.rounds} interleaved rounds"
    )
    outcomes: dict[str, list[Outcome]] = {scenario.label: [] for scenario in scenarios}
    for round_number in range(1, options.rounds + 1):
        for scenario in scenarios:
            outcome = measure(scenario, options.tasks, options.concurrency)
            outcomes[scenario.label].append(outcome)
            print(
                f"  round {round_number}: {scenario.label}: {outcome.done_rate:.0f} done/s, "
                f"CPU ms per task: worker {outcome.worker_cpu_ms:.2f}, "
                f"enqueue {outcome.send_cpu_ms:.2f}",
                flush=True,
            )

    header = (
        f"{'scenario':<42}{'enqueue/s':>10}{'done/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'vs bare':>9}{'per round':>14}"
    )
    print(header)
    print("-" * len(header))
    bare_runs = outcomes[scenarios[0].label]
    baseline = statistics.median(o.done_rate for o in bare_runs)
    for label, runs in outcomes.items():
        done_rate = statistics.median(o.done_rate for o in runs)
        # Each round's ratio against that round's bare run: the spread.
        ratios = sorted(o.done_rate / b.done_rate for o, b in zip(runs, bare_runs, strict=True))
        print(
            f"{label:<42}{statistics.median(o.enqueue_rate for o in runs):>10.0f}"
            f"{done_rate:>9.0f}{statistics.median(o.p50_ms for o in runs):>9.0f}"
            f"{statistics.median(o.p95_ms for o in runs):>9.0f}{done_rate / baseline:>8.2f}x"
            f"{f'{ratios[0]:.2f}-{ratios[-1]:.2f}x':>14}"
        )
    spread = [o.done_rate for o in bare_runs]
    print(f"(bare Celery drained {min(spread):.0f}-{max(spread):.0f} tasks/s across the rounds)")

    # CPU per task: what a task costs, whatever else shares the machine.
    header = (
        f"{'CPU ms per task':<42}{'worker':>9}{'enqueue':>9}{'total':>9}"
        f"{'bare/ours':>11}{'per round':>14}"
    )
    print()
    print(header)
    print("-" * len(header))

    def total(o: Outcome) -> float:
        return o.worker_cpu_ms + o.send_cpu_ms

    bare_total = statistics.median(total(o) for o in bare_runs)
    for label, runs in outcomes.items():
        ours_total = statistics.median(total(o) for o in runs)
        ratios = sorted(total(b) / total(o) for o, b in zip(runs, bare_runs, strict=True))
        print(
            f"{label:<42}{statistics.median(o.worker_cpu_ms for o in runs):>9.2f}"
            f"{statistics.median(o.send_cpu_ms for o in runs):>9.2f}{ours_total:>9.2f}"
            f"{bare_total / ours_total:>10.2f}x{f'{ratios[0]:.2f}-{ratios[-1]:.2f}x':>14}"
        )
    client.flushdb()
    TaskResult.objects.filter(task_name__startswith="benchmarks.").delete()


if __name__ == "__main__":
    main()
