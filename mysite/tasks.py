"""Project-level tasks (queue ``default``)."""

import logging
import time

from celery import shared_task

logger = logging.getLogger(__name__)

DEMO_MAX_SECONDS = 10


@shared_task(time_limit=DEMO_MAX_SECONDS + 10, soft_time_limit=DEMO_MAX_SECONDS + 5)
def demo_task(seconds: float = 2.0) -> dict:
    """A small task for the dashboard: stays STARTED for ``seconds``, then succeeds."""
    seconds = min(max(float(seconds), 0.0), DEMO_MAX_SECONDS)
    logger.info("demo task running for %.1f s", seconds)
    time.sleep(seconds)
    return {"slept": seconds}
