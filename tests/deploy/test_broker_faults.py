"""Workers survive broker faults (issue 13): Redis restarted under load.

Production's Redis keeps its data across a restart (append-only file), so what
the workers held unacknowledged when it went down (late-ack tasks running,
prefetched ones, countdowns waiting for their time) is still in its
``unacked`` hash when it comes back. These tests run a Redis of their own that
way, real prefork workers on it (tests/helpers/celery_process.py), publish through
``enqueue`` as the web does, and restart Redis while tasks run.

kombu 5.7.0 crashed a worker on such a reconnect (celery/celery#9250, #7185:
``AttributeError: 'NoneType' object has no attribute 'hostname'``), and the
messages it held came back only after the visibility timeout (2 h then);
mysite/kombu_fixes.py mends both. A process that still dies is started again:
by scripts/supervise.py under ``make run`` (tested here), by compose and
Kubernetes in production (their files are checked here).
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from celery import states
from django.conf import settings
from django_celery_results.models import TaskResult

from mysite.celery import app as celery_app
from mysite.enqueue import enqueue
from mysite.tasks import demo_task
from tests.helpers.celery_process import BeatProcess, WorkerProcess, stop_all
from tests.helpers.deploy import DOCKER, ROOT, compose_services
from tests.helpers.services import database_url, wait_for

IN_FLIGHT = (states.PENDING, states.RECEIVED, states.STARTED, states.RETRY)
RESTARTS = 5
DRAIN_TIMEOUT = 120.0  # far below the old 2 h; every task is short
EVERY_SECOND = "faults-every-second"  # the schedule the beat fixture sends


@pytest.fixture
def workers(tmp_path, own_redis):
    """Start real prefork workers (2 processes each) on the ``default`` queue of
    ``own_redis``; stopped (or killed) at the end."""
    started: list[WorkerProcess] = []

    def start(name: str, *, environment: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(
            tmp_path / f"{name}.log",
            concurrency=2,
            name=name,
            queues="default",
            environment={"CELERY_BROKER_URL": own_redis.url, **(environment or {})},
        )
        started.append(worker)
        return worker

    yield start
    stop_all(started)


@pytest.fixture
def beat(tmp_path, own_redis):
    """A real ``celery beat`` on ``own_redis`` sending ``mysite.tasks.demo_task``
    every second (schedule ``faults-every-second``)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name=EVERY_SECOND,
        task="mysite.tasks.demo_task",
        interval=every_second,
        kwargs='{"seconds": 0}',
    )
    running = BeatProcess(
        tmp_path / "beat.log",
        environment={
            "CELERY_BROKER_URL": own_redis.url,
            "BEAT_HEARTBEAT_FILE": str(tmp_path / "beat.heartbeat"),
        },
    )
    yield running
    running.stop()


RECEIVED = re.compile(r"demo_task\[([0-9a-f-]{36})\] received")
SUCCEEDED = re.compile(r"Task mysite\.tasks\.demo_task\[([0-9a-f-]{36})\] succeeded")


def log_ids(worker: WorkerProcess, pattern: re.Pattern) -> Counter:
    """How often each task id matched ``pattern`` in the worker's log."""
    return Counter(pattern.findall(worker.log()))


def statuses(task_ids: list[str]) -> dict[str, str]:
    rows = TaskResult.objects.filter(task_id__in=task_ids).values_list("task_id", "status")
    return dict(rows)


def started(task_ids: list[str]) -> bool:
    found = statuses(task_ids)
    return len(found) == len(task_ids) and set(found.values()) == {states.STARTED}


def finished(task_ids: list[str]) -> bool:
    found = statuses(task_ids)
    return len(found) == len(task_ids) and set(found.values()) == {states.SUCCESS}


