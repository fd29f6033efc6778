"""System checks for the task setup (``manage.py check`` and every start)."""

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, register

from mysite.celery import app


@register()
def task_time_limits_check(app_configs=None, **kwargs) -> list[Error]:
    """Every task has a hard time limit below TASK_VISIBILITY_TIMEOUT.

    That is the longest a worker may hold a message (mysite/settings.py): a
    task that could run longer breaks the promise every other limit (a
    countdown, a retry wait, the sweep) is measured against. A soft limit above the hard one is
    refused by Celery only when the task is sent: catch it at start-up.
    """
    # Import every app's tasks module (what the worker's autodiscovery does).
    app.loader.autodiscover_tasks([config.name for config in apps.get_app_configs()])
    visibility = settings.TASK_VISIBILITY_TIMEOUT
    errors = []
    for name, task in sorted(app.tasks.items()):
        limit = task.time_limit or app.conf.task_time_limit
        if limit is None or limit >= visibility:
            errors.append(
                Error(
                    f"Task {name} has hard time limit {limit!r}, which must be set "
                    f"and below TASK_VISIBILITY_TIMEOUT ({visibility} s).",
                    hint="Give the task a shorter time_limit or raise TASK_VISIBILITY_TIMEOUT.",
                    id="mysite.E001",
                )
            )
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        if limit is not None and soft is not None and soft > limit:
            errors.append(
                Error(
                    f"Task {name} has soft time limit {soft!r} above its hard limit {limit!r}.",
                    hint="Set soft_time_limit below time_limit on the task.",
                    id="mysite.E002",
                )
            )
    return errors


@register()
def sweep_limits_check(app_configs=None, **kwargs) -> list[Error]:
    """A row counts as stuck only once no run of its task can still be alive.

    Otherwise the sweep queues a row whose run is merely slow, and (for a
    notification being sent, an image being processed) a second run starts
    beside the first. An image's claim must outlive its run for the same reason.
    """
    from mysite.sweep import sweeps

    app.loader.autodiscover_tasks([config.name for config in apps.get_app_configs()])
    errors = []
    for entry in sweeps():
        task = app.tasks.get(entry.task) if entry.task else None
        if task is None:
            continue
        limit = task.time_limit or app.conf.task_time_limit
        after = getattr(settings, entry.after).total_seconds()
        if entry.model == "images.Image":
            limit = max(limit, settings.IMAGES_CLAIM_SECONDS)
        if after <= limit:
            errors.append(
                Error(
                    f"{entry.after} ({after:.0f} s) must be above the {limit} s a run of "
                    f"{entry.task} may take (its hard time limit, or the image claim).",
                    hint=f"Raise {entry.after}.",
                    id="mysite.E003",
                )
            )
    claim_task = app.tasks.get("images.tasks.process_image")
    if claim_task is not None and settings.IMAGES_CLAIM_SECONDS < claim_task.time_limit:
        errors.append(
            Error(
                f"IMAGES_CLAIM_SECONDS ({settings.IMAGES_CLAIM_SECONDS}) is below the hard time "
                f"limit of images.tasks.process_image ({claim_task.time_limit} s): a live run's "
                "claim could be taken over.",
                hint="Raise IMAGES_CLAIM_SECONDS.",
                id="mysite.E004",
            )
        )
    return errors
