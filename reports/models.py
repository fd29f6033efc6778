from django.conf import settings
from django.db import models
from django.urls import reverse


class Order(models.Model):
    """The sales data reports are made from."""

    class Status(models.TextChoices):
        PAID = "paid"
        REFUNDED = "refunded"
        CANCELLED = "cancelled"

    class Channel(models.TextChoices):
        WEB = "web"
        STORE = "store"
        PHONE = "phone"
        PARTNER = "partner"

    created_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PAID)
    customer_ref = models.CharField(max_length=64)
    channel = models.CharField(max_length=20, choices=Channel.choices)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="order_status_created")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="order_amount_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"Order {self.pk}: {self.amount} ({self.status})"


class Report(models.Model):
    """A sales report for one period; the same period again replaces it."""

    class Period(models.TextChoices):
        DAILY = "daily"
        WEEKLY = "weekly"
        MONTHLY = "monthly"
        CUSTOM = "custom"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    period = models.CharField(max_length=10, choices=Period.choices)
    start_date = models.DateField()
    end_date = models.DateField(help_text="Inclusive.")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    summary = models.JSONField(default=dict, blank=True)
    csv_file = models.FileField(blank=True, max_length=255)
    chart = models.FileField(blank=True, max_length=255)
    row_count = models.PositiveIntegerField(default=0, help_text="Orders aggregated.")
    duration = models.DurationField(null=True, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-start_date", "period"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "start_date", "end_date"], name="one_report_per_period"
            ),
            models.CheckConstraint(
                condition=models.Q(start_date__lte=models.F("end_date")),
                name="report_starts_before_it_ends",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_period_display()} sales {self.start_date} to {self.end_date}"

    def get_absolute_url(self) -> str:
        return reverse("reports:detail", args=[self.pk])
