from django.core.management.base import BaseCommand, CommandError

from payments import services
from payments.models import Account, LedgerEntry, Payment


class Command(BaseCommand):
    help = (
        "Reconcile the ledger: balances against their entries, each currency summing "
        "to zero, two matching entries per completed payment. Exits non-zero on a problem."
    )

    def handle(self, *args, **options):
        problems = services.ledger_check()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"Ledger check found {len(problems)} problem(s).")
        accounts = Account.objects.count()
        entries = LedgerEntry.objects.count()
        applied = Payment.objects.filter(
            status__in=[Payment.Status.COMPLETED, Payment.Status.REFUNDED]
        ).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Ledger OK: {accounts} accounts, {entries} entries, {applied} completed payments."
            )
        )