def poll(condition, *, timeout: float) -> bool:
    """Like ``wait_for``, but says False at the deadline (the test then reports figures)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def dead(pool: list[WorkerProcess]) -> list[WorkerProcess]:
    return [worker for worker in pool if worker.process.poll() is not None]


def crash_lines(pool: list[WorkerProcess]) -> str:
    return "\n".join(
        f"{worker.name}: {line}"
        for worker in pool
        for line in worker.log().splitlines()
        if "CRITICAL" in line or "Unrecoverable" in line
    )


def ping(pool: list[WorkerProcess]) -> set[str]:
    """The node names among ``pool`` that answer ``inspect ping`` now."""
    names = [f"{worker.name}@{socket.gethostname()}" for worker in pool]
    replies = celery_app.control.ping(destination=names, timeout=5.0) or []
    return {name for reply in replies for name in reply}


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_workers_and_beat_survive_five_redis_restarts_under_load_and_every_task_succeeds(
    own_redis, workers, beat
):
    # given two prefork workers and a beat on a Redis that keeps its data, the
    # workers holding countdown tasks (late ack: unacknowledged until run)
    pool = [workers("faults-1"), workers("faults-2")]
    for worker in pool:
        worker.wait_ready()
    wait_for(lambda: beat.sent(EVERY_SECOND) > 0, timeout=60, what="beat to send")
    held = [enqueue(demo_task, kwargs={"seconds": 0.1}, countdown=30) for _ in range(6)]
    wait_for(
        lambda: set(held) <= {i for w in pool for i in log_ids(w, RECEIVED)},
        timeout=30,
        what="the workers to hold the countdown tasks",
    )
    published = list(held)

    # when Redis restarts five times, each time while a task runs and the
    # workers wait on the queue for more (as in the issue: two running, seven held)
    for _ in range(RESTARTS):
        running = [enqueue(demo_task, kwargs={"seconds": 6.0})]  # + the last one's, again
        short = [enqueue(demo_task, kwargs={"seconds": 0.1}) for _ in range(10)]
        published += running + short
        poll(
            lambda running=running, short=short: (
                dead(pool) or (started(running) and finished(short))
            ),
            timeout=30,
        )
        if dead(pool):
            break  # reported below
        own_redis.restart(down=1.0)
    back_up = time.monotonic()

    # then beat goes on sending (then it stops, so the queue can drain)
    sent_before = beat.sent(EVERY_SECOND)
    beat_sends = poll(
        lambda: beat.process.poll() is not None or beat.sent(EVERY_SECOND) >= sent_before + 2,
        timeout=30,
    )
    beat_alive = beat.process.poll() is None
    beat.stop()
    assert beat_alive, beat.log()[-3000:]
    assert beat_sends

    # and every worker is alive and answers, and every task ended SUCCESS
    def settled() -> bool:
        done = statuses(published)
        finished = len(done) == len(published) and set(done.values()) == {states.SUCCESS}
        return bool(dead(pool)) or finished

    poll(settled, timeout=DRAIN_TIMEOUT)
    drained_after = time.monotonic() - back_up
    done = statuses(published)
    lost = [task_id for task_id in published if done.get(task_id) != states.SUCCESS]
    print(
        f"\nbroker faults: {own_redis.restarts} Redis restarts, {len(pool) - len(dead(pool))} "
        f"of {len(pool)} workers alive; {len(published)} tasks published "
        f"({len(held)} countdown tasks held throughout), {len(published) - len(lost)} "
        f"succeeded, {len(lost)} lost or in flight ({Counter(done.get(i) for i in lost)}); "
        f"settled {drained_after:.1f} s after the last restart; beat alive, "
        f"{beat.sent(EVERY_SECOND)} periodic sends"
    )
    assert dead(pool) == [], f"worker died:\n{crash_lines(pool)}"
    assert ping(pool) == {f"{w.name}@{socket.gethostname()}" for w in pool}
    assert lost == []
    assert poll(lambda: not TaskResult.objects.filter(status__in=IN_FLIGHT).exists(), timeout=30)


VISIBILITY = 6  # BROKER_VISIBILITY_TIMEOUT of these workers, seconds (production: 300)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_what_a_worker_held_comes_back_soon_after_a_redis_restart_and_after_it_is_killed(
    own_redis, workers
):
    # given a worker holding countdown tasks (late ack: unacknowledged until run)
    environment = {"BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY)}
    holder = workers("holder", environment=environment)
    holder.wait_ready()
    held = [enqueue(demo_task, kwargs={"seconds": 0.1}, countdown=45) for _ in range(6)]
    wait_for(
        lambda: set(held) <= set(log_ids(holder, RECEIVED)),
        timeout=30,
        what="the worker to hold the countdown tasks",
    )

    # when Redis restarts
    own_redis.restart(down=1.0)
    up = time.monotonic()

    # then the worker has them back as soon as it is connected again
    wait_for(
        lambda: all(log_ids(holder, RECEIVED)[task_id] >= 2 for task_id in held),
        timeout=60,
        what="the held tasks to come back after the restart",
    )
    back_after_restart = time.monotonic() - up

    # given a second worker, and twice the visibility timeout (plus a sweep) in
    # which the holder lives: nothing it holds is handed out again
    other = workers("other", environment=environment)
    other.wait_ready()
    time.sleep(max(0.0, 2 * VISIBILITY * 1.2 - (time.monotonic() - up)))
    assert log_ids(other, RECEIVED) == Counter()
    assert [log_ids(holder, RECEIVED)[task_id] for task_id in held] == [2] * len(held)

    # when the holder is killed (SIGKILL: it restores nothing on its way out)
    holder.kill()
    killed = time.monotonic()

    # then the other worker gets them within the visibility timeout and a
    # sweep, and each runs once, at its time
    wait_for(
        lambda: set(held) <= set(log_ids(other, RECEIVED)),
        timeout=60,
        what="the dead worker's tasks to come back",
    )
    back_after_kill = time.monotonic() - killed
    wait_for(lambda: finished(held), timeout=60, what="the countdown tasks to succeed")
    runs = log_ids(holder, SUCCEEDED) + log_ids(other, SUCCEEDED)
    assert [runs[task_id] for task_id in held] == [1] * len(held)
    assert not TaskResult.objects.filter(status__in=IN_FLIGHT).exists()
    print(
        f"\nheld work: {len(held)} countdown tasks back {back_after_restart:.1f} s after "
        f"Redis was up again, and at another worker {back_after_kill:.1f} s after their "
        f"holder was killed (visibility timeout {VISIBILITY} s; production 300 s); "
        f"never handed out while the holder lived ({2 * VISIBILITY * 1.2:.0f} s); each ran once"
    )


# --- supervision: a process that still dies is started again -------------------

SUPERVISE = ROOT / "scripts" / "supervise.py"


def procfile() -> dict[str, str]:
    """The Procfile's command lines by process name (what ``make run`` starts)."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def supervised(folder: Path, code: str, *options: str) -> subprocess.Popen:
    """scripts/supervise.py (short pauses) keeping ``python -c code`` running in ``folder``,
    where the code notes each start in the file ``starts``."""
    note = (
        "import pathlib\nf = pathlib.Path('starts')\n"
        "f.write_text(f.read_text() + 'x' if f.exists() else 'x')"
    )
    child = [sys.executable, "-c", f"{note}\n{code}"]
    return subprocess.Popen(  # noqa: S603  (our own interpreter and script)
        [sys.executable, str(SUPERVISE), "--pause", "0.1", *options, "--", *child],
        cwd=folder,
        stderr=subprocess.PIPE,
        text=True,
    )


