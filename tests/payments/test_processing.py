"""Payments on real workers: retries on lock timeouts, thousands of concurrent
transfers on a few hot accounts, and workers killed in the middle of a batch.

Row locks are the point here, so these run on PostgreSQL (SQLite has none);
the crowd and the crash use worker processes of their own (see conftest).
"""

import logging
import os
import random
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django_celery_results.models import TaskResult

from mysite.enqueue import enqueue
from mysite.sweep import sweep
from payments import services
from payments.models import Account, LedgerEntry, Payment
from payments.tasks import process_payment
from tests.helpers.payments import hold_account, open_funded
from tests.helpers.services import require, wait_for, waiting_for_a_lock

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNTS = 10
OPENING = Decimal("500.00")


def customer_total() -> Decimal:
    return Account.objects.filter(kind="customer").aggregate(total=Sum("balance"))["total"]


def pending() -> int:
    return Payment.objects.filter(status="pending").count()


def final() -> int:
    return Payment.objects.exclude(status="pending").exclude(description="Deposit").count()


def assert_ledger_adds_up(accounts: list[Account], total: Decimal) -> None:
    assert pending() == 0
    assert customer_total() == total
    assert not Account.objects.filter(kind="customer", balance__lt=0).exists()
    assert services.ledger_check() == []
    applied = Payment.objects.filter(status__in=["completed", "refunded"]).count()
    assert LedgerEntry.objects.count() == 2 * applied


@pytest.fixture
def hot_accounts(django_user_model) -> list[Account]:
    """Ten accounts of five users, 500.00 EUR each."""
    users = [django_user_model.objects.create_user(f"payer{i}") for i in range(ACCOUNTS // 2)]
    return [
        open_funded(users[i // 2], name=f"Hot {i}", deposit=str(OPENING)) for i in range(ACCOUNTS)
    ]


def test_a_payment_made_on_the_site_is_processed_by_the_worker(
    celery_worker, alice_account, bob_account
):
    # when
    payment, _ = services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="12.50", idempotency_key="k"
    )

    # then
    wait_for(lambda: Payment.objects.get(pk=payment.pk).is_final, what="the payment")
    payment.refresh_from_db()
    assert payment.status == "completed"
    assert [a.balance for a in Account.objects.filter(kind="customer")] == [
        Decimal("87.50"),
        Decimal("12.50"),
    ]


def test_a_processed_payment_stores_no_task_result(celery_worker, alice_account, bob_account):
    """The payment row is the outcome: its task writes no STARTED or SUCCESS row."""
    payment, _ = services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="1.00", idempotency_key="k"
    )
    other, _ = services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="1.00", idempotency_key="k2"
    )

    wait_for(lambda: not Payment.objects.filter(status="pending").exists(), what="the payments")
    assert not TaskResult.objects.filter(task_id__in=[payment.task_id, other.task_id]).exists()


def test_a_payment_task_that_fails_still_records_its_failure(celery_worker):
    """For the operations console: a failure is stored even though results are not."""
    with transaction.atomic():
        task_id = enqueue(process_payment, args=[987654321])

    wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status="FAILURE").exists(),
        what="the failure",
    )
    assert "DoesNotExist" in TaskResult.objects.get(task_id=task_id).result


def test_a_lock_timeout_is_retried_until_the_lock_is_free(
    celery_worker, alice_account, bob_account, settings, caplog
):
    require(connection.vendor == "postgresql", "lock timeouts need PostgreSQL")
    # given: another transaction holds Bob's account row
    settings.PAYMENTS_LOCK_TIMEOUT_MS = 200
    # when
    with hold_account(bob_account) as holder, caplog.at_level(logging.INFO, logger="celery"):
        payment, _ = services.payment_create(
            payer_id=alice_account.pk,
            payee_id=bob_account.pk,
            amount="5.00",
            idempotency_key="k",
        )
        wait_for(lambda: "Retry in" in caplog.text, what="the task to retry")
        assert Payment.objects.get(pk=payment.pk).status == "pending"
        holder.commit()

        # then
        wait_for(lambda: Payment.objects.get(pk=payment.pk).is_final, what="the payment")
    assert "LockNotAvailable" in caplog.text or "lock timeout" in caplog.text
    assert Payment.objects.get(pk=payment.pk).status == "completed"
    assert services.ledger_check() == []


