import re
import threading

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from mysite.celery import app as celery_app
from payments import services
from payments.models import Account
from payments.tasks import process_payment
from tests.browser.look import screenshot
from tests.helpers.browser import log_in
from tests.helpers.payments import open_funded

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# Rows are made in fixtures listed before `page`: once Playwright runs, the ORM
# in this thread would open a connection nobody closes.
def test_pay_from_the_form_and_see_it_complete_live(
    live_server, celery_worker, alice_account, bob_account, page
):
    # given: Alice has 100.00 EUR, Bob an empty account
    log_in(page, live_server, username="alice", password="alice-password-1")

    # when: she pays Bob 12.50 from the form
    page.goto(f"{live_server.url}/payments/new/")
    page.select_option("#id_payer", str(alice_account.pk))
    page.fill("#id_payee", str(bob_account.pk))
    page.fill("#id_amount", "12.50")
    page.fill("#id_description", "Dinner")
    page.click("#payment-form button[type=submit]")

    # then: the payment's page follows it to completed, without a reload
    expect(page).to_have_url(re.compile(rf"^{live_server.url}/payments/\d+/$"))
    payment_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    expect(page.locator("h1")).to_have_text(f"Payment #{payment_id}")
    expect(page.locator("#payment-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#waiting")).to_be_hidden()
    expect(page.locator("#failure-reason")).to_be_hidden()
    expect(page.locator("#payment-amount")).to_have_text("12.50 EUR")
    # "... sent; it is being processed." is no longer true: it is not shown
    expect(page.locator(".notice", has_text="being processed")).to_be_hidden()
    screenshot(page, "payment-completed")

    # and her accounts page shows the new balance and the ledger line
    page.click("text=All payments")
    account = page.locator(f'[data-account-id="{alice_account.pk}"]')
    expect(account.locator(".balance")).to_have_text("87.50 EUR")
    expect(account.locator(".ledger tbody tr").first).to_contain_text("Dinner")
    expect(account.locator(".ledger tbody tr").first).to_contain_text("-12.50")
    screenshot(page, "payments-after")


def close_account(account_id: int) -> None:
    """Close an account from another thread's connection, closed after: once Playwright
    runs, a connection this thread opened would stay open past the test."""

    def close() -> None:
        try:
            Account.objects.filter(pk=account_id).update(closed_at=timezone.now())
        finally:
            connections.close_all()

    closer = threading.Thread(target=close)
    closer.start()
    closer.join(timeout=30)


def test_the_sent_notice_shows_while_pending_only_and_goes_when_it_fails(
    live_server, celery_worker, alice_account, bob_account, page
):
    # given: the worker holds off the payments queue, so the payment waits
    me = [celery_worker.hostname]
    celery_app.control.cancel_consumer("payments", destination=me, reply=True)
    try:
        log_in(page, live_server, username="alice", password="alice-password-1")
        page.goto(f"{live_server.url}/payments/new/")
        page.select_option("#id_payer", str(alice_account.pk))
        page.fill("#id_payee", str(bob_account.pk))
        page.fill("#id_amount", "12.50")
        page.click("#payment-form button[type=submit]")

        # then: while it is pending, the page says it was sent and is being processed
        expect(page.locator("#payment-status")).to_have_text("pending")
        sent = page.locator(".notice", has_text="sent; it is being processed.")
        expect(sent).to_be_visible()

        # when: Bob's account closes before the worker gets to it, then the worker does
        close_account(bob_account.pk)
    finally:
        celery_app.control.add_consumer("payments", destination=me, reply=True)

    # then: the page shows it failed, and why, and no longer that it is being processed
    expect(page.locator("#payment-status")).to_have_text("failed", timeout=30_000)
    expect(page.locator("#failure-reason")).to_have_text(f"Account #{bob_account.pk} is closed.")
    expect(sent).to_be_hidden()
    expect(page.locator("#waiting")).to_be_hidden()

    # and after a reload neither the notice nor the waiting line comes back
    page.reload()
    expect(page.locator("#payment-status")).to_have_text("failed")
    expect(page.locator(".notice")).to_have_count(0)
    expect(page.locator("#waiting")).to_have_count(0)