def starts(folder: Path) -> int:
    path = folder / "starts"
    return len(path.read_text()) if path.exists() else 0


def test_a_process_that_dies_under_make_run_is_started_again_and_says_so(tmp_path):
    # given a process that dies twice, then runs until told to stop
    code = """
import signal, sys, time
if len(f.read_text()) < 3:
    sys.exit(1)
signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
time.sleep(60)
"""
    process = supervised(tmp_path, code)

    # when it has been started a third time, and then honcho stops everything
    wait_for(lambda: starts(tmp_path) == 3, timeout=20, what="the third start")
    time.sleep(0.2)  # its SIGTERM handler is in place
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)

    # then it was restarted twice, each time said so, and it stopped cleanly
    assert stderr.count("exited with 1 after") == 2
    assert "restarting it in 0.1 s" in stderr
    assert "restarting it in 0.2 s" in stderr  # the pause doubles
    assert process.returncode == 0
    assert starts(tmp_path) == 3


@pytest.mark.parametrize(
    ("exit_code", "started", "said"),
    [(2, 1, "(a configuration error): not restarting it"), (1, 3, "3 short runs in a row")],
)
def test_a_configuration_error_or_a_crash_loop_stops_make_run_loudly(
    tmp_path, exit_code, started, said
):
    # given a process that always exits with ``exit_code``
    process = supervised(tmp_path, f"raise SystemExit({exit_code})", "--give-up-after", "3")

    # when it has run
    _, stderr = process.communicate(timeout=30)

    # then supervise gives up with its code (honcho then stops the rest), saying why
    assert process.returncode == exit_code
    assert starts(tmp_path) == started
    assert said in stderr


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_make_run_worker_killed_comes_back_by_itself_and_answers(own_redis, tmp_path):
    # given the Procfile's worker, as `make run` starts it (own session, as honcho does)
    line = procfile()["worker"]
    prefix = "REMAP_SIGTERM=SIGQUIT exec python scripts/supervise.py celery -A mysite worker "
    assert line.startswith(prefix)
    words = shlex.split(line)[2:]
    command = [sys.executable, words[1], "--pause", "0.2", *words[2:]]
    log_path = tmp_path / "worker.log"
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # the Makefile's
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "CELERY_BROKER_URL": own_redis.url,
        "PYTHONUNBUFFERED": "1",
        "REMAP_SIGTERM": "SIGQUIT",
    }
    with log_path.open("ab") as log:
        supervisor = subprocess.Popen(  # noqa: S603  (our own interpreter and Procfile line)
            command,
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node = f"celery@{socket.gethostname()}"

    def readies() -> int:
        return log_path.read_text(errors="replace").count(f"{node} ready.")

    try:
        wait_for(lambda: readies() == 1, timeout=60, what="the worker to start")
        worker_pid = int(
            Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()[0]
        )

        # when the worker dies (SIGKILL: no clean-up, no exit code of its own)
        os.kill(worker_pid, signal.SIGKILL)

        # then it is started again and answers a ping
        wait_for(lambda: readies() == 2, timeout=60, what="the worker to be started again")
        replies = celery_app.control.ping(destination=[node], timeout=5.0) or []
        assert [name for reply in replies for name in reply] == [node]
        assert "exited with -9" in log_path.read_text(errors="replace")
    finally:
        # when honcho stops everything (SIGTERM to the group): all stop, cleanly
        os.killpg(supervisor.pid, signal.SIGTERM)
        code = supervisor.wait(60)
    assert code == 0


def test_compose_and_kubernetes_restart_every_process_that_stops():
    # given the deployment files
    services = compose_services()
    manifests = [
        doc
        for path in sorted((DOCKER / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == "Deployment"
    ]

    # then compose restarts every long-running service (the migration runs once)
    assert {name: s.get("restart") for name, s in services.items() if name != "migrate"} == {
        name: "unless-stopped" for name in services if name != "migrate"
    }
    assert services["migrate"]["restart"] == "no"
    # and Kubernetes restarts every pod, and a web, worker or beat that stops answering
    for deployment in manifests:
        spec = deployment["spec"]["template"]["spec"]
        assert spec.get("restartPolicy", "Always") == "Always"
        if deployment["metadata"]["name"] != "flower":
            assert "livenessProbe" in spec["containers"][0], deployment["metadata"]["name"]
