"""``/api/v1/``: my accounts, and payments from them (registered in ``mysite/api/v1.py``).

The router only shapes requests and answers: ``payments.services`` checks and
writes (its refusals carry their status, mapped in ``mysite.api.v1``), and
``payments.selectors`` reads. Another user's account or payment is a 404.
"""

from datetime import datetime
from typing import Annotated

from django.views.decorators.cache import never_cache
from ninja import Field, Header, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.pagination import paginate
from pydantic import BeforeValidator, ConfigDict, StrictInt, StrictStr

from mysite.api.errors import responses
from mysite.api.pagination import Page
from payments import selectors, services
from payments.models import Payment

router = Router(tags=["payments"])

KEY_HEADER = Header(
    None,
    alias="Idempotency-Key",
    description=(
        "Names this request: 1 to 64 letters, digits, '.', '_', ':' or '-'. Sent again "
        "with the same body it answers 200 with the same payment, nothing more is paid; "
        "with another body, 409."
    ),
)
AMOUNT_DOC = (
    'A string of digits with at most two decimals, like "12.50" (no exponent). A JSON '
    "integer is taken as whole units; a JSON number with a fraction is refused (400), "
    "since it would arrive as a float and could lose its cents."
)
ACCOUNT_DOC = "An account number (a JSON integer)."


def amount_text(value):
    """A JSON amount as text for ``services.amount_parse``: a string as it is, an
    integer in digits; a float (or true/false, null, a list) is no amount."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value.bit_length() <= services.HUGE_BITS else "a huge number"
    raise ValueError('Send the amount as a string, like "12.50" (or a whole number).')


Amount = Annotated[str, BeforeValidator(amount_text, json_schema_input_type=str | int)]


class AccountOut(Schema):
    id: int
    name: str
    currency: str
    balance: str = Field(description='The balance, exact, as a string: "87.50".')
    closed: bool
    created_at: datetime

    @staticmethod
    def resolve_balance(account) -> str:
        return str(account.balance)

    @staticmethod
    def resolve_closed(account) -> bool:
        return account.is_closed


class PaymentOut(Schema):
    id: int
    status: str = Field(description="pending, completed, failed or refunded.")
    failure_reason: str
    payer: int
    payee: int
    amount: str = Field(description='Exact, as a string: "12.50".')
    currency: str
    description: str
    refund_of: int | None
    idempotency_key: str
    task_id: str
    created_at: datetime
    processed_at: datetime | None
    status_url: str = Field(description="This payment in the API: poll it until not pending.")
    detail_url: str = Field(description="Its page on the site.")
    queue: str | None = Field(
        None, description="Only when the task queue was down: it is saved, and starts later."
    )

    @staticmethod
    def resolve_payer(payment) -> int:
        return payment.payer_id

    @staticmethod
    def resolve_payee(payment) -> int:
        return payment.payee_id

    @staticmethod
    def resolve_refund_of(payment) -> int | None:
        return payment.refund_of_id

    @staticmethod
    def resolve_amount(payment) -> str:
        return str(payment.amount)

    @staticmethod
    def resolve_status_url(payment) -> str:
        return selectors.payment_status_url(payment)

    @staticmethod
    def resolve_detail_url(payment) -> str:
        return payment.get_absolute_url()


class PaymentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    payer: StrictInt = Field(alias="from", description=ACCOUNT_DOC)
    payee: StrictInt = Field(alias="to", description=ACCOUNT_DOC)
    amount: Amount = Field(description=AMOUNT_DOC)
    currency: StrictStr | None = Field(
        None, max_length=3, description="EUR, USD, GBP or CHF; by default the payer's."
    )
    description: StrictStr = Field("", max_length=200)


class RefundIn(Schema):
    model_config = ConfigDict(extra="forbid")

    amount: Amount | None = Field(
        None, description=f"{AMOUNT_DOC} Left out: all that is left to refund."
    )


def payment_answer(payment: Payment, created: bool):
    return Status(202 if created else 200, payment)


@router.get("/accounts/", response=responses({200: list[AccountOut]}), url_name="account-list")
@paginate(Page)
def account_list(request):
    """My accounts with their balances, in the order they were opened."""
    return selectors.account_list_mine(user=request.user)


@router.get(
    "/accounts/{account_id}", response=responses({200: AccountOut}, 404), url_name="account-get"
)
@decorate_view(never_cache)
def account_get(request, account_id: int):
    """One of my accounts, with its balance."""
    return selectors.account_get_mine(account_id=account_id, user=request.user)


@router.get("/payments/", response=responses({200: list[PaymentOut]}), url_name="payment-list")
@paginate(Page)
def payment_list(request):
    """Payments from or to my accounts, newest first."""
    return selectors.payment_list_visible(user=request.user)


@router.post(
    "/payments/",
    response=responses({200: PaymentOut, 202: PaymentOut}, 403, 404, 409),
    url_name="payment-create",
)
def payment_create(request, payload: PaymentIn, idempotency_key: str | None = KEY_HEADER):
    """Pay from one of my accounts: 202 and the pending payment (follow its
    ``status_url``); 200 if this key already made this same payment."""
    payment, created = services.payment_create(
        user=request.user,
        payer_id=payload.payer,
        payee_id=payload.payee,
        amount=payload.amount,
        currency=payload.currency,
        description=payload.description,
        idempotency_key=idempotency_key,
    )
    return payment_answer(payment, created)


@router.get(
    "/payments/{payment_id}", response=responses({200: PaymentOut}, 404), url_name="payment-get"
)
@decorate_view(never_cache)
def payment_get(request, payment_id: int):
    """A payment from or to one of my accounts: its status, and why it failed."""
    return selectors.payment_get_visible(payment_id=payment_id, user=request.user)


@router.post(
    "/payments/{payment_id}/refund",
    response=responses({200: PaymentOut, 202: PaymentOut}, 403, 404, 409),
    url_name="payment-refund",
)
def payment_refund(
    request, payment_id: int, payload: RefundIn, idempotency_key: str | None = KEY_HEADER
):
    """Send (part of) a completed payment to me back to its payer, as a new payment
    (a refund). Only the payee's owner refunds; never more than is left."""
    payment = selectors.payment_get_visible(payment_id=payment_id, user=request.user)
    refund, created = services.payment_refund(
        payment_id=payment.pk,
        amount=payload.amount,
        idempotency_key=idempotency_key,
        user=request.user,
    )
    return payment_answer(refund, created)
