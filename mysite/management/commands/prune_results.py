import argparse
import re

from django.core.management.base import BaseCommand, CommandError

from mysite import retention

MAX_DAYS = 100 * 365
DIGITS = re.compile(r"[0-9]{1,6}")  # ASCII: int() would take "٣", " 3", "1_0"


def days(raw) -> int:
    """A whole number of days, 1 to MAX_DAYS (argparse reports the message)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and DIGITS.fullmatch(raw):
        value = int(raw)
    else:
        value = 0
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of days from 1 to {MAX_DAYS}")
    return value


class Command(BaseCommand):
    help = (
        "Delete the task results past their retention (RESULTS_KEEP_DAYS, "
        "RESULTS_KEEP_FAILED_DAYS) and their UserTask rows, in batches; beat runs it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )
        parser.add_argument(
            "--older-than-days",
            type=days,
            default=None,
            help="delete finished results older than this many days instead "
            "(rows still in flight keep their own limit)",
        )

    def handle(self, *args, dry_run=False, older_than_days=None, **options):
        if older_than_days is not None:  # call_command(older_than_days=...) skips argparse
            try:
                older_than_days = days(older_than_days)
            except argparse.ArgumentTypeError as exc:
                raise CommandError(f"--older-than-days: {exc}") from None
        counts = retention.results_prune(dry_run=dry_run, older_than_days=older_than_days)
        verb = "would delete" if dry_run else "deleted"
        for kind in retention.KINDS:
            self.stdout.write(f"{verb} {counts[kind]:>8}  {kind.replace('_', ' ')}")
