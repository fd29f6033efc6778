"""Accounts: open, fund, close; the external account money enters and leaves by."""

from django.utils import timezone

from payments.models import Account, Payment
from payments.services.checks import PaymentRejected, currency_check
from payments.services.creating import payment_create
from payments.services.moving import payment_process


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
