"""The Celery app. Every option lives in settings under the ``CELERY_`` prefix."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

from mysite import metrics  # noqa: F401  (connects the task metrics' signal handlers)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

app = Celery("mysite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_db_connections(**kwargs) -> None:
    """Treat each task like a request: reuse the database connection up to
    CONN_MAX_AGE, drop it if broken (Celery's fixup would reconnect every task;
    CELERY_DB_REUSE_MAX in settings turns that off)."""
    close_old_connections()
