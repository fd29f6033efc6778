"""The payment pages: the form (once per key, errors that say why), the accounts
page, the detail page and refunds."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from payments import services
from payments.models import Payment
from tests.helpers.payments import open_funded

pytestmark = pytest.mark.django_db

NEW = "/payments/new/"


@pytest.fixture
def alice(client, user):
    client.force_login(user)
    return client


def form_key(response) -> str:
    return response.context["form"]["idempotency_key"].value()


def form_data(payer, payee, *, key="form-key-1", amount="12.50", **extra) -> dict:
    return {
        "payer": payer.pk,
        "payee": payee.pk,
        "amount": amount,
        "description": "",
        "idempotency_key": key,
        **extra,
    }


def paid(payer, payee, amount="12.50", key="paid-1") -> Payment:
    """A payment from ``payer`` to ``payee``, processed (as the worker would)."""
    payment, _ = services.payment_create(
        payer_id=payer.pk, payee_id=payee.pk, amount=amount, idempotency_key=key
    )
    return services.payment_process(payment_id=payment.pk)


# -- the form -------------------------------------------------------------------


def test_the_form_offers_your_open_accounts_and_a_fresh_key(
    alice, user, other_user, alice_account, bob_account
):
    # given
    savings = open_funded(user, name="Savings", deposit="5.00")
    services.account_close(account=open_funded(user, name="Old", deposit="0"))

    # when
    first, second = alice.get(NEW), alice.get(NEW)

    # then
    assert first.status_code == 200
    assert first.context["form"].fields["payer"].choices == [
        (alice_account.pk, f"#{alice_account.pk} Alice main · 100.00 EUR"),
        (savings.pk, f"#{savings.pk} Savings · 5.00 EUR"),
    ]
    assert re.fullmatch(r"[0-9a-f]{32}", form_key(first))
    assert form_key(first) != form_key(second)
    assert f'name="idempotency_key" value="{form_key(first)}"' in first.content.decode()
    assert "no-store" in first.headers["Cache-Control"]  # back or reload: a new key


def test_paying_from_the_form_redirects_to_the_payment(alice, user, alice_account, bob_account):
    # when
    response = alice.post(NEW, form_data(alice_account, bob_account, description=" Dinner "))

    # then
    payment = Payment.objects.get(idempotency_key="form-key-1")
    assert response.status_code == 302
    assert response.url == f"/payments/{payment.pk}/"
    assert (payment.payer, payment.payee, payment.amount) == (
        alice_account,
        bob_account,
        Decimal("12.50"),
    )
    assert (payment.description, payment.status, payment.created_by) == ("Dinner", "pending", user)
    page = alice.get(response.url).content.decode()
    assert f"Payment of 12.50 EUR to account #{bob_account.pk} sent" in page


def test_a_double_submit_with_the_same_key_pays_once(alice, alice_account, bob_account):
    # given
    count = Payment.objects.count()

    # when: the same form is sent twice (a double click, a reload of the POST)
    first = alice.post(NEW, form_data(alice_account, bob_account))
    second = alice.post(NEW, form_data(alice_account, bob_account))

    # then
    assert Payment.objects.count() == count + 1
    assert (first.status_code, second.status_code) == (302, 302)
    assert first.url == second.url == Payment.objects.first().get_absolute_url()
    page = alice.get(second.url).content.decode()
    assert "This form was sent before: this is the payment it made, nothing more was paid." in page


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"amount": "0"}, "The amount must be more than zero, got 0."),
        ({"amount": "-5"}, "The amount must be more than zero, got -5."),
        ({"amount": "1.001"}, "The amount 1.001 has more than 2 decimals."),
        ({"amount": "abc"}, "&#x27;abc&#x27; is not an amount."),
        (
            {"amount": "1000000000000.00"},
            "The amount 1000000000000.00 is over the largest allowed, 999999999999.99.",
        ),
        ({"amount": ""}, "This field is required."),
        ({"payee": "999999"}, "No account #999999."),
        ({"payee": "abc"}, "The payee must be an account number, got &#x27;abc&#x27;."),
        # Found by fuzzing (issue 14): a 500, or "٣" taken as 3.
        ({"amount": "1e26"}, "&#x27;1e26&#x27; is not an amount."),
        ({"amount": "1E+30"}, "&#x27;1E+30&#x27; is not an amount."),
        ({"amount": "1e400"}, "&#x27;1e400&#x27; is not an amount."),
        ({"amount": "\u0663"}, "&#x27;\u0663&#x27; is not an amount."),
        ({"payee": "\u00b2"}, "The payee must be an account number, got &#x27;\u00b2&#x27;."),
        ({"payee": "\u0663"}, "The payee must be an account number, got &#x27;\u0663&#x27;."),
        ({"payee": "9" * 25}, "The payee must be an account number, got"),
        ({"payee": "<alice>"}, "The payer and the payee are the same account."),
        ({"payee": "<usd>"}, "Currency mismatch: the payment is in EUR, account #{usd} holds USD."),
        # More than the balance the From list shows (issue 17): refused before anything is queued.
        (
            {"amount": "100.01"},
            "Insufficient funds: account #{alice} holds 100.00 EUR, the payment needs 100.01.",
        ),
        ({"payer": "<bob>"}, "Select a valid choice. {bob} is not one of the available choices."),
        ({"description": "x" * 201}, "The description is longer than 200 characters."),
        ({"idempotency_key": ""}, "An idempotency key is required."),
        ({"idempotency_key": "has space"}, "The idempotency key must be 1 to 64 letters"),
    ],
)
def test_bad_input_is_a_form_error_and_writes_nothing(
    alice, other_user, alice_account, bob_account, changes, error
):
    # given
    ids = {
        "alice": alice_account.pk,
        "bob": bob_account.pk,
        "usd": open_funded(other_user, name="Dollars", currency="USD", deposit="0").pk,
    }
    data = form_data(alice_account, bob_account) | {
        field: ids[value[1:-1]] if value.startswith("<") else value
        for field, value in changes.items()
    }
    count = Payment.objects.count()

    # when
    response = alice.post(NEW, data)

    # then
    assert response.status_code == 400
    assert error.format(**ids) in response.content.decode()
    assert Payment.objects.count() == count
    assert form_key(response) == data["idempotency_key"]  # nothing was written under it


def test_a_corrected_form_pays_with_the_same_key(alice, alice_account, bob_account):
    # given: a typo in the amount, refused
    refused = alice.post(NEW, form_data(alice_account, bob_account, amount="12,50"))
    assert refused.status_code == 400

    # when: the user fixes it and sends the same form again
    response = alice.post(
        NEW, form_data(alice_account, bob_account, amount="12.50", key=form_key(refused))
    )

    # then
    payment = Payment.objects.get(idempotency_key="form-key-1")
    assert response.url == payment.get_absolute_url()
    assert payment.amount == Decimal("12.50")


def test_a_form_sent_again_for_another_payment_gets_a_new_key(alice, alice_account, bob_account):
    # given: a payment made, then the user goes back and changes the amount
    first = alice.post(NEW, form_data(alice_account, bob_account))
    count = Payment.objects.count()

    # when
    conflict = alice.post(NEW, form_data(alice_account, bob_account, amount="20.00"))

    # then: refused, nothing written, and the form now holds a new key
    assert conflict.status_code == 400
    page = conflict.content.decode()
    assert "was used for a different payment" in page
    assert "This form now has a new key: submit it again to make a new payment." in page
    assert Payment.objects.count() == count
    new_key = form_key(conflict)
    assert re.fullmatch(r"[0-9a-f]{32}", new_key)

    # and sending it again makes the second payment
    second = alice.post(NEW, form_data(alice_account, bob_account, amount="20.00", key=new_key))
    assert Payment.objects.count() == count + 1
    assert second.url != first.url
    assert Payment.objects.get(idempotency_key=new_key).amount == Decimal("20.00")


def test_someone_without_an_open_account_is_told(client, other_user):
    client.force_login(other_user)

    response = client.get(NEW)

    assert response.status_code == 200
    assert "You have no open account to pay from." in response.content.decode()


# -- the accounts page and the detail page ----------------------------------------


def test_the_accounts_page_shows_balances_ledger_lines_and_payments(
    alice, alice_account, bob_account
):
    # given
    payment = paid(alice_account, bob_account, "12.50")

    # when
    response = alice.get(reverse("payments:accounts"))

    # then
    assert response.status_code == 200
    [account] = response.context["accounts"]
    assert account.balance == Decimal("87.50")
    assert [(e.amount, e.balance_after) for e in account.recent_entries] == [
        (Decimal("-12.50"), Decimal("87.50")),
        (Decimal("100.00"), Decimal("100.00")),
    ]
    page = response.content.decode()
    assert '<strong class="balance">87.50 EUR</strong>' in page
    assert '<td class="num">-12.50 EUR</td>\n              <td class="num">87.50 EUR</td>' in page
    assert f'<a href="/payments/{payment.pk}/">Payment #{payment.pk}</a>' in page
    assert '<span class="state state-completed">completed</span>' in page


def test_the_payee_sees_the_payment_too(client, other_user, alice_account, bob_account):
    payment = paid(alice_account, bob_account, "12.50")
    client.force_login(other_user)

    accounts = client.get(reverse("payments:accounts"))
    detail = client.get(payment.get_absolute_url())

    assert [p.pk for p in accounts.context["payments"]] == [payment.pk]
    assert '<strong class="balance">12.50 EUR</strong>' in accounts.content.decode()
    assert detail.status_code == 200


def test_a_pending_payment_page_follows_its_status(alice, alice_account, bob_account):
    payment, _ = services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="3.00", idempotency_key="k"
    )

    response = alice.get(payment.get_absolute_url())

    page = response.content.decode()
    assert response.status_code == 200
    assert f'data-status-url="/api/v1/payments/{payment.pk}" data-status="pending"' in page
    assert "this page updates when it is done" in page
    assert "payments/payment.js" in page


def test_a_failed_payment_shows_why(alice, alice_account, bob_account):
    payment = paid(alice_account, bob_account, "500.00")

    page = alice.get(payment.get_absolute_url()).content.decode()

    assert payment.status == "failed"
    assert (
        f"Insufficient funds: account #{alice_account.pk} holds 100.00 EUR, "
        "the payment needs 500.00." in page
    )


def test_others_get_404_on_a_payment(client, django_user_model, alice_account, bob_account):
    payment = paid(alice_account, bob_account)
    client.force_login(django_user_model.objects.create_user("mallory"))

    assert client.get(payment.get_absolute_url()).status_code == 404
    refund = client.post(reverse("payments:refund", args=[payment.pk]), {"idempotency_key": "r"})
    assert refund.status_code == 404
    assert Payment.objects.filter(refund_of=payment).count() == 0


def test_the_pages_need_login(client):
    for url in (reverse("payments:accounts"), NEW, reverse("payments:detail", args=[1])):
        response = client.get(url)
        assert (response.status_code, response.url) == (302, f"/accounts/login/?next={url}")


# -- refunds ------------------------------------------------------------------------


@pytest.fixture
def bob(client, other_user):
    client.force_login(other_user)
    return client


def refund_form(response):
    return response.context["refund_form"]


def test_the_payee_refunds_from_the_payment_page(bob, alice_account, bob_account):
    # given
    payment = paid(alice_account, bob_account, "12.50")
    page = bob.get(payment.get_absolute_url())
    form = refund_form(page)
    assert form["amount"].value() == Decimal("12.50")
    key = form["idempotency_key"].value()

    # when: part of it, sent twice
    data = {"amount": "5.00", "idempotency_key": key}
    first = bob.post(reverse("payments:refund", args=[payment.pk]), data)
    second = bob.post(reverse("payments:refund", args=[payment.pk]), data)

    # then: one refund, from Bob back to Alice, and both answers lead to it
    refund = Payment.objects.get(refund_of=payment)
    assert (first.status_code, second.status_code) == (302, 302)
    assert first.url == second.url == refund.get_absolute_url()
    assert (refund.payer, refund.payee, refund.amount, refund.status) == (
        bob_account,
        alice_account,
        Decimal("5.00"),
        "pending",
    )
    assert refund.description == f"Refund of payment #{payment.pk}"
    refund_page = bob.get(first.url).content.decode()
    assert "Refund of 5.00 EUR sent to the payer." in refund_page
    assert f'<a href="/payments/{payment.pk}/">Payment #{payment.pk}</a>' in refund_page
    again = bob.get(payment.get_absolute_url())
    assert refund_form(again)["amount"].value() == Decimal("7.50")
    assert f"Refund #{refund.pk}" in again.content.decode()


def test_refunding_more_than_is_left_is_a_form_error(bob, alice_account, bob_account):
    payment = paid(alice_account, bob_account, "12.50")
    count = Payment.objects.count()

    response = bob.post(
        reverse("payments:refund", args=[payment.pk]),
        {"amount": "12.51", "idempotency_key": "refund-1"},
    )

    assert response.status_code == 400
    assert (
        f"At most 12.50 EUR of payment #{payment.pk} can be refunded." in response.content.decode()
    )
    assert refund_form(response)["idempotency_key"].value() == "refund-1"
    assert Payment.objects.count() == count


def test_the_payer_gets_no_refund_form_and_cannot_refund(alice, alice_account, bob_account):
    payment = paid(alice_account, bob_account, "12.50")
    count = Payment.objects.count()

    page = alice.get(payment.get_absolute_url())
    response = alice.post(
        reverse("payments:refund", args=[payment.pk]),
        {"amount": "1.00", "idempotency_key": "refund-1"},
    )

    assert refund_form(page) is None
    assert 'id="refund-form"' not in page.content.decode()
    assert response.status_code == 400
    assert f"Payment #{payment.pk} was not paid to you." in response.content.decode()
    assert Payment.objects.count() == count


def test_a_failed_payment_cannot_be_refunded(bob, alice_account, bob_account):
    payment = paid(alice_account, bob_account, "500.00")
    count = Payment.objects.count()

    page = bob.get(payment.get_absolute_url())
    response = bob.post(
        reverse("payments:refund", args=[payment.pk]), {"idempotency_key": "refund-1"}
    )

    assert refund_form(page) is None
    assert response.status_code == 400
    assert f"Payment #{payment.pk} is failed: nothing to refund." in response.content.decode()
    assert Payment.objects.count() == count


def test_a_pending_payment_has_its_refund_form_waiting_hidden(bob, alice_account, bob_account):
    payment, _ = services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="3.00", idempotency_key="k"
    )

    page = bob.get(payment.get_absolute_url()).content.decode()

    assert '<div id="refund" hidden>' in page


def test_a_full_refund_leaves_no_refund_form(bob, alice_account, bob_account):
    # given
    payment = paid(alice_account, bob_account, "12.50")
    response = bob.post(
        reverse("payments:refund", args=[payment.pk]), {"amount": "", "idempotency_key": "r-1"}
    )
    refund = Payment.objects.get(refund_of=payment)
    services.payment_process(payment_id=refund.pk)

    # when
    page = bob.get(payment.get_absolute_url())

    # then
    assert response.url == refund.get_absolute_url()
    assert refund.amount == Decimal("12.50")
    assert refund_form(page) is None
    assert '<span class="state state-refunded" id="payment-status"' in page.content.decode()


def test_the_payment_history_comes_in_pages_with_a_next_link(
    alice, settings, alice_account, bob_account
):
    # given: the opening deposit and 21 payments: 22, over two pages of 20
    for n in range(21):
        services.payment_create(
            payer_id=alice_account.pk, payee_id=bob_account.pk, amount="1", idempotency_key=f"h{n}"
        )
    newest_first = list(Payment.objects.order_by("-pk").values_list("pk", flat=True))

    # when
    first = alice.get(reverse("payments:accounts"))
    second = alice.get(reverse("payments:accounts"), {"page": "2"})
    odd = [
        alice.get(reverse("payments:accounts"), {"page": page}) for page in ("x", "\u00b2", "99")
    ]

    # then
    assert [p.pk for p in first.context["payments"]] == newest_first[:20]
    assert '<a rel="next" href="?page=2">Older</a>' in first.content.decode()
    assert [p.pk for p in second.context["payments"]] == newest_first[20:]
    assert 'rel="next"' not in second.content.decode()
    assert '<a rel="prev" href="?page=1">Newer</a>' in second.content.decode()
    assert [response.status_code for response in odd] == [200, 200, 200]
