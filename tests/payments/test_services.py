"""The payment services called directly: checks, idempotency, the transfer, refunds,
the sweep and the ledger check. Tasks run on a real worker in test_processing.py."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mysite.sweep import sweep
from notifications.models import Channel, Notification
from payments import services
from payments.models import Account, LedgerEntry, Payment
from payments.services import creating
from payments.tasks import check_ledger
from tests.helpers.locks import assert_locks_rows_before_write
from tests.helpers.payments import open_funded
from tests.helpers.services import require

pytestmark = pytest.mark.django_db


def pay(payer, payee, amount="10.00", key="key-1", **kwargs):
    payment, _ = services.payment_create(
        payer_id=payer.pk, payee_id=payee.pk, amount=amount, idempotency_key=key, **kwargs
    )
    return payment


def balances(*accounts) -> list[Decimal]:
    return [Account.objects.get(pk=account.pk).balance for account in accounts]


# -- creating -------------------------------------------------------------------


def test_create_stores_a_pending_payment_and_queues_it_on_commit(
    user, alice_account, bob_account, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        payment, created = services.payment_create(
            payer_id=alice_account.pk,
            payee_id=bob_account.pk,
            amount="12.50",
            idempotency_key="order-17",
            user=user,
        )

    # then
    assert created is True
    assert len(callbacks) == 1
    payment.refresh_from_db()
    assert (payment.status, payment.amount, payment.currency) == (
        "pending",
        Decimal("12.50"),
        "EUR",
    )
    assert payment.task_id
    assert payment.created_by == user
    assert payment.entries.count() == 0


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "must be more than zero"),
        ("0.00", "must be more than zero"),
        ("-5", "must be more than zero"),
        ("1.001", "more than 2 decimals"),
        ("1000000000000.00", "over the largest allowed, 999999999999.99"),
        ("abc", "is not an amount"),
        ("", "is not an amount"),
        ("NaN", "is not an amount"),
        ("Infinity", "is not an amount"),
        (12.5, "not 12.5"),
        (True, "not True"),
        (None, "is not an amount"),
        # Found by fuzzing (issue 14): each was a 500, or taken as 3.00.
        ("1e26", "'1e26' is not an amount"),
        ("1E+30", r"'1E\+30' is not an amount"),
        ("1e400", "'1e400' is not an amount"),
        ("1e3", "'1e3' is not an amount"),
        (10**40, "over the largest allowed"),
        pytest.param(10**5000, "over the largest allowed", id="10**5000"),
        (Decimal("1e400"), "is not an amount"),
        ("9" * 39, "over the largest allowed"),
        ("\u0663", "is not an amount"),  # an Arabic-Indic three
        ("\u00b3", "is not an amount"),  # a superscript three
        ("1 000", "is not an amount"),
        ("0x10", "is not an amount"),
        ("x" * 10_000, "is not an amount"),
    ],
)
def test_bad_amounts_are_refused_before_anything_is_written(
    user, alice_account, bob_account, amount, message
):
    with pytest.raises(services.PaymentRejected, match=message):
        pay(alice_account, bob_account, amount=amount, user=user)

    assert Payment.objects.exclude(description="Deposit").count() == 0


def test_amounts_keep_their_cents(user, alice_account, bob_account):
    assert pay(alice_account, bob_account, amount="12.5", key="a").amount == Decimal("12.50")
    assert pay(alice_account, bob_account, amount=7, key="b").amount == Decimal("7.00")
    assert pay(alice_account, bob_account, amount=Decimal("0.01"), key="c").amount == Decimal(
        "0.01"
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "An idempotency key is required"),
        (None, "An idempotency key is required"),
        ("x" * 65, "1 to 64 letters"),
        ("has space", "1 to 64 letters"),
        ("-leading-dash", "starting with a letter or digit"),
        ("ünïcode", "1 to 64 letters"),
        (123, "1 to 64 letters"),
    ],
)
def test_missing_or_malformed_keys_are_refused(user, alice_account, bob_account, key, message):
    with pytest.raises(services.PaymentRejected, match=message):
        pay(alice_account, bob_account, key=key, user=user)

    assert Payment.objects.exclude(description="Deposit").count() == 0


def test_accounts_are_checked(user, other_user, alice_account, bob_account):
    # given
    usd = open_funded(other_user, currency="USD", deposit="0")
    closed = services.account_close(account=open_funded(other_user, name="Old", deposit="0"))
    before = Payment.objects.count()

    # then
    with pytest.raises(services.AccountNotFound, match="No account #999999"):
        services.payment_create(
            payer_id=999999, payee_id=bob_account.pk, amount="1", idempotency_key="k", user=user
        )
    with pytest.raises(services.AccountForbidden, match="is not yours"):
        pay(bob_account, alice_account, user=user)
    with pytest.raises(services.AccountNotFound, match="No account #424242"):
        services.payment_create(
            payer_id=alice_account.pk, payee_id=424242, amount="1", idempotency_key="k", user=user
        )
    with pytest.raises(services.PaymentRejected, match="payee must be an account number"):
        services.payment_create(
            payer_id=alice_account.pk, payee_id="bob", amount="1", idempotency_key="k", user=user
        )
    with pytest.raises(services.PaymentRejected, match="payer and the payee are the same"):
        pay(alice_account, alice_account, user=user)
    with pytest.raises(services.PaymentRejected, match=f"account #{usd.pk} holds USD"):
        pay(alice_account, usd, user=user)
    with pytest.raises(services.PaymentRejected, match="the payment is in USD"):
        pay(alice_account, bob_account, currency="USD", user=user)
    with pytest.raises(services.PaymentRejected, match="Unknown currency 'XYZ'"):
        pay(alice_account, bob_account, currency="XYZ", user=user)
    with pytest.raises(services.PaymentRejected, match=f"Account #{closed.pk} is closed"):
        pay(alice_account, closed, user=user)
    external = services.external_account(currency="EUR")
    with pytest.raises(services.AccountForbidden, match="made by staff"):
        pay(alice_account, external, user=user)
    assert Payment.objects.count() == before


@pytest.mark.parametrize(
    "payee", [True, 2.0, "2.5", "-2", "", None, [2], "\u00b2", "\u0663", "0", 0, 2**63, "9" * 30]
)
def test_an_account_number_is_a_whole_number(user, alice_account, payee):
    with pytest.raises(services.PaymentRejected, match="payee must be an account number"):
        services.payment_create(
            payer_id=alice_account.pk, payee_id=payee, amount="1", idempotency_key="k", user=user
        )
    with pytest.raises(services.PaymentRejected, match="payer must be an account number"):
        services.payment_create(
            payer_id=payee, payee_id=alice_account.pk, amount="1", idempotency_key="k", user=user
        )


@pytest.mark.parametrize(
    ("description", "message"),
    [(None, "must be text"), (12, "must be text"), ("x" * 201, "longer than 200 characters")],
)
def test_a_description_is_short_text(user, alice_account, bob_account, description, message):
    with pytest.raises(services.PaymentRejected, match=message):
        pay(alice_account, bob_account, description=description, user=user)

    assert not Payment.objects.filter(payer=alice_account).exists()


def test_the_same_key_and_request_is_the_same_payment(user, alice_account, bob_account):
    # given
    first = pay(alice_account, bob_account, key="once", user=user)

    # when
    again, created = services.payment_create(
        payer_id=alice_account.pk,
        payee_id=bob_account.pk,
        amount="10.00",
        idempotency_key="once",
        user=user,
    )

    # then
    assert (again.pk, created) == (first.pk, False)
    assert Payment.objects.filter(idempotency_key="once").count() == 1


@pytest.mark.parametrize(
    "change", [{"amount": "10.01"}, {"description": "other"}, {"currency": "USD"}]
)
def test_the_same_key_for_another_request_is_a_conflict(user, alice_account, bob_account, change):
    pay(alice_account, bob_account, key="once", user=user)

    with pytest.raises(services.KeyConflict, match="'once' was used for a different payment"):
        pay(alice_account, bob_account, key="once", user=user, **change)

    assert Payment.objects.filter(idempotency_key="once").count() == 1


def test_a_key_is_scoped_to_its_payer(user, alice_account, bob_account):
    # given: the same key from two payers is two payments
    second = open_funded(user, name="Alice savings")

    # when
    one = pay(alice_account, bob_account, key="shared", user=user)
    two = pay(second, bob_account, key="shared", user=user)

    # then
    assert one.pk != two.pk


@pytest.mark.django_db(transaction=True)
def test_create_is_one_select_and_one_insert(alice_account, bob_account):
    """Both accounts and the key's payment in one query; the task id goes in
    the INSERT (no UPDATE after it), and outside a transaction the INSERT
    commits on its own (no BEGIN, no COMMIT)."""
    with CaptureQueriesContext(connection) as queries:
        payment = pay(alice_account, bob_account, key="one-trip")

    select, insert = (query["sql"] for query in queries.captured_queries)
    assert select.startswith("SELECT")
    assert 'FROM "payments_account"' in select
    assert insert.startswith('INSERT INTO "payments_payment"')
    assert payment.task_id
    assert payment.task_id in insert
    assert Payment.objects.get(pk=payment.pk).task_id == payment.task_id


def test_a_key_taken_by_a_racing_request_inside_a_transaction_is_a_replay(
    user, alice_account, bob_account, monkeypatch
):
    # given: the first request's payment, which the lookup of the second misses
    # (it committed between that lookup and the INSERT)
    first = pay(alice_account, bob_account, key="race", user=user)
    found = creating._accounts_with_key

    def missing_the_key(**kwargs):
        accounts = found(**kwargs)
        for account in accounts.values():
            account.key_payment_id = None
        return accounts

    monkeypatch.setattr(creating, "_accounts_with_key", missing_the_key)

    # when: inside the caller's transaction
    with transaction.atomic():
        again, created = services.payment_create(
            payer_id=alice_account.pk,
            payee_id=bob_account.pk,
            amount="10.00",
            idempotency_key="race",
            user=user,
        )
        # then: the transaction is still usable
        assert Payment.objects.filter(idempotency_key="race").count() == 1

    assert (again.pk, created) == (first.pk, False)


# -- processing -----------------------------------------------------------------


def test_processing_moves_the_money_and_writes_two_ledger_lines(alice_account, bob_account):
    # given
    payment = pay(alice_account, bob_account, amount="12.50")

    # when
    payment = services.payment_process(payment_id=payment.pk)

    # then
    assert (payment.status, payment.failure_reason) == ("completed", "")
    assert payment.processed_at is not None
    assert balances(alice_account, bob_account) == [Decimal("87.50"), Decimal("12.50")]
    lines = {line.account_id: line for line in payment.entries.all()}
    assert lines[alice_account.pk].amount == Decimal("-12.50")
    assert lines[alice_account.pk].balance_after == Decimal("87.50")
    assert lines[bob_account.pk].amount == Decimal("12.50")
    assert lines[bob_account.pk].balance_after == Decimal("12.50")
    assert services.ledger_check() == []


def test_processing_twice_moves_the_money_once(alice_account, bob_account):
    payment = pay(alice_account, bob_account, amount="30.00")

    services.payment_process(payment_id=payment.pk)
    again = services.payment_process(payment_id=payment.pk)

    assert again.status == "completed"
    assert balances(alice_account, bob_account) == [Decimal("70.00"), Decimal("30.00")]
    assert payment.entries.count() == 2


def test_insufficient_funds_fail_for_good(alice_account, bob_account):
    # given
    payment = pay(alice_account, bob_account, amount="100.01")

    # when
    payment = services.payment_process(payment_id=payment.pk)

    # then
    assert payment.status == "failed"
    assert payment.failure_reason == (
        f"Insufficient funds: account #{alice_account.pk} holds 100.00 EUR, "
        "the payment needs 100.01."
    )
    assert balances(alice_account, bob_account) == [Decimal("100.00"), Decimal("0.00")]
    assert payment.entries.count() == 0
    assert services.payment_process(payment_id=payment.pk).status == "failed"


def test_an_account_closed_after_the_payment_was_made_fails_it(alice_account, bob_account):
    payment = pay(alice_account, bob_account)
    services.account_close(account=bob_account)

    payment = services.payment_process(payment_id=payment.pk)

    assert (payment.status, payment.failure_reason) == (
        "failed",
        f"Account #{bob_account.pk} is closed.",
    )
    assert balances(alice_account) == [Decimal("100.00")]


def test_a_currency_changed_under_a_payment_fails_it(alice_account, bob_account):
    payment = pay(alice_account, bob_account)
    Account.objects.filter(pk=bob_account.pk).update(currency="GBP")

    payment = services.payment_process(payment_id=payment.pk)

    assert payment.status == "failed"
    assert payment.failure_reason == (
        f"Currency mismatch: the payment is in EUR, account #{bob_account.pk} holds GBP."
    )


def test_the_accounts_are_locked_before_they_are_written_in_pk_order(alice_account, bob_account):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    # given: the payer has the higher pk, so pk order is not payer-first order
    payer = open_funded(alice_account.owner, name="Later")
    payment = pay(payer, alice_account, amount="5.00")
    low, high = sorted([payer.pk, alice_account.pk])

    # when
    with CaptureQueriesContext(connection) as queries:
        services.payment_process(payment_id=payment.pk)

    # then: FOR NO KEY UPDATE, a lock for writing, which lets payments be
    # inserted (their foreign keys take FOR KEY SHARE on the accounts) meanwhile
    sql = assert_locks_rows_before_write(
        queries,
        locks=[
            f'FROM "payments_payment" WHERE id = {payment.pk} FOR NO KEY UPDATE',
            f'FROM "payments_account" WHERE id IN ({low}, {high}) ORDER BY id FOR NO KEY UPDATE',
        ],
        write='UPDATE "payments_account"',
    )
    updates = [q for q in sql if q.startswith('UPDATE "payments_account"')]
    assert len(updates) == 1  # both balances in one statement, after both locks
    assert f"WHERE id IN ({payer.pk}, {alice_account.pk})" in updates[0]
    # the lock timeout is set first, in the same round trip as the first lock
    first_lock = next(q for q in sql if 'FROM "payments_payment"' in q)
    assert first_lock.startswith("SELECT set_config('lock_timeout', '5000ms', true);")


@pytest.mark.django_db(transaction=True)
def test_new_payments_are_not_blocked_by_a_payment_being_processed(alice_account, bob_account):
    """The accounts are locked FOR NO KEY UPDATE: inserting a payment (whose
    foreign keys take FOR KEY SHARE on them) goes on meanwhile. Plain FOR
    UPDATE would block it, and with the order of the two reversed, deadlock."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    locked, release = threading.Event(), threading.Event()

    def hold_the_accounts():
        try:
            with transaction.atomic():
                services.accounts_lock(ids=[alice_account.pk, bob_account.pk])
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_accounts)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # blocked: OperationalError
        payment = pay(alice_account, bob_account, key="meanwhile", queue=False)
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert payment.status == "pending"


