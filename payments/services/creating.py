"""Creating payments: checked, stored pending, idempotent by key; refunds are
payments of their own."""

from dataclasses import dataclass
from decimal import Decimal

from celery import uuid
from django.db import IntegrityError, transaction
from django.utils import timezone

from mysite.enqueue import enqueue
from payments.locks import instances, locking_select
from payments.models import Account, Payment
from payments.selectors import refundable_amount
from payments.services.checks import (
    AccountForbidden,
    AccountNotFound,
    KeyConflict,
    PaymentRejected,
    account_number,
    amount_parse,
    currency_check,
    description_check,
    id_parse,
    key_check,
    payment_request_check,
    shown,
)


@dataclass(frozen=True)
class PaymentRequest:
    """What a client asked for: the same key must always ask for the same."""

    payee_id: int
    amount: Decimal
    currency: str
    description: str
    refund_of_id: int | None

    @classmethod
    def of(cls, payment: Payment) -> "PaymentRequest":
        return cls(
            payment.payee_id,
            payment.amount,
            payment.currency,
            payment.description,
            payment.refund_of_id,
        )

    @classmethod
    def asked(
        cls, *, payer: Account, payee_id, amount: Decimal, currency, description, refund_of_id=None
    ) -> "PaymentRequest":
        """The request from a client's values, checked (the currency defaults to the payer's)."""
        currency = currency_check(currency) if currency else payer.currency
        description = description_check(description)
        payee_pk = account_number(payee_id, role="payee")
        return cls(payee_pk, amount, currency, description, refund_of_id)


def payment_create(
    *,
    payer_id,
    payee_id,
    amount,
    idempotency_key,
    currency: str | None = None,
    description: str = "",
    user=None,
    refund_of: Payment | None = None,
    queue: bool = True,
) -> tuple[Payment, bool]:
    """Check and store one pending payment, queue its processing; (payment, created).

    ``queue`` False: the caller processes it at once (a deposit); the sweep
    still finds it if that never happens.

    ``user``: who asks; they may pay only from their own accounts (None: an
    operator, e.g. ``manage.py pay``). The same key with the same request
    returns the first payment (created False); with a different request it
    raises ``KeyConflict``. Every other problem raises ``PaymentRejected``
    (or a subclass naming its HTTP status) before anything is written.
    """
    amount = amount_parse(amount)
    key = key_check(idempotency_key)
    payer_pk = account_number(payer_id, role="payer")
    # Both accounts, and the payer's payment with this key if any, in one query.
    accounts = _accounts_with_key(ids=[payer_pk, id_parse(payee_id)], key=key)
    payer = accounts.get(payer_pk)
    if payer is None:
        raise AccountNotFound(f"No account #{payer_pk}.")
    if user is not None and payer.owner_id != user.pk:
        raise AccountForbidden(f"Account #{payer.pk} is not yours: pay from your own accounts.")
    wanted = PaymentRequest.asked(
        payer=payer,
        payee_id=payee_id,
        amount=amount,
        currency=currency,
        description=description,
        refund_of_id=refund_of.pk if refund_of else None,
    )

    key_payment_id = payer.key_payment_id  # type: ignore[attr-defined]  # set by _accounts_with_key
    if key_payment_id is not None:
        return payment_replay(Payment.objects.get(pk=key_payment_id), wanted), False

    payee = accounts.get(wanted.payee_id)
    if payee is None:
        raise AccountNotFound(f"No account #{wanted.payee_id}.")
    payment_request_check(payer=payer, payee=payee, currency=wanted.currency)
    if refund_of is None and Account.Kind.EXTERNAL in (payer.kind, payee.kind) and user:
        raise AccountForbidden("Deposits and payouts are made by staff.")

    try:
        payment = _payment_insert(
            payer=payer, payee=payee, wanted=wanted, key=key, user=user, queue=queue
        )
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as for a replay.
        earlier = _payment_with_key(payer, key)
        if earlier is None:
            raise
        return payment_replay(earlier, wanted), False
    return payment, True


