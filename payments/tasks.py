"""Celery tasks of the payments app: thin, they call services.

Routed to the `payments` queue by CELERY_TASK_ROUTES; its workers run with
``--prefetch-multiplier 1`` so a crash strands at most the task in hand.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from mysite.retry import retry_delay
from payments import services

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    # Acknowledged after it ran, and re-queued if the worker process dies
    # mid-task: the payment row lock and its status make a second run a no-op.
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.PAYMENTS_MAX_RETRIES,
    time_limit=60,
    soft_time_limit=50,
)
def process_payment(self, payment_id: int) -> dict:
    """Apply one payment. Database errors (deadlock, serialization failure,
    lock timeout, lost connection) roll back and retry with backoff; refusals
    are final and recorded on the payment."""
    try:
        payment = services.payment_process(payment_id=payment_id)
    except OperationalError as exc:
        if self.request.retries >= self.max_retries:
            logger.error("payment %s still pending after retries; the sweep will retry", payment_id)
            raise
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
    return {"payment": payment.pk, "status": payment.status}


@shared_task(time_limit=5 * 60, soft_time_limit=4 * 60)
def sweep_pending_payments() -> dict:
    """Periodic: queue again the payments that have been pending too long."""
    return {"requeued": services.payments_sweep()}


@shared_task(time_limit=10 * 60, soft_time_limit=9 * 60)
def check_ledger() -> dict:
    """Periodic: reconcile the ledger; staff hear of any problem in their inbox."""
    problems = services.ledger_check()
    if problems:
        logger.error("ledger check: %s problem(s): %s", len(problems), "; ".join(problems[:5]))
        services.ledger_alert_staff(problems=problems)
    return {"problems": problems[:100], "count": len(problems)}
