"""What of the payments app can be left in flight, for the sweep (mysite/sweep.py)."""

from django.db.models import Q

from mysite.sweep import Sweep
from payments.models import Payment
from payments.services import payments_requeue

SWEEPS = [
    Sweep(
        model="payments.Payment",
        in_flight=Q(status=Payment.Status.PENDING),
        since="enqueued_at",
        after="PAYMENTS_SWEEP_AFTER",
        requeue=payments_requeue,
        task="payments.tasks.process_payment",
    ),
]
