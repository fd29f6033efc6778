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

    @property
    def currency(self) -> str:
        """The code the summary's amounts are shown in (orders store plain amounts)."""
        return settings.REPORTS_CURRENCY


class RollupState(models.Model):
    """One row: the time zone the daily rollups were built in (their days are its days).

    The PostgreSQL triggers read it to put a changed order on its local day;
    reports use the rollups only while it equals TIME_ZONE, and the next
    roll-up after a change of TIME_ZONE rebuilds (``reports.rollups``).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    time_zone = models.CharField(max_length=64)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Rollups in {self.time_zone}"


class RolledDay(models.Model):
    """A complete local day whose paid sales are in DailySales; reports read it there."""

    day = models.DateField(primary_key=True)
    rolled_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Rolled up {self.day}"


class DailySales(models.Model):
    """Paid sales of one rolled-up local day and channel, kept exact by triggers on Order."""

    # The rolled day, as a relation so one query reads the days and their
    # rows together; no database constraint (the SQLite triggers un-roll a
    # day by deleting its RolledDay, leaving rows no read joins).
    day = models.ForeignKey(
        RolledDay,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the unique (day, channel) index serves
        db_column="day",
        related_name="sales",
    )
    channel = models.CharField(max_length=20, choices=Order.Channel.choices)
    sales = models.DecimalField(max_digits=18, decimal_places=2)
    orders = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "channel"], name="one_rollup_per_day_channel")
        ]

    def __str__(self) -> str:
        return f"{self.day_id} {self.channel}: {self.sales} ({self.orders} orders)"
