"""Prometheus metrics for the web and the Celery workers.

What is measured:

- web: requests by method, route name and status, and their latency
  (``MetricsMiddleware``, first in ``MIDDLEWARE``);
- tasks: counts by task name and state, from Celery's signals, and the runtime
  of each task (the signal handlers below, connected when ``mysite.celery``
  imports this module, so every worker has them);
- queues: messages waiting per project queue, read from the broker when the
  web's ``/metrics/`` is scraped (the dashboard's own query).

Several processes. gunicorn runs several web processes and a prefork worker
several pool children; each keeps its own numbers. With
``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts: prometheus_client
reads it at import) every process writes its numbers to files in that
directory and a scrape adds them up. The parent empties the directory when it
starts (gunicorn's ``on_starting``, the worker's ``celeryd_init``) and forgets
a child that exits (``child_exit``, ``worker_process_shutdown``). Each parent
needs a directory of its own: a gunicorn master and a worker sharing one would
empty each other's. Without the variable the numbers live in the process's
default registry, which is right for ``runserver``, a solo or thread-pool
worker and the tests.

Exposure: the web at ``GET /metrics/`` (``mysite.views.metrics``); a worker on
its own port when ``CELERY_METRICS_PORT`` is set (it lives in another
container). When ``METRICS_TOKEN`` is set both require
``Authorization: Bearer <token>``; unset, they answer anyone who reaches them.
"""

import hmac
import logging
import os
import threading
import time
from http import HTTPStatus
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

from celery import signals, states
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what every Prometheus version reads
MULTIPROC_DIR_VAR = "PROMETHEUS_MULTIPROC_DIR"

# Labels must stay few: a method outside this set is "other", and a request
# is labelled with its route name, never its path.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNRESOLVED_VIEW = "<unresolved>"  # no URL pattern matched (404s, redirects)
UNKNOWN_TASK = "<unknown>"  # a message for no registered task

# --- Metrics ----------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "mysite_http_requests",
    "HTTP requests answered, by method, route name and status code.",
    ["method", "view", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "mysite_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route name.",
    ["method", "view"],
)
TASKS = Counter(
    "mysite_celery_tasks",
    "Celery tasks by name and state: RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, "
    "REVOKED, REJECTED (a message for no registered task).",
    ["task", "state"],
)
TASK_RUNTIME = Histogram(
    "mysite_celery_task_runtime_seconds",
    "Time a task ran in the worker (whatever its outcome), by task name.",
    ["task"],
    # Tasks run from milliseconds to the 600 s hard time limit.
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)


class QueueDepthCollector:
    """Messages waiting per project queue, asked from the broker at scrape time.

    ``mysite_celery_broker_up`` says whether the broker answered; when it did
    not, there are no queue samples (rather than a misleading zero).
    """

    def collect(self):
        from mysite import selectors  # models: only once Django is set up

        depths = selectors.queue_depths()
        up = GaugeMetricFamily(
            "mysite_celery_broker_up", "1 if the broker answered the last scrape, else 0."
        )
        up.add_metric([], 0 if depths is None else 1)
        yield up
        queues = GaugeMetricFamily(
            "mysite_celery_queue_messages",
            "Messages waiting in each project queue (not those a worker holds).",
            labels=["queue"],
        )
        for name, count in (depths or {}).items():
            queues.add_metric([name], count)
        yield queues


# --- Registries and exposition ----------------------------------------------


def multiprocess_dir() -> Path | None:
    """The multi-process directory, or None in single-process mode."""
    path = os.environ.get(MULTIPROC_DIR_VAR)
    return Path(path) if path else None


class _ProcessRegistry:
    """This process's default registry, as one collector of another registry."""

    def collect(self):
        return REGISTRY.collect()


class _StartedProcessesCollector(multiprocess.MultiProcessCollector):
    """prometheus_client's collector over the files of processes that have
    written their first number. A process creates its file empty and sizes it
    a moment later; prometheus_client fails the whole scrape on an empty file
    (a 500 if a pool child starts while it is scraped), so such a file waits
    for the next scrape."""

    HEADER = 8  # bytes: the used-size field and its padding, written first

    def collect(self):
        return self.merge([str(path) for path in self._files()], accumulate=True)

    def _files(self) -> list[Path]:
        files = []
        for path in Path(self._path).glob("*.db"):
            try:
                if path.stat().st_size >= self.HEADER:
                    files.append(path)
            except FileNotFoundError:  # its process was marked dead meanwhile
                continue
        return files


def registry_build(*, queues: bool) -> CollectorRegistry:
    """A registry for one scrape: every process's numbers (or this process's),
    plus the queue depths when ``queues``."""
    registry = CollectorRegistry()
    if multiprocess_dir() is not None:
        _StartedProcessesCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    if queues:
        registry.register(QueueDepthCollector())
    return registry


def exposition(*, queues: bool) -> bytes:
    """The text exposition format of ``registry_build(queues=queues)``."""
    return generate_latest(registry_build(queues=queues))


def token_refusal(authorization: str, token: str) -> HTTPStatus | None:
    """None if ``authorization`` carries ``token`` (or no token is required),
    else the status to answer: 401 without a bearer token, 403 with a wrong one."""
    if not token:
        return None
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return HTTPStatus.UNAUTHORIZED
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return HTTPStatus.FORBIDDEN
    return None


REFUSAL_MESSAGES = {
    HTTPStatus.UNAUTHORIZED: "A metrics token is required.\n",
    HTTPStatus.FORBIDDEN: "Wrong metrics token.\n",
}
CHALLENGE = 'Bearer realm="metrics"'  # WWW-Authenticate with a 401


# --- Web --------------------------------------------------------------------


