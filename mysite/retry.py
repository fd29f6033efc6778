"""One retry policy for transient failures, used by every task that retries."""

import random

from django.conf import settings

RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 10 * 60


def retry_delay(retries: int) -> float:
    """Exponential backoff with jitter: between half and all of base * 2**retries, capped.

    The cap stays below TASK_VISIBILITY_TIMEOUT, the longest a worker may
    hold a message (the held-messages heartbeat of mysite/kombu_fixes.py
    keeps it the worker's own till then), so a waiting retry is never
    delivered twice.
    """
    ceiling = min(
        RETRY_BASE_SECONDS * 2**retries, RETRY_MAX_SECONDS, settings.TASK_VISIBILITY_TIMEOUT - 1
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311  (jitter, not security)
