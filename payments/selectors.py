"""Read-only queries for the payment pages and API."""

from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import reverse

from payments.models import ZERO, Account, LedgerEntry, Payment

RECENT_LINES = 10
IN_CHUNK = 500  # values per IN (...) query, well below SQLite's limit


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


def account_list_mine(*, user) -> QuerySet[Account]:
    """The user's accounts, in the order they were opened (for the API's pages)."""
    return Account.objects.filter(owner=user).order_by("pk")


def account_get_mine(*, account_id: int, user) -> Account:
    """One of the user's accounts, or 404: others' do not exist for them."""
    account = Account.objects.filter(owner=user, pk=account_id).first()
    if account is None:
        raise Http404("No such account.")
    return account


def payment_list_visible(*, user) -> QuerySet[Payment]:
    """Payments from or to the user's accounts, newest first (a queryset, to page)."""
    return (
        Payment.objects.filter(Q(payer__owner=user) | Q(payee__owner=user))
        .select_related("payer", "payee")
        .order_by("-pk")
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


def payment_status_url(payment: Payment) -> str:
    """Where the API answers with the payment's status (the detail page polls it)."""
    return reverse("api-v1:payment-get", args=[payment.pk])


def refundable_amount(payment: Payment) -> Decimal:
    """What is left to refund: refunds that are pending or completed count."""
    taken = payment.refunds.exclude(status=Payment.Status.FAILED).aggregate(
        total=Coalesce(Sum("amount"), ZERO)
    )["total"]
    return payment.amount - taken


def _chunks(items: list, size: int = IN_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def payment_map_by_key(*, keys: list[str]) -> dict[tuple[int, str], Payment]:
    """The payments made with any of ``keys``, by (payer id, key): replays, found in bulk."""
    found = {}
    for some in _chunks(sorted(set(keys))):
        for payment in Payment.objects.filter(idempotency_key__in=some):
            found[payment.payer_id, payment.idempotency_key] = payment
    return found


def payment_status_counts(*, ids: list[int]) -> dict[str, int]:
    """How many of the payments ``ids`` are in each status (every status, 0 if none)."""
    counts = dict.fromkeys(Payment.Status.values, 0)
    for some in _chunks(ids):
        statuses = (
            Payment.objects.filter(pk__in=some)
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for status, n in statuses:
            counts[status] += n
    return counts


def payment_list_failed(*, ids: list[int]) -> list[Payment]:
    """The payments of ``ids`` that failed."""
    failed: list[Payment] = []
    for some in _chunks(ids):
        failed += Payment.objects.filter(pk__in=some, status=Payment.Status.FAILED)
    return failed
