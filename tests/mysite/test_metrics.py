"""Prometheus metrics: the web's /metrics/, task counts from a real worker,
queue depths from the real broker, and several processes adding up.

Counters live for the whole test session (one registry per process), so each
test reads a value before and after what it does. The multi-process tests run
their own processes with ``PROMETHEUS_MULTIPROC_DIR`` set: prometheus_client
reads it at import, so this process stays in single-process mode.
"""

import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from kombu import Exchange, Queue
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from mysite import metrics
from mysite.celery import app as celery_app
from mysite.enqueue import enqueue
from mysite.tasks import demo_task as demo_task_task
from tests.helpers.celery_process import WorkerProcess
from tests.helpers.services import closed_port, database_url, wait_for

BASE_DIR = Path(settings.BASE_DIR)
TOKEN = "metrics-test-token"


# Tasks of this module only, so their counts move only when these tests run
# them. Defined at import (collection), before the session worker starts.
@celery_app.task(name="tests.metrics.succeed")
def succeed_task(value: int) -> int:
    return value


@celery_app.task(name="tests.metrics.fail")
def fail_task() -> None:
    raise ValueError("this task always fails")


@celery_app.task(name="tests.metrics.retry_once", bind=True, max_retries=1)
def retry_once_task(self) -> str:
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "second try"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels) -> float:
    """One sample's value; 0 when the series does not exist yet."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(client, **headers) -> str:
    response = client.get("/metrics/", headers=headers)
    assert response.status_code == 200, response.content
    return response.content.decode()


def task_values(task: str) -> dict[str, float]:
    """This process's task counts for ``task`` by state, and its runtime count."""
    text = metrics.exposition(queues=False).decode()
    counts = {
        state: value(text, "mysite_celery_tasks_total", task=task, state=state)
        for state in ("RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY")
    }
    counts["runtime_count"] = value(text, "mysite_celery_task_runtime_seconds_count", task=task)
    return counts


# --- Web --------------------------------------------------------------------

pytestmark = pytest.mark.django_db


def test_metrics_is_the_text_exposition_format(client):
    # when
    response = client.get("/metrics/")

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    assert "# TYPE mysite_http_requests_total counter" in text
    assert "# TYPE mysite_http_request_duration_seconds histogram" in text
    assert "# TYPE mysite_celery_queue_messages gauge" in text
    assert samples(text)  # the official parser reads it


def test_a_request_is_counted_by_route_name_and_status(client):
    # given
    before = scrape(client)

    # when
    assert client.get("/healthz/").status_code == 200
    assert client.get("/api/v1/tasks/not-a-uuid").status_code == 401  # anonymous

    # then
    after = scrape(client)
    for view, status in (("healthz", "200"), ("api-v1:task-get", "401")):
        labels = {"method": "GET", "view": view, "status": status}
        assert value(after, "mysite_http_requests_total", **labels) == (
            value(before, "mysite_http_requests_total", **labels) + 1
        )
        duration = {"method": "GET", "view": view}
        assert value(after, "mysite_http_request_duration_seconds_count", **duration) == (
            value(before, "mysite_http_request_duration_seconds_count", **duration) + 1
        )


def test_paths_and_odd_methods_never_become_labels(client):
    # given
    secret_path = f"/no-such-page-{uuid.uuid4().hex}/"
    before = scrape(client)

    # when
    assert client.get(secret_path).status_code == 404
    assert client.generic("BREW", "/healthz/").status_code == 405

    # then
    after = scrape(client)
    assert secret_path.strip("/") not in after
    assert "BREW" not in after
    unresolved = {"method": "GET", "view": "<unresolved>", "status": "404"}
    assert value(after, "mysite_http_requests_total", **unresolved) == (
        value(before, "mysite_http_requests_total", **unresolved) + 1
    )
    brewed = {"method": "other", "view": "healthz", "status": "405"}
    assert value(after, "mysite_http_requests_total", **brewed) == (
        value(before, "mysite_http_requests_total", **brewed) + 1
    )


