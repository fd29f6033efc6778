"""Accounts, payments and the double-entry ledger.

The invariants live in the database, not only in code: balances never go
below zero (but for the external accounts money enters through), amounts are
positive, a payer never pays itself, an idempotency key names one payment per
payer, and a payment writes at most one ledger line per account.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

AMOUNT_DIGITS = 14  # up to 999,999,999,999.99
AMOUNT_PLACES = 2
ZERO = Decimal("0.00")


def amount_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, **kwargs)


class Currency(models.TextChoices):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"
    CHF = "CHF"


class Account(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER = "customer"
        # Where money enters and leaves the system (deposits, payouts): one per
        # currency, owned by no one, and the only kind whose balance may be
        # negative, so every customer balance is backed by ledger lines.
        EXTERNAL = "external"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_accounts",
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CUSTOMER)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    balance = amount_field(default=Decimal("0.00"))
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0) | Q(kind="external"),
                name="account_balance_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(kind="external", owner__isnull=True)
                | Q(kind="customer", owner__isnull=False),
                name="account_owner_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["currency"],
                condition=Q(kind="external"),
                name="account_one_external_per_currency",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name} ({self.currency})"

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        COMPLETED = "completed"
        FAILED = "failed"
        REFUNDED = "refunded"  # completed, then refunded in full

    idempotency_key = models.CharField(max_length=64)
    payer = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments_out")
    payee = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments_in")
    amount = amount_field()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    description = models.CharField(max_length=200, blank=True)
    refund_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="payments_created",
    )
    task_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a task was last queued for it: the sweep re-queues stale pending ones.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["payer", "idempotency_key"], name="payment_key_unique_per_payer"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=~Q(payer=F("payee")), name="payment_payer_is_not_payee"
            ),
        ]
        indexes = [
            models.Index(
                fields=["enqueued_at"],
                condition=Q(status="pending"),
                name="payment_pending_idx",
            )
        ]

    def __str__(self) -> str:
        kind = "Refund" if self.refund_of_id else "Payment"
        return f"{kind} #{self.pk}: {self.amount} {self.currency} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("payments:detail", args=[self.pk])

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.PENDING


class LedgerEntry(models.Model):
    """One side of a completed payment: the two lines of a payment sum to zero."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount = amount_field(help_text="Signed: negative leaves the account, positive enters it.")
    balance_after = amount_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["payment", "account"], name="ledger_one_line_per_account"
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="ledger_account_recent_idx")]

    def __str__(self) -> str:
        return f"{self.amount:+} on #{self.account_id} for payment #{self.payment_id}"
