"""The periodic tasks beat runs, installed once and then edited by staff in the admin.

Each app declares its own in ``<app>/schedules.py`` (a module-level
``SCHEDULES`` list of ``Schedule``), found through the app registry; times are
in TIME_ZONE. A periodic task takes no dates: each run works out its own period.
"""

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from mysite.apps import app_modules


@dataclass(frozen=True)
class Crontab:
    """When a schedule runs: cron fields in TIME_ZONE, "*" for every."""

    minute: str = "*"
    hour: str = "*"
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"


@dataclass(frozen=True)
class Schedule:
    """One periodic task as ``setup_schedules`` first installs it (staff edit it after)."""

    name: str  # the PeriodicTask's name: how a deploy knows it is installed
    task: str
    crontab: Crontab
    kwargs: dict[str, Any] = field(default_factory=dict)


def schedule_from(entry: Schedule | dict) -> Schedule:
    """A ``Schedule`` from one, or from the dict entries apps used to declare
    ({"name", "task", "kwargs", "crontab": {cron fields}})."""
    if isinstance(entry, Schedule):
        return entry
    return Schedule(
        name=entry["name"],
        task=entry["task"],
        crontab=Crontab(**entry["crontab"]),
        kwargs=dict(entry.get("kwargs", {})),
    )


# The project's own (mysite is an app too).
SCHEDULES = [
    # Every app's rows in flight too long (mysite/sweep.py).
    Schedule(
        name="Re-queue stuck work",
        task="mysite.tasks.sweep_in_flight",
        crontab=Crontab(minute="*/5"),
    ),
    # Instead of Celery's celery.backend_cleanup (one unbatched DELETE of
    # everything past one expiry): mysite/retention.py.
    Schedule(
        name="Prune task results",
        task="mysite.tasks.prune_results",
        crontab=Crontab(minute="0", hour="4"),
    ),
]


def project_schedules() -> list[Schedule]:
    """Every installed app's ``SCHEDULES``, in INSTALLED_APPS order.

    The apps are looked up here, not imported at the top, so that the project
    package never imports up into the apps. Two entries with one name would
    make one of them never installed: that is a configuration error.
    """
    entries = [entry for module in app_modules("schedules") for entry in module.SCHEDULES]
    schedules = [schedule_from(entry) for entry in entries]
    names = [schedule.name for schedule in schedules]
    if duplicated := sorted({name for name in names if names.count(name) > 1}):
        raise ImproperlyConfigured(f"Schedules declared twice: {', '.join(duplicated)}")
    return schedules


# Entries earlier releases installed, and what replaces each.
REPLACED = {
    "celery.backend_cleanup": "Prune task results",
    "Re-queue stuck payments": "Re-queue stuck work",  # the payments sweep, now every app's
}


def schedules_install() -> list[tuple[str, bool]]:
    """Create the periodic tasks that are missing; leave staff's edits alone.

    Returns (name, created) pairs. Safe to run on every deploy.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    installed = []
    for entry in project_schedules():
        if PeriodicTask.objects.filter(name=entry.name).exists():
            installed.append((entry.name, False))
            continue
        crontab, _ = CrontabSchedule.objects.get_or_create(
            timezone=settings.TIME_ZONE, **asdict(entry.crontab)
        )
        PeriodicTask.objects.create(
            name=entry.name, task=entry.task, crontab=crontab, kwargs=json.dumps(entry.kwargs)
        )
        installed.append((entry.name, True))
    return installed


def schedules_replace() -> list[tuple[str, str]]:
    """Turn each entry of ``REPLACED`` into its successor; returns (old, new) names.

    The row is renamed and points at the new task, so staff's edits (the time,
    enabled or not) carry over. If the successor exists already, the old row
    is deleted. Run before ``schedules_install``; safe to run on every deploy.
    """
    from django_celery_beat.models import PeriodicTask

    entries = {entry.name: entry for entry in project_schedules()}
    replaced = []
    with transaction.atomic():
        for old_name, new_name in REPLACED.items():
            old = PeriodicTask.objects.filter(name=old_name).first()
            if old is None:
                continue
            if PeriodicTask.objects.filter(name=new_name).exists():
                old.delete()  # the model's signals tell a running beat
            else:
                old.name = new_name
                old.task = entries[new_name].task
                old.kwargs = json.dumps(entries[new_name].kwargs)
                old.args = "[]"
                old.save()
            replaced.append((old_name, new_name))
    return replaced


def schedules_set_enabled(*, names: list[str], enabled: bool) -> int:
    """Enable or disable periodic tasks in bulk so a running beat notices.

    A queryset ``update()`` sends no signals, and beat only reloads when the
    change marker moves: move it here. As ``PeriodicTask.save()`` does, a
    disabled task forgets its last run, so enabling it again waits for its
    next slot instead of catching up at once.
    """
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    changes = {"enabled": enabled, "date_changed": timezone.now()}
    if not enabled:
        changes["last_run_at"] = None
    with transaction.atomic():
        count = PeriodicTask.objects.filter(name__in=names).update(**changes)
        PeriodicTasks.update_changed()
    return count