def test_the_database_refuses_what_the_services_refuse(alice_account, bob_account):
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=alice_account.pk).update(balance=Decimal("-0.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            idempotency_key="z", payer=alice_account, payee=bob_account, amount=0, currency="EUR"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            idempotency_key="s", payer=alice_account, payee=alice_account, amount=1, currency="EUR"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(name="Second", kind="external", currency="EUR")


# -- refunds --------------------------------------------------------------------


@pytest.fixture
def paid(alice_account, bob_account):
    """Alice paid Bob 40.00."""
    return services.payment_process(payment_id=pay(alice_account, bob_account, amount="40.00").pk)


def test_a_full_refund_sends_the_money_back(other_user, paid, alice_account, bob_account):
    # when
    refund, created = services.payment_refund(
        payment_id=paid.pk, idempotency_key="refund-1", user=other_user
    )
    refund = services.payment_process(payment_id=refund.pk)

    # then
    assert created is True
    assert (refund.payer_id, refund.payee_id, refund.amount) == (
        bob_account.pk,
        alice_account.pk,
        Decimal("40.00"),
    )
    assert refund.refund_of_id == paid.pk
    assert refund.description == f"Refund of payment #{paid.pk}"
    assert refund.status == "completed"
    paid.refresh_from_db()
    assert paid.status == "refunded"
    assert balances(alice_account, bob_account) == [Decimal("100.00"), Decimal("0.00")]
    assert services.ledger_check() == []


def test_a_refund_locks_itself_then_the_refunded_payment_then_the_accounts(other_user, paid):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    refund, _ = services.payment_refund(
        payment_id=paid.pk, idempotency_key="refund-locks", user=other_user
    )
    low, high = sorted([paid.payer_id, paid.payee_id])

    with CaptureQueriesContext(connection) as queries:
        services.payment_process(payment_id=refund.pk)

    # the same order as every other payment's, the refunded payment in between
    assert_locks_rows_before_write(
        queries,
        locks=[
            f'FROM "payments_payment" WHERE id = {refund.pk} FOR NO KEY UPDATE',
            f'FROM "payments_payment" WHERE id = {paid.pk} FOR NO KEY UPDATE',
            f'FROM "payments_account" WHERE id IN ({low}, {high}) ORDER BY id FOR NO KEY UPDATE',
        ],
        write='UPDATE "payments_account"',
    )


def test_partial_refunds_never_add_up_to_more_than_was_paid(other_user, paid):
    # given
    first, _ = services.payment_refund(
        payment_id=paid.pk, amount="15.00", idempotency_key="r1", user=other_user
    )
    services.payment_process(payment_id=first.pk)

    # then: 25.00 is left
    with pytest.raises(services.PaymentRejected, match=r"At most 25\.00 EUR"):
        services.payment_refund(
            payment_id=paid.pk, amount="25.01", idempotency_key="r2", user=other_user
        )
    rest, _ = services.payment_refund(payment_id=paid.pk, idempotency_key="r3", user=other_user)
    assert rest.amount == Decimal("25.00")
    services.payment_process(payment_id=rest.pk)
    paid.refresh_from_db()
    assert paid.status == "refunded"
    with pytest.raises(services.PaymentRejected, match="is refunded: nothing to refund"):
        services.payment_refund(payment_id=paid.pk, idempotency_key="r4", user=other_user)


def test_two_refunds_racing_for_the_same_money_apply_once(other_user, paid):
    # given: two full refunds that both passed the check before either was stored
    services.payment_refund(payment_id=paid.pk, idempotency_key="r1", user=other_user)
    racer = Payment.objects.create(
        idempotency_key="r2",
        payer=paid.payee,
        payee=paid.payer,
        amount=paid.amount,
        currency="EUR",
        refund_of=paid,
    )
    first = paid.refunds.get(idempotency_key="r1")

    # when
    first = services.payment_process(payment_id=first.pk)
    racer = services.payment_process(payment_id=racer.pk)

    # then
    assert first.status == "completed"
    assert racer.status == "failed"
    assert racer.failure_reason == (
        f"Refund too large: 0.00 EUR of payment #{paid.pk} is left to refund."
    )
    assert services.ledger_check() == []


def test_refunds_are_refused_when_they_make_no_sense(
    user, other_user, paid, alice_account, bob_account
):
    failed = services.payment_process(
        payment_id=pay(alice_account, bob_account, amount="999.00", key="big").pk
    )
    refund, _ = services.payment_refund(payment_id=paid.pk, idempotency_key="r", user=other_user)
    before = Payment.objects.count()

    with pytest.raises(services.AccountForbidden, match="was not paid to you"):
        services.payment_refund(payment_id=paid.pk, idempotency_key="x", user=user)
    with pytest.raises(services.PaymentRejected, match="is failed: nothing to refund"):
        services.payment_refund(payment_id=failed.pk, idempotency_key="x", user=other_user)
    with pytest.raises(services.PaymentRejected, match="is a refund; it cannot be refunded"):
        services.payment_refund(payment_id=refund.pk, idempotency_key="x", user=user)
    with pytest.raises(services.PaymentRejected, match="No payment #'nope'"):
        services.payment_refund(payment_id="nope", idempotency_key="x", user=other_user)
    with pytest.raises(services.PaymentRejected, match=r"At most 0\.00 EUR"):
        services.payment_refund(payment_id=paid.pk, idempotency_key="x", user=other_user)
    assert Payment.objects.count() == before
    # a replay of the first refund is still the first refund
    again, created = services.payment_refund(
        payment_id=paid.pk, idempotency_key="r", user=other_user
    )
    assert (again.pk, created) == (refund.pk, False)


# -- the sweep and the ledger check ---------------------------------------------


def test_the_sweep_requeues_only_payments_pending_too_long(
    alice_account, bob_account, django_capture_on_commit_callbacks, settings
):
    # given
    settings.PAYMENTS_SWEEP_AFTER = timedelta(minutes=5)
    stuck = pay(alice_account, bob_account, key="stuck")
    fresh = pay(alice_account, bob_account, key="fresh")
    done = services.payment_process(payment_id=pay(alice_account, bob_account, key="done").pk)
    long_ago = timezone.now() - timedelta(hours=1)
    Payment.objects.filter(pk__in=[stuck.pk, done.pk]).update(enqueued_at=long_ago)
    old_task = stuck.task_id

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        requeued = sweep()

    # then: queued again under the id it had, so whoever polls that id sees the outcome
    assert requeued == {"payments.Payment": [stuck.pk]}
    assert len(callbacks) == 1
    stuck.refresh_from_db()
    assert stuck.task_id == old_task
    assert stuck.enqueued_at > long_ago
    fresh.refresh_from_db()
    assert fresh.enqueued_at > long_ago
    assert sweep() == {}


def test_the_ledger_check_names_every_disagreement(alice_account, bob_account):
    # given: a completed payment, then three kinds of damage
    payment = services.payment_process(payment_id=pay(alice_account, bob_account).pk)
    Account.objects.filter(pk=alice_account.pk).update(balance=Decimal("95.00"))
    LedgerEntry.objects.filter(payment=payment, account=bob_account).update(amount=Decimal("11.00"))
    failed = services.payment_process(
        payment_id=pay(alice_account, bob_account, amount="500", key="big").pk
    )
    LedgerEntry.objects.create(
        payment=failed, account=bob_account, amount=Decimal("1.00"), balance_after=0
    )

    # when
    problems = services.ledger_check()

    # then
    a, b = alice_account.pk, bob_account.pk
    assert problems == [
        f"Account #{a} (Alice main): balance 95.00 EUR, but its ledger entries sum to 90.00.",
        f"Account #{b} (Bob main): balance 10.00 EUR, but its ledger entries sum to 12.00.",
        "All EUR entries sum to 2.00, not zero.",
        f"Payment #{failed.pk} is failed but has 1 ledger entries (expected 0).",
        f"Ledger entry #{payment.entries.get(account=b).pk} of payment #{payment.pk} "
        f"puts 11.00 on account #{b}, which does not match the payment.",
        f"Ledger entry #{failed.entries.get().pk} of payment #{failed.pk} "
        f"puts 1.00 on account #{b}, which does not match the payment.",
    ]


def test_the_daily_check_tells_staff_when_the_ledger_is_off(
    staff_user, alice_account, django_capture_on_commit_callbacks
):
    # given
    Account.objects.filter(pk=alice_account.pk).update(balance=Decimal("1.00"))

    # when: the periodic task's body, in this process
    with django_capture_on_commit_callbacks(execute=False):
        result = check_ledger()

    # then
    assert result["count"] == 1
    alert = Notification.objects.get(recipient=staff_user, channel=Channel.IN_APP)
    assert alert.subject == "Ledger check: 1 problem(s)"
    assert f"Account #{alice_account.pk} (Alice main): balance 1.00 EUR" in alert.body


def test_the_daily_check_is_quiet_when_all_adds_up(staff_user, paid):
    assert check_ledger() == {"problems": [], "count": 0}
    assert Notification.objects.count() == 0
