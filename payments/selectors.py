"""Read-only queries for the payment pages and API."""

from django.db.models import Prefetch, Q
from django.http import Http404
from django.urls import reverse

from payments.models import Account, LedgerEntry, Payment

RECENT_LINES = 10


def account_list_owned(*, user) -> list[Account]:
    """The user's accounts, each with ``recent_entries``: its last ledger lines."""
    recent = LedgerEntry.objects.select_related("payment").order_by("-pk")[:RECENT_LINES]
    return list(
        Account.objects.filter(owner=user).prefetch_related(
            Prefetch("entries", queryset=recent, to_attr="recent_entries")
        )
    )


def account_list_open(*, user) -> list[Account]:
    """The user's open accounts: the ones they can pay from."""
    return list(Account.objects.filter(owner=user, closed_at__isnull=True))


def payment_list_visible(*, user, limit: int = 50) -> list[Payment]:
    """Payments from or to the user's accounts, newest first."""
    return list(
        Payment.objects.filter(Q(payer__owner=user) | Q(payee__owner=user)).select_related(
            "payer", "payee"
        )[:limit]
    )


def payment_get_visible(*, payment_id: int, user) -> Payment:
    """A payment from or to one of the user's accounts, or 404: others' do not exist for them."""
    payment = (
        Payment.objects.select_related("payer", "payee", "refund_of")
        .filter(Q(payer__owner=user) | Q(payee__owner=user), pk=payment_id)
        .first()
    )
    if payment is None:
        raise Http404("No such payment.")
    return payment


def payment_status(payment: Payment) -> dict:
    """What the API and the live detail page show of a payment."""
    return {
        "id": payment.pk,
        "status": payment.status,
        "failure_reason": payment.failure_reason,
        "payer": payment.payer_id,
        "payee": payment.payee_id,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "description": payment.description,
        "refund_of": payment.refund_of_id,
        "idempotency_key": payment.idempotency_key,
        "task_id": payment.task_id,
        "created_at": payment.created_at.isoformat(),
        "processed_at": payment.processed_at and payment.processed_at.isoformat(),
        "status_url": reverse("payments:api-detail", args=[payment.pk]),
        "detail_url": payment.get_absolute_url(),
    }
