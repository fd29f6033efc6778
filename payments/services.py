"""Payments: create (checked, idempotent by key), process (locked, applied once),
refund, sweep what is stuck, and reconcile the ledger.

``payment_create`` checks everything a person can get wrong and writes one
pending row, whose task is queued when the transaction commits.
``payment_process`` is the one place money moves: one transaction that locks
the payment, then (for a refund) the refunded payment, then both accounts in
ascending primary-key order, so two transfers between the same accounts
never deadlock. A payment that is no longer pending is returned as it is:
running the task twice moves money once.
"""

import logging
import re
from dataclasses import dataclass
from decimal import Decimal

from celery import uuid
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from mysite.enqueue import enqueue
from mysite.models import ID_MAX
from payments.models import AMOUNT_DIGITS, AMOUNT_PLACES, Account, Currency, LedgerEntry, Payment

logger = logging.getLogger(__name__)

CENT = Decimal(1).scaleb(-AMOUNT_PLACES)
MAX_AMOUNT = Decimal(10 ** (AMOUNT_DIGITS - AMOUNT_PLACES)) - CENT
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ZERO = Decimal("0.00")
ID_TEXT = re.compile(r"[0-9]{1,19}")  # ASCII digits: not "²", not "٣"


class PaymentRejected(ValueError):
    """A payment we will not create; the message says why. ``status``: its HTTP status."""

    status = 400


class AccountNotFound(PaymentRejected):
    status = 404


class AccountForbidden(PaymentRejected):
    status = 403


class KeyConflict(PaymentRejected):
    """The idempotency key was used before for a different payment."""

    status = 409


# -- checking input ---------------------------------------------------------


AMOUNT_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: no "٣", no "1e3"
AMOUNT_TEXT_MAX = 1000  # characters: past that, not worth reading
SHOWN_MAX = 60  # characters of a bad value repeated in a message
AMOUNT_DIGITS_READ = 100  # a Decimal with digits this far from the point is no amount
HUGE_BITS = 256  # an int this long is far past any amount or account number


def shown(value) -> str:
    """``value`` as a message repeats it: its repr, cut short."""
    if isinstance(value, int) and value.bit_length() > HUGE_BITS:
        return "a huge number"  # repr() of it would be slow, or refused
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= SHOWN_MAX else f"{text[: SHOWN_MAX - 1]}…"


