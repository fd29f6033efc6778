"""Moving money: the one place balances change, under row locks (payments/locks.py)."""

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from payments.locks import accounts_lock, execute, lock_timeout, locked
from payments.models import ZERO, Account, LedgerEntry, Payment
from payments.services.checks import PaymentRejected, payment_request_check

logger = logging.getLogger(__name__)


def payment_process(*, payment_id: int) -> Payment:
    """Apply one pending payment, or fail it with a reason; once, whatever happens.

    Database errors (a lock timeout, a dropped connection) roll everything
    back and propagate, for the task to retry. A refusal (insufficient funds,
    currency mismatch, closed account, refunding too much) is final.
    """
    with transaction.atomic():
        found = locked(Payment, "id = %s", [payment_id], first=lock_timeout())
        if not found:
            raise Payment.DoesNotExist(f"No payment #{payment_id}.")
        payment = found[0]
        if payment.is_final:
            return payment
        original = None
        if payment.refund_of_id:
            (original,) = locked(Payment, "id = %s", [payment.refund_of_id])
        accounts = accounts_lock(ids=[payment.payer_id, payment.payee_id])
        payer, payee = accounts[payment.payer_id], accounts[payment.payee_id]
        payment.processed_at = timezone.now()

        reason = _refusal(payment, payer, payee, original)
        if reason:
            payment.status = Payment.Status.FAILED
            payment.failure_reason = reason
            payment.save(update_fields=["status", "failure_reason", "processed_at"])
            logger.info("payment %s failed: %s", payment.pk, reason)
            return payment

        _money_move(payment, payer, payee)
        if original is not None and _refunded(original) == original.amount:
            original.status = Payment.Status.REFUNDED
            original.save(update_fields=["status"])
    logger.info("payment %s completed: %s %s", payment.pk, payment.amount, payment.currency)
    return payment


def _money_move(payment: Payment, payer: Account, payee: Account) -> None:
    """Both balances, two ledger lines that sum to zero, the status.

    The accounts are locked, so the new balances computed here are the ones
    written. Plain SQL for speed (see ``payments.locks.locked``), table names
    from the models, in one round trip on PostgreSQL (see ``execute``).
    """
    payer.balance -= payment.amount
    payee.balance += payment.amount
    payment.status = Payment.Status.COMPLETED
    db = transaction.get_connection()
    money, when = db.ops.adapt_decimalfield_value, db.ops.adapt_datetimefield_value
    account, entry, row = (
        db.ops.quote_name(model._meta.db_table) for model in (Account, LedgerEntry, Payment)
    )
    statements = [
        (
            f"UPDATE {account} SET balance = CASE WHEN id = %s THEN %s ELSE %s END "  # noqa: S608
            "WHERE id IN (%s, %s)",
            [payer.pk, money(payer.balance), money(payee.balance), payer.pk, payee.pk],
        ),
        (
            f"INSERT INTO {entry} (payment_id, account_id, amount, balance_after, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s)",
            [
                *(payment.pk, payer.pk, money(-payment.amount), money(payer.balance)),
                when(payment.processed_at),
                *(payment.pk, payee.pk, money(payment.amount), money(payee.balance)),
                when(payment.processed_at),
            ],
        ),
        (
            f"UPDATE {row} SET status = %s, processed_at = %s WHERE id = %s",  # noqa: S608
            [payment.status, when(payment.processed_at), payment.pk],
        ),
    ]
    with db.cursor() as cursor:
        execute(db, cursor, statements)


def _refunded(original: Payment) -> Decimal:
    return original.refunds.filter(status=Payment.Status.COMPLETED).aggregate(
        total=Coalesce(Sum("amount"), ZERO)
    )["total"]


def _refusal(payment: Payment, payer: Account, payee: Account, original: Payment | None) -> str:
    """Why ``payment`` cannot be applied ("" if it can). Accounts and original are locked."""
    try:
        payment_request_check(payer=payer, payee=payee, currency=payment.currency)
    except PaymentRejected as exc:
        return str(exc)
    if original is not None:
        if original.status not in (Payment.Status.COMPLETED, Payment.Status.REFUNDED):
            return f"Payment #{original.pk} is {original.status}: nothing to refund."
        left = original.amount - _refunded(original)
        if payment.amount > left:
            return (
                f"Refund too large: {left} {payment.currency} of payment #{original.pk} "
                "is left to refund."
            )
    if payer.kind == Account.Kind.CUSTOMER and payer.balance < payment.amount:
        return (
            f"Insufficient funds: account #{payer.pk} holds {payer.balance} {payer.currency}, "
            f"the payment needs {payment.amount}."
        )
    return ""