def test_with_a_token_set_metrics_need_it(client, settings):
    # given
    settings.METRICS_TOKEN = TOKEN

    # when
    missing = client.get("/metrics/")
    not_bearer = client.get("/metrics/", headers={"Authorization": f"Basic {TOKEN}"})
    wrong = client.get("/metrics/", headers={"Authorization": "Bearer not-the-token"})
    right = client.get("/metrics/", headers={"Authorization": f"Bearer {TOKEN}"})

    # then
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert not_bearer.status_code == 401
    assert wrong.status_code == 403
    assert b"mysite_" not in missing.content + not_bearer.content + wrong.content
    assert right.status_code == 200
    assert b"# TYPE mysite_http_requests_total counter" in right.content


def test_post_is_refused(client):
    assert client.post("/metrics/").status_code == 405


# --- Tasks on the real worker -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_task_that_succeeds_is_counted_and_timed(celery_worker):
    # given
    before = task_values("tests.metrics.succeed")

    # when
    enqueue(succeed_task, args=[7])

    # then
    wait_for(  # the runtime is observed last (task_postrun)
        lambda: task_values("tests.metrics.succeed")["runtime_count"] > before["runtime_count"],
        what="the task's runtime to be observed",
    )
    after = task_values("tests.metrics.succeed")
    assert after["RECEIVED"] == before["RECEIVED"] + 1
    assert after["STARTED"] == before["STARTED"] + 1
    assert after["SUCCESS"] == before["SUCCESS"] + 1
    assert after["FAILURE"] == before["FAILURE"]
    assert after["runtime_count"] == before["runtime_count"] + 1


@pytest.mark.django_db(transaction=True)
def test_a_task_that_fails_is_counted_as_failure(celery_worker):
    # given
    before = task_values("tests.metrics.fail")

    # when
    enqueue(fail_task)

    # then
    wait_for(
        lambda: task_values("tests.metrics.fail")["runtime_count"] > before["runtime_count"],
        what="the failed task's runtime to be observed",
    )
    after = task_values("tests.metrics.fail")
    assert after["FAILURE"] == before["FAILURE"] + 1
    assert after["SUCCESS"] == before["SUCCESS"]
    assert after["STARTED"] == before["STARTED"] + 1
    assert after["runtime_count"] == before["runtime_count"] + 1


@pytest.mark.django_db(transaction=True)
def test_a_task_that_retries_is_counted_once_per_attempt(celery_worker):
    # given
    before = task_values("tests.metrics.retry_once")

    # when
    enqueue(retry_once_task)

    # then
    wait_for(  # the runtime is observed last (task_postrun), after each attempt
        lambda: (
            task_values("tests.metrics.retry_once")["runtime_count"] >= before["runtime_count"] + 2
        ),
        what="both attempts to be timed",
    )
    after = task_values("tests.metrics.retry_once")
    assert after["RETRY"] == before["RETRY"] + 1
    assert after["RECEIVED"] == before["RECEIVED"] + 2  # the retry is a new message
    assert after["STARTED"] == before["STARTED"] + 2
    assert after["SUCCESS"] == before["SUCCESS"] + 1
    assert after["FAILURE"] == before["FAILURE"]
    assert after["runtime_count"] == before["runtime_count"] + 2


# --- Queue depths from the broker -------------------------------------------


@pytest.fixture
def idle_queue(settings):
    """A queue no worker consumes, listed with the project's queues; removed after."""
    name = f"wtmetrics_idle_{uuid.uuid4().hex[:12]}"
    settings.TASK_QUEUE_NAMES = (*settings.TASK_QUEUE_NAMES, name)
    queue = Queue(name, routing_key=name)
    with celery_app.connection_for_write() as conn:
        queue(conn.default_channel).declare()
    yield queue
    with celery_app.connection_for_write() as conn:
        bound = queue(conn.default_channel)
        bound.purge()
        bound.delete()


