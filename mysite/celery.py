"""The Celery app. Every option lives in settings under the ``CELERY_`` prefix."""

import atexit
import gc
import os

from celery import Celery
from celery.app import utils as celery_app_utils
from celery.signals import beat_init, task_postrun, task_prerun, worker_init
from django.db import close_old_connections
from kombu.utils.url import maybe_sanitize_url

from mysite import kombu_fixes
from mysite.config import environment_check_or_exit

# Every entry point (manage.py, gunicorn, celery) imports this module first:
# a bad environment stops here with one line, not a traceback.
environment_check_or_exit()

from mysite import metrics  # noqa: E402, F401  (connects the task metrics' signal handlers)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

# Every task is a ProjectTask: late ack, the retry policy as data (mysite/taskbase.py).
app = Celery("mysite", task_cls="mysite.taskbase:ProjectTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A worker survives a Redis restart and gets back what it held (kombu 5.7.0:
# celery/celery#9250, #7185); see the module.
kombu_fixes.install(app)


@app.on_after_configure.connect
def django_set_up(sender=None, **kwargs) -> None:
    """Celery's own CLI (``celery call``, ``celery result``, ``inspect``) loads the
    result backend, whose models need Django set up; workers, beat, gunicorn and
    manage.py set it up anyway (this is then a no-op). Not while Django is
    loading its apps (they import this module)."""
    from django.apps import apps

    if not apps.ready and not apps.loading:
        import django

        django.setup()


@worker_init.connect
@beat_init.connect
def broker_reachable_or_exit(sender=None, **kwargs) -> None:
    """A worker or beat that cannot reach the broker at start says so in one
    line and exits (its supervisor restarts it) instead of retrying silently.
    Waits up to CELERY_BROKER_STARTUP_TIMEOUT seconds (default 10)."""
    timeout = float(os.environ.get("CELERY_BROKER_STARTUP_TIMEOUT", "10"))
    url = app.conf.broker_url
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=None, timeout=timeout)
    except Exception as exc:  # noqa: BLE001  (whatever the transport raises)
        url = maybe_sanitize_url(url)
        line = f"mysite: cannot reach the broker at {url} (CELERY_BROKER_URL): {exc}\n"
        # To the real stderr: Celery may have redirected sys.stderr to its log.
        os.write(2, line.encode())
        os._exit(1)  # a SystemExit raised in a signal handler would be logged and ignored


@worker_init.connect
@beat_init.connect
def skip_the_last_collections(sender=None, **kwargs) -> None:
    """At exit the interpreter's last garbage collections cost a worker or beat
    about 0.7 s of CPU (some 200,000 objects, the API's pydantic schemas among
    them): seconds of its stop on a busy machine, where `make run` has 5 s
    (honcho's SIGKILL). Frozen first, what is alive is skipped by them; the
    process is ending and the OS takes the memory back. Registered last, this
    runs first of the atexit handlers: logging's still flushes after it."""
    atexit.register(gc.freeze)


def _censored(conf):
    """Celery's censoring of settings (``celery report``, ``inspect conf``), plus a
    password inside any URL: it masks ``broker_url`` by name, but our settings
    carry Django's names (CELERY_BROKER_URL, DATABASE_URL, RATE_LIMIT_REDIS_URL)."""
    censored = _celery_censored(conf)
    return {
        key: maybe_sanitize_url(value) if isinstance(value, str) and "://" in value else value
        for key, value in censored.items()
    }


_celery_censored = celery_app_utils.filter_hidden_settings
celery_app_utils.filter_hidden_settings = _censored


@task_prerun.connect
def close_old_db_connections_before(**kwargs) -> None:
    """Treat each task like a request: reuse the database connection up to
    CONN_MAX_AGE, drop it if broken (Celery's fixup would reconnect every task;
    CELERY_DB_REUSE_MAX in settings turns that off). Health-check it before
    the first query unless it wrote a result just now (mysite/results.py)."""
    from mysite.results import health_check_skip_if_fresh  # its models need Django set up

    close_old_connections()
    health_check_skip_if_fresh()


@task_postrun.connect
def close_old_db_connections_after(**kwargs) -> None:
    close_old_connections()