def _accounts_with_key(*, ids: list[int | None], key: str) -> dict[int, Account]:
    """The accounts of ``ids`` (None: skipped) by pk, each with ``key_payment_id``:
    the id of its payment with idempotency key ``key``, or None. One query, in
    plain SQL as the hot path reads (see ``payments.locks.locked``)."""
    ids = [pk for pk in ids if pk is not None]
    if not ids:
        return {}
    db = transaction.get_connection()
    quote = db.ops.quote_name
    account, payment = (quote(model._meta.db_table) for model in (Account, Payment))
    columns, _, table = locking_select(db, Account)[0].partition(" FROM ")
    query = (
        f"{columns}, (SELECT p.id FROM {payment} p WHERE p.payer_id = {account}.id "  # noqa: S608
        f"AND p.idempotency_key = %s) FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))})"
    )
    with db.cursor() as cursor:
        cursor.execute(query, [key, *ids])
        rows = cursor.fetchall()
    accounts = {}
    for row in rows:
        (found,) = instances(db, Account, [row[:-1]])
        found.key_payment_id = row[-1]
        accounts[found.pk] = found
    return accounts


def _payment_with_key(payer: Account, key: str) -> Payment | None:
    return Payment.objects.filter(payer=payer, idempotency_key=key).first()


def payment_replay(earlier: Payment, wanted: PaymentRequest) -> Payment:
    """The payment made before with this key, if it asked for the same; else ``KeyConflict``."""
    if PaymentRequest.of(earlier) != wanted:
        raise KeyConflict(
            f"The idempotency key {earlier.idempotency_key!r} was used for a different "
            f"payment (#{earlier.pk}); use a new key for a new payment."
        )
    return earlier


def _payment_insert(
    *, payer, payee, wanted: PaymentRequest, key: str, user, queue: bool
) -> Payment:
    """One INSERT, its task id in it (chosen here); the task is queued on commit.

    Outside a transaction the INSERT commits on its own (no BEGIN and COMMIT
    round trips) and the task is published right after; inside one, a
    savepoint keeps the caller's transaction usable if the key is taken.
    """
    from payments.tasks import process_payment as process_payment_task

    payment = Payment(
        idempotency_key=key,
        payer=payer,
        payee=payee,
        amount=wanted.amount,
        currency=wanted.currency,
        description=wanted.description,
        refund_of_id=wanted.refund_of_id,
        created_by=user,
        task_id=uuid() if queue else "",
        enqueued_at=timezone.now(),
    )
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            payment.save(force_insert=True)
    else:
        payment.save(force_insert=True)
    if queue:
        enqueue(process_payment_task, args=[payment.pk], task_id=payment.task_id)
    return payment


def payment_refund(
    *, payment_id, idempotency_key, amount=None, user=None, description: str = ""
) -> tuple[Payment, bool]:
    """Send (part of) a completed payment back to its payer, as a payment of its own.

    Only the payee's owner (or an operator, ``user=None``) refunds; never more
    than what is left of the payment. ``amount`` None: all that is left.
    """
    number = id_parse(payment_id)
    original = Payment.objects.select_related("payee").filter(pk=number).first() if number else None
    if original is None:
        raise PaymentRejected(f"No payment #{number or shown(payment_id)}.")
    if user is not None and original.payee.owner_id != user.pk:
        raise AccountForbidden(f"Payment #{original.pk} was not paid to you.")
    if original.refund_of_id:
        raise PaymentRejected(f"Payment #{original.pk} is a refund; it cannot be refunded.")
    key = key_check(idempotency_key)
    description = description or f"Refund of payment #{original.pk}"
    if (earlier := _payment_with_key(original.payee, key)) is not None:
        # A replay: the first answer stands, even if nothing is left to refund now.
        wanted = earlier.amount if amount is None else amount_parse(amount)
        request = PaymentRequest(
            original.payer_id, wanted, original.currency, description, original.pk
        )
        return payment_replay(earlier, request), False
    if original.status != Payment.Status.COMPLETED:
        raise PaymentRejected(f"Payment #{original.pk} is {original.status}: nothing to refund.")
    left = refundable_amount(original)
    amount = left if amount is None else amount_parse(amount)
    if amount > left or left <= 0:
        raise PaymentRejected(
            f"At most {left} {original.currency} of payment #{original.pk} can be refunded."
        )
    return payment_create(
        payer_id=original.payee_id,
        payee_id=original.payer_id,
        amount=amount,
        idempotency_key=key,
        currency=original.currency,
        description=description,
        user=user,
        refund_of=original,
    )
