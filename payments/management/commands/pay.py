import uuid

from django.core.management.base import BaseCommand, CommandError

from mysite.commands import timeout_argument, wait_with_progress
from payments import services
from payments.models import Payment


class Command(BaseCommand):
    help = (
        "Make one payment as an operator (from any account). The same --key again "
        "is the same payment: it is made once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from", dest="payer", metavar="ACCOUNT", required=True, help="account number paying"
        )
        parser.add_argument(
            "--to", dest="payee", metavar="ACCOUNT", required=True, help="account number paid"
        )
        parser.add_argument("--amount", required=True, help="e.g. 12.50")
        parser.add_argument("--key", help="idempotency key (default: a new one, printed)")
        parser.add_argument("--currency", help="EUR, USD, GBP or CHF (default: the payer's)")
        parser.add_argument("--description", default="")
        parser.add_argument("--wait", action="store_true", help="wait until it is final")
        timeout_argument(parser)

    def handle(self, *args, payer, payee, amount, key, currency, description, **options):
        new_key = key is None
        if new_key:
            key = uuid.uuid4().hex
        try:
            payment, created = services.payment_create(
                payer_id=payer,
                payee_id=payee,
                amount=amount,
                idempotency_key=key,
                currency=currency,
                description=description,
            )
        except services.PaymentRejected as exc:
            raise CommandError(str(exc)) from exc
        replay = "" if created else " (already made: same key)"
        self.stdout.write(
            f"Payment {payment.pk} is {payment.status}: {payment.amount} {payment.currency} "
            f"from #{payment.payer_id} to #{payment.payee_id}, key {key}{replay}."
        )
        if new_key:
            self.stdout.write(f"To repeat it safely (made once), run again with --key {key}.")
        if options["wait"]:
            self._wait(payment, options["timeout"])

    def _wait(self, payment: Payment, timeout: float) -> None:
        def check():
            payment.refresh_from_db()
            return payment.status, payment.is_final

        wait_with_progress(self.stdout, check, timeout=timeout, what="payment")
        if payment.status == Payment.Status.FAILED:
            raise CommandError(f"Payment {payment.pk} failed: {payment.failure_reason}")
        self.stdout.write(self.style.SUCCESS(f"Payment {payment.pk} is {payment.status}."))
