"""Nothing stuck, nothing off: re-queue stuck payments, reconcile the ledger."""

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from mysite.enqueue import enqueue
from payments.models import ZERO, Account, LedgerEntry, Payment


def payments_requeue(payments: list[Payment]) -> None:
    """Queue each payment again, under its own task id; for the sweep (payments/sweeps.py).

    A process that dies between the commit that created a payment and the
    publish of its task would leave it pending forever; so would a broker
    that was down, or a task that ran out of retries. Processing is
    idempotent, so queueing one that is merely slow costs one no-op task.
    """
    from payments.tasks import process_payment as process_payment_task

    now = timezone.now()
    for payment in payments:
        payment.task_id = enqueue(
            process_payment_task, args=[payment.pk], task_id=payment.task_id or None
        )
        payment.enqueued_at = now
    Payment.objects.bulk_update(payments, ["task_id", "enqueued_at"])


def ledger_check() -> list[str]:
    """Every way the ledger can disagree with itself, one readable line each.

    - each account's entries sum to its balance;
    - all entries of a currency sum to zero;
    - a completed (or refunded) payment has exactly two entries: minus its
      amount on the payer, plus its amount on the payee; any other payment has none.
    """
    problems = []
    off_balance = (
        Account.objects.annotate(entries_sum=Coalesce(Sum("entries__amount"), ZERO))
        .exclude(balance=F("entries_sum"))
        .order_by("pk")
    )
    problems += [
        f"Account #{a.pk} ({a.name}): balance {a.balance} {a.currency}, "
        f"but its ledger entries sum to {a.entries_sum:.2f}."
        for a in off_balance
    ]
    totals = (
        LedgerEntry.objects.values("account__currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("account__currency")
    )
    problems += [
        f"All {t['account__currency']} entries sum to {t['total']:.2f}, not zero." for t in totals
    ]
    applied = [Payment.Status.COMPLETED, Payment.Status.REFUNDED]
    wrong_count = (
        Payment.objects.annotate(lines=Count("entries"))
        .filter((Q(status__in=applied) & ~Q(lines=2)) | (~Q(status__in=applied) & ~Q(lines=0)))
        .order_by("pk")
    )
    problems += [
        f"Payment #{p.pk} is {p.status} but has {p.lines} ledger entries "
        f"(expected {2 if p.status in applied else 0})."
        for p in wrong_count
    ]
    wrong_lines = (
        LedgerEntry.objects.exclude(
            Q(account=F("payment__payer"), amount=-F("payment__amount"))
            | Q(account=F("payment__payee"), amount=F("payment__amount"))
        )
        .order_by("pk")
        .values_list("pk", "payment_id", "account_id", "amount")
    )
    problems += [
        f"Ledger entry #{pk} of payment #{payment} puts {amount:.2f} on account #{account}, "
        "which does not match the payment."
        for pk, payment, account, amount in wrong_lines
    ]
    return problems


ALERT_LINES = 20


def ledger_alert_staff(*, problems: list[str]) -> None:
    """Tell staff in their inbox that the ledger check found problems (once a day)."""
    from notifications.models import Broadcast, Channel
    from notifications.services import broadcast_send

    shown = "\n".join(problems[:ALERT_LINES])
    more = f"\n… and {len(problems) - ALERT_LINES} more." if len(problems) > ALERT_LINES else ""
    broadcast_send(
        audience=Broadcast.Audience.STAFF,
        channel=Channel.IN_APP,
        subject=f"Ledger check: {len(problems)} problem(s)",
        body=f"{shown}{more}\nRun `manage.py check_ledger` for the full report.",
        priority="high",
    )
