"""Celery tasks of the payments app: thin, they call services.

Routed to the `payments` queue by CELERY_TASK_ROUTES; its workers run with
``--prefetch-multiplier 1`` so a crash strands at most the task in hand.
"""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.db.models import Q

from mysite.taskbase import WorkRow
from payments import services
from payments.models import Payment

logger = logging.getLogger(__name__)


@shared_task(
    # Re-queued if the worker process dies mid-task (as every task): the
    # payment row lock and its status make a second run a no-op.
    transient=(OperationalError, InterfaceError),
    max_retries=8,  # database errors only; then the sweep takes over
    # Given up, a payment stays pending: the sweep queues it again later.
    row=WorkRow("payments.Payment", arg="payment_id", done=~Q(status=Payment.Status.PENDING)),
    time_limit=60,
    soft_time_limit=50,
    # The payment row is the outcome (the API and the pages poll it): no
    # STARTED and SUCCESS rows written per payment. A failure is still stored,
    # for the operations console.
    ignore_result=True,
    store_errors_even_if_ignored=True,
)
def process_payment(payment_id: int) -> dict:
    """Apply one payment. Database errors (deadlock, serialization failure,
    lock timeout, lost connection) roll back and retry with backoff; refusals
    are final and recorded on the payment."""
    payment = services.payment_process(payment_id=payment_id)
    return {"payment": payment.pk, "status": payment.status}


@shared_task(time_limit=10 * 60, soft_time_limit=9 * 60)
def check_ledger() -> dict:
    """Periodic: reconcile the ledger; staff hear of any problem in their inbox."""
    problems = services.ledger_check()
    if problems:
        logger.error("ledger check: %s problem(s): %s", len(problems), "; ".join(problems[:5]))
        services.ledger_alert_staff(problems=problems)
    return {"problems": problems[:100], "count": len(problems)}