def test_queue_depth_shows_the_messages_waiting(client, idle_queue):
    # given
    with celery_app.connection_for_write() as conn, conn.Producer() as producer:
        for n in range(3):
            producer.publish({"n": n}, routing_key=idle_queue.name, serializer="json")

    # when
    text = scrape(client)

    # then
    assert value(text, "mysite_celery_broker_up") == 1
    assert value(text, "mysite_celery_queue_messages", queue=idle_queue.name) == 3
    for name in ("default", "images", "reports", "notifications", "payments"):
        assert ("mysite_celery_queue_messages", frozenset({("queue", name)})) in samples(text)


def test_an_unreachable_broker_does_not_break_the_scrape(client, broker_down):
    # when
    text = scrape(client)

    # then
    assert value(text, "mysite_celery_broker_up") == 0
    assert not [key for key in samples(text) if key[0] == "mysite_celery_queue_messages"]
    assert "mysite_http_requests_total" in text


# --- Several processes ------------------------------------------------------

REQUEST_SCRIPT = """
import sys
import django
django.setup()
from django.test import Client
response = Client(HTTP_HOST="localhost").get(sys.argv[1])
sys.stdout.write(response.content.decode())
"""


def process_env(multiproc_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment for a process in multi-process mode."""
    env = {k: v for k, v in os.environ.items() if k not in {"METRICS_TOKEN", "CELERY_METRICS_PORT"}}
    env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    return {**env, **extra}


def pids_with_files(multiproc_dir: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[1] for path in multiproc_dir.glob("*.db")}


def test_two_web_processes_add_up_in_one_scrape(tmp_path):
    # given: two processes, each answering one request
    env = process_env(tmp_path)
    command = [sys.executable, "-c", REQUEST_SCRIPT]
    workers = [
        subprocess.Popen(  # noqa: S603  (our own interpreter and code)
            [*command, "/healthz/"], env=env, cwd=BASE_DIR, stdout=subprocess.DEVNULL
        )
        for _ in range(2)
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    assert len(pids_with_files(tmp_path)) == 2

    # when: a third process answers the scrape
    scraped = subprocess.run(  # noqa: S603  (our own interpreter and code)
        [*command, "/metrics/"],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the assert below shows its stderr
    )

    # then
    assert scraped.returncode == 0, scraped.stderr
    labels = {"method": "GET", "view": "healthz", "status": "200"}
    assert value(scraped.stdout, "mysite_http_requests_total", **labels) == 2
    duration = {"method": "GET", "view": "healthz"}
    assert value(scraped.stdout, "mysite_http_request_duration_seconds_count", **duration) == 2
    assert value(scraped.stdout, "mysite_celery_broker_up") == 1


def get(url: str, **headers) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310  (a loopback URL)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def answers(url: str) -> bool:
    try:
        get(url)
    except OSError:  # not listening yet
        return False
    return True


@pytest.mark.django_db(transaction=True)
def test_a_prefork_worker_serves_its_children_numbers(tmp_path):
    """A real ``celery worker`` (prefork, two children) on a queue of its own:
    the main process counts RECEIVED, the children STARTED and SUCCESS, and the
    worker's port shows them added up."""
    # given: a stale file a previous run left behind, and a file that is not ours
    (tmp_path / "counter_999999999.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("kept")
    queue = f"wtmetrics_prefork_{uuid.uuid4().hex[:12]}"
    port = closed_port()
    url = f"http://127.0.0.1:{port}/metrics"
    env = process_env(
        tmp_path,
        DATABASE_URL=database_url(connection.settings_dict),
        CELERY_METRICS_PORT=str(port),
        CELERY_METRICS_ADDR="127.0.0.1",
        METRICS_TOKEN=TOKEN,
    )
    worker = WorkerProcess(
        tmp_path / "worker.log", concurrency=2, name=queue, queues=queue, inherit=env
    )
    try:
        assert worker.poll(lambda: answers(url), timeout=60), worker.log()

        # when
        for _ in range(4):
            demo_task_task.apply_async(kwargs={"seconds": 0}, queue=queue, routing_key=queue)

        # then
        def all_timed() -> str | None:  # the runtime is observed last (task_postrun)
            status, text = get(url, Authorization=f"Bearer {TOKEN}")
            assert status == 200
            timed = value(text, "mysite_celery_task_runtime_seconds_count", **runtime)
            return text if timed == 4 else None

        runtime = {"task": "mysite.tasks.demo_task"}
        text = wait_for(all_timed, timeout=60, what="four tasks timed on the worker's port")
        for state in ("RECEIVED", "STARTED", "SUCCESS"):
            labels = {"task": "mysite.tasks.demo_task", "state": state}
            assert value(text, "mysite_celery_tasks_total", **labels) == 4
        assert "mysite_celery_queue_messages" not in text  # the web reports queues
        assert len(pids_with_files(tmp_path)) >= 2  # the main process and a child at least
        assert "999999999" not in pids_with_files(tmp_path)  # emptied at start
        assert (tmp_path / "notes.txt").read_text() == "kept"  # only *.db files go
        assert get(url)[0] == 401
        assert get(url, Authorization="Bearer wrong")[0] == 403
    finally:
        worker.stop()
        delete_queue(queue)


def delete_queue(queue: str) -> None:
    """Remove a worker's queue of its own from the broker."""
    with celery_app.connection_for_write() as conn:
        # As the worker declared it (-Q): declaring makes the channel know the
        # binding, so delete removes that too.
        bound = Queue(queue, Exchange(queue), routing_key=queue)(conn.default_channel)
        bound.declare()
        bound.delete()


def test_a_prefork_worker_without_the_directory_refuses_to_serve_metrics(tmp_path):
    # given: a port, but no PROMETHEUS_MULTIPROC_DIR
    env = process_env(tmp_path, CELERY_METRICS_PORT=str(closed_port()))
    del env["PROMETHEUS_MULTIPROC_DIR"]
    queue = f"wtmetrics_nodir_{uuid.uuid4().hex[:12]}"

    # when
    worker = WorkerProcess(
        tmp_path / "worker.log", concurrency=1, name=queue, queues=queue, inherit=env
    )
    try:
        # then
        worker.wait_ready()
        output = worker.log()
        assert "CELERY_METRICS_PORT with a prefork pool needs PROMETHEUS_MULTIPROC_DIR" in output
        assert "metrics: serving on" not in output
        assert worker.process.poll() is None, output  # tasks still run; only metrics are refused
    finally:
        worker.stop()
        delete_queue(queue)


def test_gunicorn_hooks_empty_the_directory_and_forget_a_dead_worker(tmp_path, monkeypatch):
    # given
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    server = SimpleNamespace()  # gunicorn's arbiter; the hooks do not use it

    # when: the master starts (the directory does not exist yet)
    metrics.gunicorn_on_starting(server)

    # then
    assert (tmp_path / "metrics").is_dir()

    # given: files of a previous run and a live gauge of a worker about to exit
    (tmp_path / "metrics" / "counter_41.db").write_bytes(b"old")
    (tmp_path / "metrics" / "gauge_livesum_42.db").write_bytes(b"live")
    (tmp_path / "metrics" / "README").write_text("not ours")

    # when
    metrics.gunicorn_child_exit(server, SimpleNamespace(pid=42))

    # then
    assert sorted(p.name for p in (tmp_path / "metrics").iterdir()) == ["README", "counter_41.db"]

    # when: the master starts again
    metrics.gunicorn_on_starting(server)

    # then
    assert sorted(p.name for p in (tmp_path / "metrics").iterdir()) == ["README"]


def test_a_scrape_while_a_process_creates_its_file_leaves_that_file_for_the_next(
    tmp_path, monkeypatch
):
    # given: one process's counter, and the empty file of a process starting
    # this instant (prometheus_client sizes it a moment after creating it)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    written = MmapedDict(str(tmp_path / "counter_41.db"))
    key = mmap_key("mysite_demo", "mysite_demo_total", [], [], "Demo.")
    written.write_value(key, 3.0, 0.0)
    written.close()
    (tmp_path / "counter_42.db").touch()

    # when
    text = metrics.exposition(queues=False).decode()

    # then: the scrape answers, with the started process's number
    assert value(text, "mysite_demo_total") == 3.0
