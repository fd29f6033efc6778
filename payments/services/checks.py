"""Checking input: every value a person (a form, the API, a CSV cell) can get
wrong, refused with a message that says why before anything is written."""

import re
from decimal import Decimal
from typing import cast

from mysite.errors import Rejected
from mysite.models import ID_MAX
from payments.models import AMOUNT_DIGITS, AMOUNT_PLACES, Account, Currency, Payment

CENT = Decimal(1).scaleb(-AMOUNT_PLACES)
MAX_AMOUNT = Decimal(10 ** (AMOUNT_DIGITS - AMOUNT_PLACES)) - CENT
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ID_TEXT = re.compile(r"[0-9]{1,19}")  # ASCII digits: not "²", not "٣"


class PaymentRejected(Rejected):
    """A payment we will not create; the message says why."""

    code = "payment_rejected"


class AccountNotFound(PaymentRejected):
    kind, code = "not_found", "account_not_found"


class AccountForbidden(PaymentRejected):
    kind, code = "forbidden", "account_forbidden"


class KeyConflict(PaymentRejected):
    """The idempotency key was used before for a different payment."""

    kind, code = "conflict", "key_conflict"


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
    limit = cast(int, Payment._meta.get_field("description").max_length)
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


def payment_request_check(*, payer: Account, payee: Account, currency: str) -> None:
    """The rules between a payment and its accounts; ``PaymentRejected`` says which is broken.

    Checked before a payment is written (``payment_create``, ``import_payments``)
    and again under the row locks, as the final word (``payment_process``): an
    account can close, or change currency, in between.
    """
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
