"""The project's task class (``task_cls`` of the Celery app): every task is one.

The retry policy is data on the task, not code in it::

    @shared_task(
        bind=True,
        transient=(StorageUnavailable,),   # retried with the project backoff
        max_retries=5,                     # then given up
        row=WorkRow("images.Image", arg="image_id", done=Q(status__in=[...]),
                    fail=services.image_fail),
    )
    def process_image(self, image_id): ...

- A ``transient`` exception is retried after ``retry_delay()`` (a provider's
  ``retry_after`` on the exception is honoured, within the cap), with the
  same arguments or those ``next_try_kwargs()`` returns.
- When the task gives up (retries used up, or any other exception),
  ``on_failure`` marks its domain row failed through the app's own service
  (``row.fail``), with a reason a person can read.
- ``row`` also tells the operations console which row a task works on
  (a link), and whether retrying it makes sense (``done``, ``reopen``).

Every task is acknowledged late and re-queued if its worker process dies
mid-task (CELERY_TASK_ACKS_LATE, CELERY_TASK_REJECT_ON_WORKER_LOST): each one
is safe to run twice (its row's status, claims and locks decide).
"""

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import Task
from django.apps import apps
from django.db import models

from mysite.retry import RETRY_MAX_SECONDS, retry_delay

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkRow:
    """The domain row a task works on.

    ``model``: "app_label.Model". ``arg``: the task argument that holds the
    row's id; empty: the row whose ``task_id`` is the task's id (a report's
    task takes a period, not an id). ``done``: the rows that need nothing
    more (the console refuses to retry their task). ``reopen``: the values
    that put a finished row back in flight before its task runs again (a
    failed image is pending again; without them the task would find it final
    and do nothing), or the app's service that does it, called as
    ``reopen(<arg>=id)`` (a failed notification leaves its broadcast's
    count). ``fail``: the app's service that marks one
    failed, called as ``fail(<arg>=id, reason=...)``; None: the row stays in
    flight for the sweep (a pending payment).
    """

    model: str
    done: models.Q
    arg: str = ""
    reopen: dict | Callable[..., object] = field(default_factory=dict)
    fail: Callable[..., object] | None = field(default=None, compare=False)

    @property
    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    def row_id(self, task: Task, args, kwargs) -> int | None:
        """The row's primary key from a call's arguments (None: not in them)."""
        if not self.arg:
            return None
        try:
            bound = inspect.signature(task.run).bind(*(args or ()), **(kwargs or {}))
        except TypeError:
            return None
        return bound.arguments.get(self.arg)

    def find(self, task: Task, args, kwargs, task_id: str) -> models.Model | None:
        """The row this call worked on, or None if it is gone."""
        manager = self.model_class._default_manager
        if self.arg:
            row_id = self.row_id(task, args, kwargs)
            return manager.filter(pk=row_id).first() if row_id is not None else None
        return manager.filter(task_id=task_id).first()

    def is_done(self, row: models.Model) -> bool:
        return self.model_class._default_manager.filter(self.done, pk=row.pk).exists()

    def reopen_row(self, row: models.Model) -> None:
        """Put ``row`` back in flight (``reopen``), unless it is done."""
        if callable(self.reopen):
            self.reopen(**{self.arg or f"{row._meta.model_name}_id": row.pk})
        elif self.reopen:
            manager = self.model_class._default_manager
            manager.filter(pk=row.pk).exclude(self.done).update(**self.reopen)


class ProjectTask(Task):
    """Transient errors retried with the project backoff; a give-up recorded on the row."""

    transient: tuple[type[BaseException], ...] = ()
    max_retries = 5
    row: WorkRow | None = None

    def __call__(self, *args, **kwargs):
        if self.request.called_directly:  # a plain function call: no retries
            return super().__call__(*args, **kwargs)
        try:
            return self.run(*args, **kwargs)  # the worker has pushed the request
        except self.transient as exc:
            if self.request.retries >= self.max_retries:
                raise
            raise self.retry(
                exc=exc,
                args=args,
                kwargs=self.next_try_kwargs(kwargs),
                countdown=self.retry_countdown(exc),
            ) from exc

    def next_try_kwargs(self, kwargs: dict) -> dict:
        """The keyword arguments of the next try (a task may pin a moving default)."""
        return kwargs

    def retry_countdown(self, exc: BaseException) -> float:
        """The project backoff; a ``retry_after`` the exception carries, within the cap."""
        countdown = retry_delay(self.request.retries)
        retry_after = getattr(exc, "retry_after", None) or 0
        return min(max(retry_after, countdown), RETRY_MAX_SECONDS)

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        """Given up: mark the domain row failed, with a reason a person can read."""
        if self.row is None:
            return
        if self.row.fail is None:
            logger.warning("%s[%s] gave up: its row stays for the sweep", self.name, task_id)
            return
        row = self.row.find(self, args, kwargs, task_id)
        if row is None or self.row.is_done(row):
            return
        reason = failure_reason(exc, retries=self.request.retries, transient=self.transient)
        arg = self.row.arg or f"{row._meta.model_name}_id"
        try:
            self.row.fail(**{arg: row.pk, "reason": reason})
        except Exception:  # the failure itself is recorded on the result either way
            logger.exception("%s[%s]: could not mark %s failed", self.name, task_id, row)


def failure_reason(exc: BaseException, *, retries: int, transient: tuple) -> str:
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if transient and isinstance(exc, transient):
        return f"Gave up after {retries} retries: {what}"
    return what