def amount_parse(value) -> Decimal:
    """A positive amount with at most two decimals, within the column's range.

    Text is ASCII digits, an optional minus (refused, but named as such) and
    at most two decimals: no exponent, no other script's digits, no spaces
    inside. An int is whole units; a Decimal is read as its digits. A float
    (or a bool) is refused: a float has already lost the cents.
    """
    if isinstance(value, bool | float):
        raise PaymentRejected(f"Give the amount as a string or an integer, not {value!r}.")
    if isinstance(value, int):
        if value.bit_length() > HUGE_BITS:
            raise PaymentRejected(f"The amount is over the largest allowed, {MAX_AMOUNT}.")
        text = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > AMOUNT_DIGITS_READ:
            raise PaymentRejected(f"{shown(value)} is not an amount.")
        text = format(value, "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise PaymentRejected(f"{shown(value)} is not an amount.")
    if len(text) > AMOUNT_TEXT_MAX or not AMOUNT_TEXT.fullmatch(text):
        raise PaymentRejected(f"{shown(value)} is not an amount.")
    amount = Decimal(text)
    if amount <= 0:
        raise PaymentRejected(f"The amount must be more than zero, got {amount}.")
    if amount > MAX_AMOUNT:  # first: quantize() cannot hold more digits than the context's
        raise PaymentRejected(
            f"The amount {shown(amount)} is over the largest allowed, {MAX_AMOUNT}."
        )
    if amount != amount.quantize(CENT):
        raise PaymentRejected(f"The amount {amount} has more than {AMOUNT_PLACES} decimals.")
    return amount.quantize(CENT)


def key_check(key) -> str:
    if not key:
        raise PaymentRejected("An idempotency key is required.")
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
        raise PaymentRejected(
            "The idempotency key must be 1 to 64 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit."
        )
    return key


def currency_check(value) -> str:
    if value not in Currency.values:
        raise PaymentRejected(f"Unknown currency {value!r}: use {', '.join(Currency.values)}.")
    return value


def account_number(value, *, role: str = "account") -> int:
    """An account number from a form, a header, JSON or a CSV cell: ASCII digits
    (or an int), from 1 to the largest the database's bigint holds."""
    number = id_parse(value)
    if number is None:
        raise PaymentRejected(f"The {role} must be an account number, got {shown(value)}.")
    return number


def id_parse(value) -> int | None:
    """A row's id (an account's, a payment's) from text or an int; None if it is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and ID_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if 1 <= number <= ID_MAX else None


def description_check(value) -> str:
    limit = Payment._meta.get_field("description").max_length
    if not isinstance(value, str):
        raise PaymentRejected(f"The description must be text, got {value!r}.")
    if len(value) > limit:
        raise PaymentRejected(f"The description is longer than {limit} characters.")
    return value


def account_get(account_id, *, role: str = "account") -> Account:
    number = account_number(account_id, role=role)
    try:
        return Account.objects.get(pk=number)
    except Account.DoesNotExist:
        raise AccountNotFound(f"No account #{number}.") from None


# -- creating payments ------------------------------------------------------


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
    currency = currency_check(currency) if currency else payer.currency
    description = description_check(description)
    payee_pk = account_number(payee_id, role="payee")
    wanted = PaymentRequest(
        payee_pk, amount, currency, description, refund_of.pk if refund_of else None
    )

    if payer.key_payment_id is not None:
        return _replay(Payment.objects.get(pk=payer.key_payment_id), wanted), False

    payee = accounts.get(payee_pk)
    if payee is None:
        raise AccountNotFound(f"No account #{payee_pk}.")
    if payee.pk == payer.pk:
        raise PaymentRejected("The payer and the payee are the same account.")
    for account in (payer, payee):
        if account.is_closed:
            raise PaymentRejected(f"Account #{account.pk} is closed.")
        if account.currency != currency:
            raise PaymentRejected(
                f"Currency mismatch: the payment is in {currency}, "
                f"account #{account.pk} holds {account.currency}."
            )
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
        return _replay(earlier, wanted), False
    return payment, True


def _accounts_with_key(*, ids: list[int | None], key: str) -> dict[int, Account]:
    """The accounts of ``ids`` (None: skipped) by pk, each with ``key_payment_id``:
    the id of its payment with idempotency key ``key``, or None. One query, in
    plain SQL as the hot path reads (see ``_locked``)."""
    ids = [pk for pk in ids if pk is not None]
    if not ids:
        return {}
    db = transaction.get_connection()
    quote = db.ops.quote_name
    account, payment = (quote(model._meta.db_table) for model in (Account, Payment))
    columns, _, table = _locking_select(db, Account)[0].partition(" FROM ")
    query = (
        f"{columns}, (SELECT p.id FROM {payment} p WHERE p.payer_id = {account}.id "  # noqa: S608
        f"AND p.idempotency_key = %s) FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))})"
    )
    with db.cursor() as cursor:
        cursor.execute(query, [key, *ids])
        rows = cursor.fetchall()
    accounts = {}
    for row in rows:
        (found,) = _instances(db, Account, [row[:-1]])
        found.key_payment_id = row[-1]
        accounts[found.pk] = found
    return accounts


def _payment_with_key(payer: Account, key: str) -> Payment | None:
    return Payment.objects.filter(payer=payer, idempotency_key=key).first()


def _replay(earlier: Payment, wanted: PaymentRequest) -> Payment:
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


def refundable_amount(payment: Payment) -> Decimal:
    """What is left to refund: refunds that are pending or completed count."""
    taken = payment.refunds.exclude(status=Payment.Status.FAILED).aggregate(
        total=Coalesce(Sum("amount"), ZERO)
    )["total"]
    return payment.amount - taken


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
        return _replay(earlier, request), False
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


# -- moving money -------------------------------------------------------------


def _locked(model, where: str, params: list, *, first: list[tuple] = ()) -> list:
    """Rows of ``model`` read with a row lock, held until the transaction ends.

    ``FOR NO KEY UPDATE`` (not plain ``FOR UPDATE``): enough to change a
    balance or a status, and it does not block the ``FOR KEY SHARE`` that
    inserting a payment takes on its accounts (its foreign keys), which
    otherwise deadlocks a ``payment_create`` against a ``payment_process``.
    Plain SQL, turned into model instances with the backend's converters as
    the ORM does: this is the hot path, and building the query with the ORM
    (or ``raw()``) cost more CPU than the database spent running it.
    ``first``: (sql, params) statements to run before, in the same round trip.
    """
    db = transaction.get_connection()
    select = _locking_select(db, model)[0]
    with db.cursor() as cursor:
        _execute(db, cursor, [*first, (f"{select} WHERE {where} {_lock_clause(db)}", params)])
        return _instances(db, model, cursor.fetchall())


def _instances(db, model, rows) -> list:
    """Model instances from rows of ``_locking_select``'s columns, converted as the ORM does."""
    _, names, converters = _locking_select(db, model)
    instances = []
    for row in rows:
        values = list(row)
        for index, column, functions in converters:
            for convert in functions:
                values[index] = convert(values[index], column, db)
        instances.append(model.from_db(db.alias, names, values))
    return instances


def _execute(db, cursor, statements: list[tuple]) -> None:
    """Run (sql, params) statements in order; the cursor holds the last one's rows.

    On PostgreSQL they go as one round trip (psycopg sends several statements
    as one): fewer waits on the network while row locks are held.
    """
    if db.vendor == "postgresql":
        cursor.execute(
            ";\n".join(sql for sql, _ in statements),
            [param for _, params in statements for param in params],
        )
    else:
        for sql, params in statements:
            cursor.execute(sql, params)


def _lock_clause(db) -> str:
    return db.ops.for_update_sql(no_key=True) if db.features.has_select_for_update else ""


_SELECTS: dict = {}


def _locking_select(db, model) -> tuple[str, list[str], list]:
    """``SELECT <columns> FROM <table>``, the attribute names, and the converters
    the ORM applies to each column read from this backend; worked out once."""
    key = (db.alias, model)
    if key not in _SELECTS:
        fields, quote = model._meta.concrete_fields, db.ops.quote_name
        columns = ", ".join(quote(field.column) for field in fields)
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            functions = [*db.ops.get_db_converters(column), *field.get_db_converters(db)]
            if functions:
                converters.append((index, column, functions))
        _SELECTS[key] = (
            f"SELECT {columns} FROM {quote(model._meta.db_table)}",  # noqa: S608
            [field.attname for field in fields],
            converters,
        )
    return _SELECTS[key]


def accounts_lock(*, ids: list[int]) -> dict[int, Account]:
    """Lock accounts in ascending pk order; by pk. Call inside ``atomic()``.

    Everyone locks in the same order, so two transfers in opposite directions
    wait for each other instead of deadlocking.
    """
    ids = sorted(set(ids))
    marks = ", ".join(["%s"] * len(ids))
    return {
        account.pk: account for account in _locked(Account, f"id IN ({marks}) ORDER BY id", ids)
    }


def _lock_timeout() -> list[tuple]:
    """The statement that gives up waiting for a row lock after
    PAYMENTS_LOCK_TIMEOUT_MS (for this transaction; the task then retries)."""
    if connection.vendor != "postgresql":
        return []
    return [
        ("SELECT set_config('lock_timeout', %s, true)", [f"{settings.PAYMENTS_LOCK_TIMEOUT_MS}ms"])
    ]


def payment_process(*, payment_id: int) -> Payment:
    """Apply one pending payment, or fail it with a reason; once, whatever happens.

    Database errors (a lock timeout, a dropped connection) roll everything
    back and propagate, for the task to retry. A refusal (insufficient funds,
    currency mismatch, closed account, refunding too much) is final.
    """
    with transaction.atomic():
        found = _locked(Payment, "id = %s", [payment_id], first=_lock_timeout())
        if not found:
            raise Payment.DoesNotExist(f"No payment #{payment_id}.")
        payment = found[0]
        if payment.is_final:
            return payment
        original = None
        if payment.refund_of_id:
            (original,) = _locked(Payment, "id = %s", [payment.refund_of_id])
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
    written. Plain SQL for speed (see ``_locked``), table names from the
    models, in one round trip on PostgreSQL (see ``_execute``).
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
        _execute(db, cursor, statements)


def _refunded(original: Payment) -> Decimal:
    return original.refunds.filter(status=Payment.Status.COMPLETED).aggregate(
        total=Coalesce(Sum("amount"), ZERO)
    )["total"]


def _refusal(payment: Payment, payer: Account, payee: Account, original: Payment | None) -> str:
    """Why ``payment`` cannot be applied ("" if it can). Accounts and original are locked."""
    for account in (payer, payee):
        if account.is_closed:
            return f"Account #{account.pk} is closed."
        if account.currency != payment.currency:
            return (
                f"Currency mismatch: the payment is in {payment.currency}, "
                f"account #{account.pk} holds {account.currency}."
            )
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


# -- accounts -------------------------------------------------------------------


def external_account(*, currency: str) -> Account:
    """The account money enters and leaves the system through, for ``currency``."""
    currency_check(currency)
    account, _ = Account.objects.get_or_create(
        kind=Account.Kind.EXTERNAL,
        currency=currency,
        defaults={"name": f"External {currency}"},
    )
    return account


def account_open(*, owner, name: str, currency: str) -> Account:
    currency_check(currency)
    if not name.strip():
        raise PaymentRejected("The account needs a name.")
    return Account.objects.create(owner=owner, name=name.strip(), currency=currency)


def account_deposit(*, account: Account, amount, idempotency_key: str) -> Payment:
    """Money from outside (a bank transfer in, say): applied now, not queued.

    Idempotent by key like every payment: a repeated deposit is applied once.
    """
    external = external_account(currency=account.currency)
    payment, _ = payment_create(
        payer_id=external.pk,
        payee_id=account.pk,
        amount=amount,
        idempotency_key=idempotency_key,
        description="Deposit",
        queue=False,
    )
    return payment_process(payment_id=payment.pk)


def account_close(*, account: Account) -> Account:
    """Close an account: payments from or to it fail from now on."""
    Account.objects.filter(pk=account.pk, closed_at=None).update(closed_at=timezone.now())
    account.refresh_from_db()
    return account


# -- nothing stuck, nothing off -------------------------------------------------


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
