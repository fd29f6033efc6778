import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from payments import services
from payments.tasks import process_payment
from tests.helpers.browser import log_in

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
    page.screenshot(path=str(settings.VAR_DIR / "payment.png"), full_page=True)

    # and her accounts page shows the new balance and the ledger line
    page.click("text=All payments")
    account = page.locator(f'[data-account-id="{alice_account.pk}"]')
    expect(account.locator(".balance")).to_have_text("87.50")
    expect(account.locator(".ledger tbody tr").first).to_contain_text("Dinner")
    expect(account.locator(".ledger tbody tr").first).to_contain_text("-12.50")
    page.screenshot(path=str(settings.VAR_DIR / "payments.png"), full_page=True)


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
