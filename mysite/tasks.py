"""Project-level tasks (queue ``default``)."""

import logging
import time

from celery import shared_task

from mysite import retention, sweep

logger = logging.getLogger(__name__)

DEMO_MAX_SECONDS = 10


@shared_task(time_limit=DEMO_MAX_SECONDS + 10, soft_time_limit=DEMO_MAX_SECONDS + 5)
def demo_task(seconds: float = 2.0) -> dict:
    """A small task for the dashboard: stays STARTED for ``seconds``, then succeeds."""
    seconds = min(max(float(seconds), 0.0), DEMO_MAX_SECONDS)
    logger.info("demo task running for %.1f s", seconds)
    time.sleep(seconds)
    return {"slept": seconds}


@shared_task
def prune_results() -> dict:
    """Periodic (daily): delete the task results past their retention, in batches.

    Each batch commits on its own: a run stopped by the time limit keeps what
    it deleted, and the next one goes on from there.
    """
    return retention.results_prune()


@shared_task(time_limit=5 * 60, soft_time_limit=4 * 60)
def sweep_in_flight() -> dict:
    """Periodic (every 5 minutes): queue again every app's rows in flight too long."""
    return {"requeued": sweep.sweep()}
