"""Nothing stuck: one sweep for every app's rows in flight.

A row can be left in flight (pending, processing, queued, sending) by a crash
between its commit and its publish, a broker that was down when it was
saved, a worker killed mid-task, or a task that gave up. Each app declares
its rows that can be in flight in ``<app>/sweeps.py``::

    SWEEPS = [Sweep(model="images.Image", in_flight=Q(...), since="updated_at",
                    after="IMAGES_SWEEP_AFTER", requeue=...)]

and beat's "Re-queue stuck work" runs ``sweep()`` every few minutes: the
rows in flight for longer than their setting ``after`` are locked (rows a
run holds right now are skipped), handed to ``requeue`` (which queues their
task again through ``enqueue``, under the row's task id, and moves ``since``)
and committed. Every task is idempotent, so queueing one that was merely slow
costs one no-op run.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from mysite.apps import app_modules

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sweep:
    """Rows of one model that can be in flight, and how to queue them again.

    ``in_flight``: which rows are. ``since``: the field that says since when
    (the row's last move). ``after``: the name of the setting (a timedelta)
    past which a row counts as stuck. ``requeue(rows)``: queue their work
    again and move ``since``; it runs in the transaction that locked them.
    ``task``: the task working on such a row; the system check mysite.E003
    keeps ``after`` above its hard time limit (a live run is never swept).
    """

    model: str
    in_flight: models.Q
    since: str
    after: str
    requeue: Callable[[list], object]
    task: str = ""  # the task that works on the row: ``after`` must outlive a run of it

    def stale(self, *, now=None):
        threshold = (now or timezone.now()) - getattr(settings, self.after)
        return (
            apps.get_model(self.model)
            ._default_manager.filter(self.in_flight, **{f"{self.since}__lt": threshold})
            .order_by(self.since, "pk")
        )


def unfinished_with_none_in_flight(children: models.QuerySet, *, parent: str) -> models.Q:
    """A parent (a batch, a broadcast) not yet finished, none of whose
    ``children`` (those in flight; ``parent``: their foreign key) is left:
    whatever should have finished it was lost, and the children's own sweep
    cannot bring it back."""
    none_left = ~models.Exists(children.filter(**{parent: models.OuterRef("pk")}))
    return cast(models.Q, models.Q(finished_at=None) & none_left)  # Q & Exists is a Q


def sweeps() -> list[Sweep]:
    """Every app's declared sweeps (``<app>/sweeps.py``), in INSTALLED_APPS order."""
    return [entry for module in app_modules("sweeps") for entry in module.SWEEPS]


def sweep(*, limit: int | None = None) -> dict[str, list[int]]:
    """Queue again every row in flight too long; the ids re-queued, per model.

    Each model's rows go in a transaction of their own, at most ``limit``
    (SWEEP_BATCH) per run: the next run takes the rest.
    """
    limit = limit or settings.SWEEP_BATCH
    swept = {}
    for entry in sweeps():
        with transaction.atomic():
            rows = list(entry.stale().select_for_update(skip_locked=True, of=("self",))[:limit])
            if rows:
                entry.requeue(rows)
        if rows:
            swept[entry.model] = [row.pk for row in rows]
            logger.warning(
                "sweep: queued %s %s again (in flight longer than %s)",
                len(rows),
                entry.model,
                getattr(settings, entry.after),
            )
    return swept