@pytest.mark.slow
def test_thousands_of_concurrent_transfers_keep_the_ledger_whole(hot_accounts, payment_workers):
    """2,000 random transfers among ten accounts on several worker processes,
    with the same requests submitted twice (at once, from two threads), keys
    replayed with another body, and tasks delivered twice."""
    # given
    payment_workers(concurrency=4)
    total = customer_total()
    rng = random.Random(6)
    requests = []
    for n in range(2000):
        payer, payee = rng.sample(hot_accounts, 2)
        amount = f"{rng.randint(1, 15000) / 100:.2f}"
        requests.append((payer.pk, payee.pk, amount, f"transfer-{n}"))
    submissions = []
    for request in requests:
        submissions.append(request)
        if rng.random() < 0.1:
            submissions.append(request)  # a double click: the same request right after
    replays = rng.sample(requests, 50)

    # when: four threads submit, each every fourth request, so a duplicate and
    # its original go to different threads and race each other for the key
    def submit(part):
        try:
            return [
                services.payment_create(
                    payer_id=payer, payee_id=payee, amount=amount, idempotency_key=key
                )
                for payer, payee, amount, key in part
            ]
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(submit, [submissions[i::4] for i in range(4)]))
    outcomes = [outcome for part in parts for outcome in part]
    conflicts = 0
    for payer, payee, amount, key in replays:
        try:
            services.payment_create(
                payer_id=payer,
                payee_id=payee,
                amount=str(Decimal(amount) + Decimal("0.01")),  # another body, same key
                idempotency_key=key,
            )
        except services.KeyConflict:
            conflicts += 1
    redelivered = rng.sample(sorted({payment.pk for payment, _ in outcomes}), 100)
    for payment_id in redelivered:
        enqueue(process_payment, args=[payment_id])
    wait_for(lambda: pending() == 0, timeout=240, what="every transfer to be processed")

    # then
    created = Counter(created for _, created in outcomes)
    assert created == {True: 2000, False: len(submissions) - 2000}
    assert conflicts == 50
    keys = Counter(
        Payment.objects.exclude(description="Deposit").values_list("idempotency_key", flat=True)
    )
    assert len(keys) == 2000
    assert set(keys.values()) == {1}
    statuses = Counter(
        Payment.objects.exclude(description="Deposit").values_list("status", flat=True)
    )
    assert statuses["completed"] > 1000
    assert statuses["completed"] + statuses["failed"] == 2000
    assert_ledger_adds_up(hot_accounts, total)


def make_batch(accounts: list[Account], size: int, seed: int) -> None:
    rng = random.Random(seed)
    for n in range(size):
        payer, payee = rng.sample(accounts, 2)
        services.payment_create(
            payer_id=payer.pk,
            payee_id=payee.pk,
            amount=f"{rng.randint(1, 5000) / 100:.2f}",
            idempotency_key=f"batch-{seed}-{n}",
        )


LOST = "WorkerLostError"


@contextmanager
def batch_waiting_on_a_lock(accounts, *, seed: int):
    """A batch of 400 payments on the workers, one of which waits inside its
    transaction for ``accounts[0]``, which another transaction holds until the
    block ends (a slow payment)."""
    with hold_account(accounts[0]):
        make_batch(accounts, 400, seed=seed)
        wait_for(lambda: waiting_for_a_lock() >= 1, what="a payment to wait in its transaction")
        yield


@pytest.mark.slow
def test_a_task_whose_pool_process_dies_is_run_again(hot_accounts, payment_workers):
    """SIGKILL the pool processes while one is in the middle of a payment: the
    task it was running goes back to the queue at once (``reject_on_worker_lost``),
    the worker forks new processes, and every payment is applied once."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    # given: a batch on a worker, one of whose accounts another transaction holds,
    # so a payment of the batch waits inside its transaction (a slow payment)
    total = customer_total()
    worker = payment_workers(concurrency=2)
    with batch_waiting_on_a_lock(hot_accounts, seed=1):
        # when
        for child in worker.children():
            os.kill(child, signal.SIGKILL)
        wait_for(lambda: LOST in worker.log(), what="the worker to see its process die")

    # then: no sweep needed, the lost task came back by itself
    wait_for(lambda: pending() == 0, timeout=120, what="the batch to finish")
    assert f"{LOST}('Worker exited prematurely: signal 9 (SIGKILL)" in worker.log()
    assert final() == 400
    assert_ledger_adds_up(hot_accounts, total)


@pytest.mark.slow
def test_a_worker_killed_mid_batch_leaves_nothing_stuck(hot_accounts, payment_workers, settings):
    """SIGKILL a whole worker in the middle of a batch and start another.

    What the dead worker had taken (prefetch 1 per process) stays with Redis
    until its visibility timeout (RabbitMQ hands it back at once); the sweep
    re-queues those payments meanwhile, and what runs twice applies once.
    """
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    # given: a batch on a worker, one payment of which waits inside its
    # transaction for an account another transaction holds
    total = customer_total()
    first = payment_workers(concurrency=2)
    with batch_waiting_on_a_lock(hot_accounts, seed=2):
        # when
        first.kill()
        assert pending() > 0  # the batch was cut short
    payment_workers(concurrency=2)
    wait_for(lambda: pending() <= 2, timeout=120, what="the new worker to take over")
    settings.PAYMENTS_SWEEP_AFTER = timedelta(0)
    sweep()

    # then
    wait_for(lambda: pending() == 0, timeout=60, what="the swept payments")
    assert final() == 400
    assert_ledger_adds_up(hot_accounts, total)
