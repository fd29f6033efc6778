"""Accounts with money on them, made through the services (so the ledger adds up)."""

import uuid
from decimal import Decimal

import psycopg2
import pytest
from django.db import connection

from mysite.celery import app as celery_app
from mysite.priorities import broker_transport
from payments import services
from payments.models import Account
from tests.conftest import require
from tests.workers import WorkerProcess


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


@pytest.fixture
def payment_workers(transactional_db, celery_worker, tmp_path):
    """Start payment workers as processes; the session's in-process worker lets go
    of the payments queue meanwhile, so these processes do all the work.

    Needs PostgreSQL (row locks; SQLite has none) and a broker with remote control.
    """
    require(connection.vendor == "postgresql", "payment concurrency needs PostgreSQL")
    require(
        broker_transport(celery_app.conf.broker_url) != "filesystem",
        "payment workers in processes need a network broker (Redis or RabbitMQ)",
    )
    me = [celery_worker.hostname]
    celery_app.control.cancel_consumer("payments", destination=me, reply=True)
    started: list[WorkerProcess] = []

    def start(*, concurrency: int = 2) -> WorkerProcess:
        name = f"payments-test-{len(started)}"
        worker = WorkerProcess(tmp_path / f"{name}.log", concurrency=concurrency, name=name)
        started.append(worker)
        worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
        for worker in started:
            print(f"--- {worker.name} log, exit code {worker.process.returncode} ---")
            print(worker.log())
        celery_app.control.add_consumer("payments", destination=me, reply=True)


def hold_account(account: Account):
    """Another transaction that holds ``account``'s row (an admin editing it, say:
    an UPDATE takes the same FOR NO KEY UPDATE lock as payment processing).
    Returns its connection: ``rollback()`` releases the lock."""
    db = connection.settings_dict
    holder = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432
    )
    with holder.cursor() as cursor:
        cursor.execute("UPDATE payments_account SET name = name WHERE id = %s", [account.pk])
    return holder