class MetricsMiddleware:
    """Counts and times every request; first in MIDDLEWARE, so it sees them all."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - start
        method = request.method if request.method in HTTP_METHODS else "other"
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else UNRESOLVED_VIEW
        HTTP_REQUESTS.labels(method=method, view=view, status=str(response.status_code)).inc()
        HTTP_REQUEST_DURATION.labels(method=method, view=view).observe(elapsed)
        return response


def multiprocess_dir_reset() -> None:
    """Empty the multi-process directory (its ``*.db`` files) before any child
    starts; create it if missing. Nothing to do in single-process mode."""
    path = multiprocess_dir()
    if path is None:
        return
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # only prometheus_client's files
        stale.unlink()
    logger.info("metrics: multi-process directory %s emptied", path)


def process_dead(pid: int) -> None:
    """Forget a child process that exited (its live gauges)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)


def gunicorn_on_starting(server) -> None:
    """gunicorn ``on_starting`` hook: runs once in the master before it forks."""
    multiprocess_dir_reset()


def gunicorn_child_exit(server, worker) -> None:
    """gunicorn ``child_exit`` hook: runs in the master when a worker exits."""
    process_dead(worker.pid)


# --- Celery -----------------------------------------------------------------
# Connected at import; mysite.celery imports this module, so every worker (and
# the tests' in-process worker) counts its tasks. Handlers run in the process
# that sees the event: RECEIVED and REVOKED in the worker's main process,
# STARTED, SUCCESS and the runtime in the pool child, FAILURE and RETRY in
# either (a hard time limit or a lost child is noticed by the main process).

_task_started: dict[str, float] = {}  # task id -> monotonic start, in this process


def _count(task: str, state: str) -> None:
    TASKS.labels(task=task, state=state).inc()


@signals.task_received.connect
def _task_received(request=None, **kwargs) -> None:
    _count(request.name, states.RECEIVED)


@signals.task_prerun.connect
def _task_prerun(task_id=None, task=None, **kwargs) -> None:
    _task_started[task_id] = time.monotonic()
    _count(task.name, states.STARTED)


@signals.task_postrun.connect
def _task_postrun(task_id=None, task=None, **kwargs) -> None:
    started = _task_started.pop(task_id, None)
    if started is not None:
        TASK_RUNTIME.labels(task=task.name).observe(time.monotonic() - started)


@signals.task_success.connect
def _task_success(sender=None, **kwargs) -> None:
    _count(sender.name, states.SUCCESS)


@signals.task_failure.connect
def _task_failure(sender=None, **kwargs) -> None:
    _count(sender.name, states.FAILURE)


@signals.task_retry.connect
def _task_retry(sender=None, **kwargs) -> None:
    _count(sender.name, states.RETRY)


@signals.task_revoked.connect
def _task_revoked(sender=None, **kwargs) -> None:
    _count(sender.name, states.REVOKED)


@signals.task_rejected.connect
@signals.task_unknown.connect
def _task_rejected(**kwargs) -> None:
    # Names from unknown messages are not trusted as labels (unbounded).
    _count(UNKNOWN_TASK, states.REJECTED)


@signals.celeryd_init.connect
def _worker_starting(**kwargs) -> None:
    """``celery worker`` starting, before its pool forks (not the tests' worker)."""
    multiprocess_dir_reset()


@signals.worker_process_shutdown.connect
def _pool_child_exit(pid=None, **kwargs) -> None:
    process_dead(pid)


_worker_server: ThreadingWSGIServer | None = None
_worker_server_lock = threading.Lock()


@signals.worker_ready.connect
def _worker_ready(sender=None, **kwargs) -> None:
    """``celery worker`` ready (sent again after a reconnect): serve its metrics.

    A prefork pool's children count in their own memory, so without the
    multi-process directory the port would show the main process's numbers
    only: refuse (Celery logs the error; the worker carries on without metrics).
    """
    from celery.concurrency.prefork import TaskPool as PreforkPool  # workers only

    if settings.METRICS_WORKER_PORT is None:
        return
    if isinstance(sender.pool, PreforkPool) and multiprocess_dir() is None:
        raise ImproperlyConfigured(
            f"CELERY_METRICS_PORT with a prefork pool needs {MULTIPROC_DIR_VAR} "
            "(a directory of this worker's own); not serving metrics."
        )
    worker_server_start(addr=settings.METRICS_WORKER_ADDR, port=settings.METRICS_WORKER_PORT)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        """No line per scrape on the worker's output."""


def worker_app(environ, start_response):
    """WSGI app a worker serves: its (and its pool children's) numbers, behind
    the same token as the web's ``/metrics/``."""
    refusal = token_refusal(environ.get("HTTP_AUTHORIZATION", ""), settings.METRICS_TOKEN)
    if refusal is not None:
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        if refusal is HTTPStatus.UNAUTHORIZED:
            headers.append(("WWW-Authenticate", CHALLENGE))
        start_response(f"{refusal.value} {refusal.phrase}", headers)
        return [REFUSAL_MESSAGES[refusal].encode()]
    return make_wsgi_app(registry_build(queues=False))(environ, start_response)


def worker_server_start(*, addr: str, port: int) -> ThreadingWSGIServer:
    """Serve ``worker_app`` on ``addr:port`` in a daemon thread, once per process.

    Port 0 picks a free port (``server.server_port`` says which).
    """
    global _worker_server  # noqa: PLW0603  (one server per process)
    with _worker_server_lock:
        if _worker_server is None:
            server = make_server(
                addr, port, worker_app, ThreadingWSGIServer, handler_class=_QuietHandler
            )
            threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
            logger.info("metrics: serving on http://%s:%s/metrics", addr, server.server_port)
            _worker_server = server
        return _worker_server
