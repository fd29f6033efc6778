import argparse
import io
import re
from datetime import timedelta

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from reports.models import Order

CHANNELS = [choice.value for choice in Order.Channel]
MAX_COUNT = 10_000_000
MAX_DAYS = 3660
STATUSES = [Order.Status.PAID.value, Order.Status.REFUNDED.value, Order.Status.CANCELLED.value]


def whole_number(value: str) -> int:
    """``--count 2500``: ASCII digits only (not ``²``, ``٣`` or ``-1``), at most 18 of them."""
    if not re.fullmatch(r"[0-9]{1,18}", value):
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a whole number (0-9).")
    return int(value)


class Command(BaseCommand):
    help = "Load random orders over the last --days days, fast (COPY on PostgreSQL), with progress."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=whole_number, default=10_000, help="orders to add")
        parser.add_argument(
            "--days", type=whole_number, default=365, help="spread over this many days"
        )
        parser.add_argument("--batch", type=whole_number, default=50_000, help="orders per write")
        parser.add_argument(
            "--seed", type=whole_number, default=None, help="for the same orders again"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when there are orders already"
        )

    def handle(self, *args, count, days, batch, seed, if_empty, **options):
        if not 1 <= count <= MAX_COUNT:
            raise CommandError(f"--count must be between 1 and {MAX_COUNT:,}.")
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS}.")
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        if if_empty and Order.objects.exists():
            self.stdout.write("There are orders already; nothing added.")
            return
        rng = np.random.default_rng(seed)
        now = timezone.now()
        span = days * 86400
        written = 0
        with transaction.atomic():
            while written < count:
                size = min(batch, count - written)
                # Oldest first, as a real orders table fills: each batch takes the
                # next slice of the period, in time order.
                slice_start = span * (1 - written / count)
                slice_end = span * (1 - (written + size) / count)
                rows = self._rows(rng, size, now, (slice_end, slice_start))
                if connection.vendor == "postgresql":
                    self._copy(rows)
                else:
                    Order.objects.bulk_create(Order(**row) for row in rows)
                written += size
                self._progress(written, count)
        self.stdout.write(self.style.SUCCESS(f"\n{count:,} orders added over {days} days."))

    def _rows(self, rng, size: int, now, seconds_ago: tuple[float, float]) -> list[dict]:
        seconds = np.sort(rng.uniform(*seconds_ago, size))[::-1]  # seconds ago, oldest first
        cents = np.clip(rng.lognormal(mean=8.0, sigma=0.9, size=size), 100, 500_000).astype(int)
        statuses = rng.choice(STATUSES, size=size, p=[0.92, 0.05, 0.03])
        channels = rng.choice(CHANNELS, size=size, p=[0.55, 0.25, 0.1, 0.1])
        customers = rng.integers(1, 50_000, size)
        return [
            {
                "created_at": now - timedelta(seconds=float(seconds[i])),
                "amount": f"{cents[i] / 100:.2f}",
                "status": statuses[i],
                "customer_ref": f"C{customers[i]:06d}",
                "channel": channels[i],
            }
            for i in range(size)
        ]

    def _copy(self, rows: list[dict]) -> None:
        buffer = io.StringIO()
        for row in rows:
            buffer.write(
                f"{row['created_at'].isoformat()}\t{row['amount']}\t{row['status']}\t"
                f"{row['customer_ref']}\t{row['channel']}\n"
            )
        buffer.seek(0)
        table = Order._meta.db_table
        with connection.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {table} (created_at, amount, status, customer_ref, channel) FROM STDIN",
                buffer,
            )

    def _progress(self, written: int, count: int) -> None:
        width = 30
        filled = width * written // count
        bar = "#" * filled + "-" * (width - filled)
        self.stdout.write(f"\r[{bar}] {written:,}/{count:,}", ending="")
        self.stdout.flush()
