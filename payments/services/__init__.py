"""Payments: create (checked, idempotent by key), process (locked, applied once),
refund, sweep what is stuck, and reconcile the ledger.

``payment_create`` checks everything a person can get wrong and writes one
pending row, whose task is queued when the transaction commits.
``payment_process`` is the one place money moves: one transaction that locks
the payment, then (for a refund) the refunded payment, then both accounts in
ascending primary-key order (payments/locks.py), so two transfers between the
same accounts never deadlock. A payment that is no longer pending is returned
as it is: running the task twice moves money once.

One module per part: ``checks`` (input), ``creating``, ``moving`` (money),
``accounts``, ``reconciliation`` (nothing stuck, nothing off). Callers import
from here; a test that replaces a name patches it in the module that uses it.
"""

from payments.locks import accounts_lock
from payments.models import ZERO
from payments.services.accounts import (
    account_close,
    account_deposit,
    account_open,
    external_account,
)
from payments.services.checks import (
    CENT,
    HUGE_BITS,
    MAX_AMOUNT,
    AccountForbidden,
    AccountNotFound,
    KeyConflict,
    PaymentRejected,
    account_get,
    account_number,
    amount_parse,
    currency_check,
    description_check,
    id_parse,
    key_check,
    payment_request_check,
    shown,
)
from payments.services.creating import (
    PaymentRequest,
    payment_create,
    payment_refund,
    payment_replay,
)
from payments.services.moving import payment_process
from payments.services.reconciliation import (
    ledger_alert_staff,
    ledger_check,
    payments_requeue,
)

__all__ = [
    "CENT",
    "HUGE_BITS",
    "MAX_AMOUNT",
    "ZERO",
    "AccountForbidden",
    "AccountNotFound",
    "KeyConflict",
    "PaymentRejected",
    "PaymentRequest",
    "account_close",
    "account_deposit",
    "account_get",
    "account_number",
    "account_open",
    "accounts_lock",
    "amount_parse",
    "currency_check",
    "description_check",
    "external_account",
    "id_parse",
    "key_check",
    "ledger_alert_staff",
    "ledger_check",
    "payment_create",
    "payment_process",
    "payment_refund",
    "payment_replay",
    "payment_request_check",
    "payments_requeue",
    "shown",
]
