"""Accounts with money on them, made through the services (so the ledger adds up)."""

import uuid
from contextlib import contextmanager
from decimal import Decimal

import psycopg2
from django.db import connection

from payments import services
from payments.models import Account


def open_funded(owner, *, name="Main", currency="EUR", deposit="100.00"):
    """An open account of ``owner`` with ``deposit`` on it (a real, ledgered deposit)."""
    account = services.account_open(owner=owner, name=name, currency=currency)
    if Decimal(deposit):
        services.account_deposit(
            account=account, amount=deposit, idempotency_key=f"deposit-{uuid.uuid4().hex}"
        )
        account.refresh_from_db()
    return account


@contextmanager
def hold_account(account: Account):
    """Inside the block, another transaction holds ``account``'s row (an admin
    editing it, say: an UPDATE takes the same FOR NO KEY UPDATE lock as payment
    processing); leaving the block releases it (a rollback, unless the block
    committed the connection it gets)."""
    db = connection.settings_dict
    holder = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432
    )
    try:
        with holder.cursor() as cursor:
            cursor.execute("UPDATE payments_account SET name = name WHERE id = %s", [account.pk])
        yield holder
    finally:
        holder.rollback()
        holder.close()
