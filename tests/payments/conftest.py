"""Accounts with money on them, made through the services (so the ledger adds up)."""

import uuid
from decimal import Decimal

import pytest

from payments import services


def open_funded(owner, *, name="Main", currency="EUR", deposit="100.00"):
    """An open account of ``owner`` with ``deposit`` on it (a real, ledgered deposit)."""
    account = services.account_open(owner=owner, name=name, currency=currency)
    if Decimal(deposit):
        services.account_deposit(
            account=account, amount=deposit, idempotency_key=f"deposit-{uuid.uuid4().hex}"
        )
        account.refresh_from_db()
    return account


@pytest.fixture
def alice_account(user):
    return open_funded(user, name="Alice main")


@pytest.fixture
def bob_account(other_user):
    return open_funded(other_user, name="Bob main", deposit="0")
