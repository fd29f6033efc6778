from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from payments import services
from payments.models import Account, Payment


class Command(BaseCommand):
    help = "Open a payment account for a user, with an opening deposit if asked."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--currency", required=True, help="EUR, USD, GBP or CHF")
        parser.add_argument("--name", default="Main", help="the account's name")
        parser.add_argument("--deposit", help="opening deposit, e.g. 100.00")
        parser.add_argument(
            "--if-none",
            action="store_true",
            help="do nothing when the user has an open account of this name and currency",
        )

    def handle(self, *args, username, currency, name, deposit, if_none, **options):
        try:
            owner = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        try:
            # Every check before anything is written: no account without its deposit.
            services.currency_check(currency)
            amount = services.amount_parse(deposit) if deposit is not None else None
        except services.PaymentRejected as exc:
            raise CommandError(str(exc)) from exc

        if if_none:
            existing = Account.objects.filter(
                owner=owner, name=name.strip(), currency=currency, closed_at=None
            ).first()
            if existing is not None:
                self.stdout.write(
                    f"{username} already has account {existing.pk} {existing.name} "
                    f"({existing.currency}); nothing opened."
                )
                return

        try:
            with transaction.atomic():
                account = services.account_open(owner=owner, name=name, currency=currency)
                if amount is not None:
                    payment = services.account_deposit(
                        account=account, amount=amount, idempotency_key=f"open-{account.pk}"
                    )
                    if payment.status != Payment.Status.COMPLETED:
                        raise CommandError(f"The deposit failed: {payment.failure_reason}")
        except services.PaymentRejected as exc:
            raise CommandError(str(exc)) from exc
        account.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"Account {account.pk} opened for {username}: {account.name}, "
                f"balance {account.balance} {account.currency}."
            )
        )