def test_paying_more_than_the_balance_is_refused_in_the_form(
    live_server, alice_account, bob_account, page
):
    # given: the From list shows 100.00 EUR
    log_in(page, live_server, username="alice", password="alice-password-1")
    page.goto(f"{live_server.url}/payments/new/")
    expect(page.locator("#id_payer option")).to_contain_text(["100.00 EUR"])

    # when: she asks for a cent more
    page.select_option("#id_payer", str(alice_account.pk))
    page.fill("#id_payee", str(bob_account.pk))
    page.fill("#id_amount", "100.01")
    page.click("#payment-form button[type=submit]")

    # then: the form says why, on the same page: no payment was made to fail later
    expect(page).to_have_url(f"{live_server.url}/payments/new/")
    expect(page.locator("#payment-form span.error")).to_have_text(
        f"Insufficient funds: account #{alice_account.pk} holds 100.00 EUR, "
        "the payment needs 100.01."
    )


@pytest.fixture
def three_kinds_of_payment(user, alice_account, bob_account):
    """Alice's main to her savings, main to Bob, Bob to her main: all completed."""
    savings = open_funded(user, name="Alice savings", deposit="0")
    made = {}
    for name, payer, payee in [
        ("transfer", alice_account, savings),
        ("out", alice_account, bob_account),
        ("in", bob_account, alice_account),
    ]:
        payment, _ = services.payment_create(
            payer_id=payer.pk, payee_id=payee.pk, amount="5.00", idempotency_key=name, queue=False
        )
        made[name] = services.payment_process(payment_id=payment.pk)
    return made


def test_a_payment_between_my_own_accounts_is_labelled_so(
    live_server, three_kinds_of_payment, page
):
    log_in(page, live_server, username="alice", password="alice-password-1")

    page.goto(f"{live_server.url}/payments/")

    for name, label in [("transfer", "between your accounts"), ("out", "out"), ("in", "in")]:
        row = page.locator(f'#payments tr[data-payment-id="{three_kinds_of_payment[name].pk}"]')
        expect(row.locator(".direction")).to_have_text(label)


def test_a_bad_amount_gets_a_form_error(live_server, alice_account, bob_account, page):
    log_in(page, live_server, username="alice", password="alice-password-1")

    page.goto(f"{live_server.url}/payments/new/")
    page.fill("#id_payee", str(bob_account.pk))
    page.fill("#id_amount", "1.001")
    page.click("#payment-form button[type=submit]")

    expect(page.locator("#payment-form span.error")).to_have_text(
        "The amount 1.001 has more than 2 decimals."
    )

    # and an exponent, a 500 once (issue 14), is no amount either
    page.fill("#id_amount", "1e26")
    page.click("#payment-form button[type=submit]")

    expect(page.locator("#payment-form span.error")).to_have_text("'1e26' is not an amount.")


@pytest.fixture
def payment_to_bob(alice_account, bob_account):
    """12.50 from Alice to Bob, stored but not queued yet: the test queues it."""
    payment, _ = services.payment_create(
        payer_id=alice_account.pk,
        payee_id=bob_account.pk,
        amount="12.50",
        idempotency_key="k",
        queue=False,
    )
    return payment


def test_the_payee_sees_it_complete_live_and_refunds_part_of_it(
    live_server, celery_worker, other_user, payment_to_bob, page
):
    # given: Bob on the page of a payment to him, still pending
    log_in(page, live_server, username="bob", password="bob-password-1")
    page.goto(f"{live_server.url}{payment_to_bob.get_absolute_url()}")
    expect(page.locator("#payment-status")).to_have_text("pending")
    expect(page.locator("#refund")).to_be_hidden()

    # when: the worker processes it (published straight to the broker: no ORM here)
    process_payment.apply_async(args=[payment_to_bob.pk])

    # then: the page shows it completed, and the refund form, without a reload
    expect(page.locator("#payment-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#waiting")).to_be_hidden()
    expect(page.locator("#refund")).to_be_visible()
    expect(page.locator("#id_amount")).to_have_value("12.50")

    # when: he sends 5.00 back
    page.fill("#id_amount", "5.00")
    page.click("#refund-form button[type=submit]")

    # then: the refund's own page follows it to completed
    expect(page.locator("h1")).to_contain_text("Refund #")
    expect(page.locator("#payment-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#payment")).to_contain_text(f"Payment #{payment_to_bob.pk}")
