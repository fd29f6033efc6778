"""The payments JSON API: every refusal says why and writes nothing; a key makes
a request safe to repeat; the real worker takes a payment to completed."""

import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from mysite.enqueue import QUEUE_DOWN_MESSAGE
from payments import selectors, services
from payments.models import Account, Payment
from tests.conftest import wait_for
from tests.payments.conftest import open_funded

pytestmark = pytest.mark.django_db

UNKNOWN = 999_999


def as_json(body) -> str:
    """JSON text in which a Decimal is a JSON number written as it is (12.5, 1E+2)."""
    return re.sub(r'"decimal:([^"]+)"', r"\1", json.dumps(body, default=lambda d: f"decimal:{d}"))


def post(client, body, *, key: str | None = "order-1"):
    """POST ``body`` (sent as JSON, or raw text or bytes) to the create endpoint."""
    return client.post(
        reverse("payments:api-create"),
        data=body if isinstance(body, str | bytes) else as_json(body),
        content_type="application/json",
        headers={} if key is None else {"Idempotency-Key": key},
    )


@pytest.fixture
def alice(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def accounts(user, other_user, alice_account, bob_account) -> dict[str, int]:
    """Account numbers by name, for requests and messages."""
    return {
        "alice": alice_account.pk,
        "bob": bob_account.pk,
        "usd": open_funded(other_user, name="Bob dollars", currency="USD", deposit="0").pk,
        "closed": services.account_close(
            account=open_funded(other_user, name="Old", deposit="0")
        ).pk,
        "external": services.external_account(currency="EUR").pk,
        "unknown": UNKNOWN,
    }


def request_body(accounts: dict[str, int], **changes) -> dict:
    """A good request (12.50 from Alice to Bob) with ``changes``; "<name>" is an account."""
    body = {"from": "<alice>", "to": "<bob>", "amount": "12.50", **changes}
    return {
        field: accounts[value[1:-1]] if isinstance(value, str) and value[:1] == "<" else value
        for field, value in body.items()
    }


# -- a new payment, and the same one again ---------------------------------------


def test_a_new_payment_is_accepted_with_202_and_a_status_url(alice, user, accounts):
    # when
    response = post(alice, request_body(accounts, description="Dinner"))

    # then
    assert response.status_code == 202
    payment = Payment.objects.get(idempotency_key="order-1")
    assert response.json() == selectors.payment_status(payment)
    assert response.json()["status"] == "pending"
    assert response.json()["status_url"] == f"/api/payments/{payment.pk}/"
    assert response.json()["detail_url"] == f"/payments/{payment.pk}/"
    assert (payment.payer_id, payment.payee_id) == (accounts["alice"], accounts["bob"])
    assert (payment.amount, payment.currency, payment.description) == (
        Decimal("12.50"),
        "EUR",
        "Dinner",
    )
    assert payment.created_by == user


@pytest.mark.parametrize(
    ("amount", "stored"),
    [("12.5", "12.50"), (7, "7.00"), (Decimal("12.5"), "12.50"), (Decimal("1E+2"), "100.00")],
)
def test_amounts_as_strings_or_json_numbers_are_exact(alice, accounts, amount, stored):
    # when: JSON numbers (12.5, 1E+2) are read as Decimals, never floats
    response = post(alice, request_body(accounts, amount=amount))

    # then
    assert response.status_code == 202
    assert response.json()["amount"] == stored


def test_the_same_key_and_body_again_is_the_same_payment(alice, accounts):
    # given
    first = post(alice, request_body(accounts))
    count = Payment.objects.count()

    # when: the client retries (a timeout, a double click)
    again = post(alice, request_body(accounts))

    # then
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Payment.objects.count() == count


def test_the_same_key_with_another_body_is_a_conflict(alice, accounts):
    # given
    first = post(alice, request_body(accounts))
    count = Payment.objects.count()

    # when
    response = post(alice, request_body(accounts, amount="13.00"))

    # then
    assert response.status_code == 409
    assert response.json() == {
        "error": f"The idempotency key 'order-1' was used for a different payment "
        f"(#{first.json()['id']}); use a new key for a new payment."
    }
    assert Payment.objects.count() == count


def test_another_key_is_another_payment(alice, accounts):
    first = post(alice, request_body(accounts), key="order-1")
    second = post(alice, request_body(accounts), key="order-2")

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] != second.json()["id"]


# -- refusals: the status, the reason, and nothing written -----------------------


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"amount": "0"}, 400, "The amount must be more than zero, got 0."),
        ({"amount": "0.00"}, 400, "The amount must be more than zero, got 0.00."),
        ({"amount": "-5"}, 400, "The amount must be more than zero, got -5."),
        ({"amount": -5}, 400, "The amount must be more than zero, got -5."),
        ({"amount": "1.001"}, 400, "The amount 1.001 has more than 2 decimals."),
        ({"amount": Decimal("1.001")}, 400, "The amount 1.001 has more than 2 decimals."),
        (
            {"amount": "1000000000000.00"},
            400,
            "The amount 1000000000000.00 is over the largest allowed, 999999999999.99.",
        ),
        ({"amount": "abc"}, 400, "'abc' is not an amount."),
        ({"amount": ""}, 400, "'' is not an amount."),
        ({"amount": "NaN"}, 400, "'NaN' is not an amount."),
        ({"amount": "Infinity"}, 400, "'Infinity' is not an amount."),
        ({"amount": True}, 400, "'amount' must be an amount such as \"12.50\", got true."),
        ({"amount": None}, 400, "'amount' must be an amount such as \"12.50\", got null."),
        (
            {"amount": ["12.50"]},
            400,
            '\'amount\' must be an amount such as "12.50", got ["12.50"].',
        ),
        ({"from": "<unknown>"}, 404, "No account #999999."),
        ({"from": 2**63}, 404, "No account #9223372036854775808."),
        ({"from": "<bob>"}, 403, "Account #{bob} is not yours: pay from your own accounts."),
        ({"from": "1"}, 400, "'from' must be an account number, got \"1\"."),
        ({"from": Decimal("1.5")}, 400, "'from' must be an account number, got 1.5."),
        ({"from": True}, 400, "'from' must be an account number, got true."),
        ({"to": "<unknown>"}, 404, "No account #999999."),
        ({"to": None}, 400, "'to' must be an account number, got null."),
        ({"to": "<alice>"}, 400, "The payer and the payee are the same account."),
        (
            {"to": "<usd>"},
            400,
            "Currency mismatch: the payment is in EUR, account #{usd} holds USD.",
        ),
        (
            {"currency": "USD"},
            400,
            "Currency mismatch: the payment is in USD, account #{alice} holds EUR.",
        ),
        ({"currency": "XYZ"}, 400, "Unknown currency 'XYZ': use EUR, USD, GBP, CHF."),
        ({"to": "<closed>"}, 400, "Account #{closed} is closed."),
        ({"to": "<external>"}, 403, "Deposits and payouts are made by staff."),
        ({"description": "x" * 201}, 400, "The description is longer than 200 characters."),
        ({"description": 5}, 400, "'description' must be a string, got 5."),
        (
            {"payer": 1},
            400,
            "Unknown field(s): payer; send from, to, amount, currency, description.",
        ),
    ],
)
def test_bad_requests_are_refused_and_write_nothing(alice, accounts, changes, status, error):
    # given
    count = Payment.objects.count()

    # when
    response = post(alice, request_body(accounts, **changes))

    # then
    assert response.status_code == status
    assert response.json() == {"error": error.format(**accounts)}
    assert Payment.objects.count() == count


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", "The body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("", "The body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ('{"from": 1, "to": 2, "amount": NaN}', "The body is not valid JSON: NaN is not a JSON"),
        ('{"amount": Infinity}', "The body is not valid JSON: Infinity is not a JSON value"),
        ('["12.50"]', "The body must be a JSON object."),
        ('"12.50"', "The body must be a JSON object."),
        ("{}", "Missing field(s): from, to, amount."),
        ('{"from": 1, "to": 2}', "Missing field(s): amount."),
    ],
)
def test_bodies_that_are_not_a_request_object_are_refused(alice, accounts, body, error):
    count = Payment.objects.count()

    response = post(alice, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
    assert Payment.objects.count() == count


def test_a_body_that_is_not_utf8_is_refused(alice, accounts):
    count = Payment.objects.count()

    response = post(alice, b'{"from": 1, "to": 2, "amount": "\xff"}')

    assert response.status_code == 400
    assert response.json()["error"].startswith("The body is not valid JSON")
    assert Payment.objects.count() == count


@pytest.mark.parametrize(
    ("key", "error"),
    [
        (None, "An idempotency key is required."),
        ("", "An idempotency key is required."),
        ("x" * 65, "The idempotency key must be 1 to 64 letters, digits, '.', '_', ':' or '-', "),
        ("has space", "The idempotency key must be 1 to 64 letters"),
        ("-leading-dash", "starting with a letter or digit."),
    ],
)
def test_a_missing_or_malformed_key_is_refused(alice, accounts, key, error):
    count = Payment.objects.count()

    response = post(alice, request_body(accounts), key=key)

    assert response.status_code == 400
    assert error in response.json()["error"]
    assert Payment.objects.count() == count


def test_a_key_of_64_characters_is_accepted(alice, accounts):
    assert post(alice, request_body(accounts), key="k" * 64).status_code == 202


# -- who may do what --------------------------------------------------------------


def test_the_api_needs_login(client, accounts):
    count = Payment.objects.count()

    created = post(client, request_body(accounts))
    detail = client.get(reverse("payments:api-detail", args=[1]))

    assert (created.status_code, created.json()) == (401, {"error": "Authentication required."})
    assert (detail.status_code, detail.json()) == (401, {"error": "Authentication required."})
    assert Payment.objects.count() == count


def test_the_api_takes_the_session_csrf_token_like_every_other_api(user, accounts):
    # given: a browser-like client, logged in, that sends no CSRF token
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    count = Payment.objects.count()

    # when
    response = post(client, request_body(accounts))

    # then
    assert response.status_code == 403
    assert response.json()["error"].startswith("CSRF check failed: ")
    assert Payment.objects.count() == count


def test_payer_and_payee_see_a_payment_others_get_404(
    client, user, other_user, django_user_model, accounts
):
    # given
    payment, _ = services.payment_create(
        payer_id=accounts["alice"], payee_id=accounts["bob"], amount="1.00", idempotency_key="k"
    )
    stranger = django_user_model.objects.create_user("mallory")
    url = reverse("payments:api-detail", args=[payment.pk])

    # when
    seen = {}
    for person in (user, other_user, stranger):
        client.force_login(person)
        response = client.get(url)
        seen[person.username] = (response.status_code, response.json())

    # then
    status = selectors.payment_status(payment)
    assert seen == {
        "alice": (200, status),
        "bob": (200, status),
        "mallory": (404, {"error": "Unknown payment."}),
    }


def test_an_unknown_payment_is_404(alice):
    response = alice.get(reverse("payments:api-detail", args=[UNKNOWN]))

    assert (response.status_code, response.json()) == (404, {"error": "Unknown payment."})
    assert "no-cache" in response.headers["Cache-Control"]


# -- through the real worker ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_payment_posted_to_the_api_completes_on_the_worker(
    client, user, alice_account, bob_account, celery_worker
):
    # given
    client.force_login(user)

    # when
    response = post(
        client, {"from": alice_account.pk, "to": bob_account.pk, "amount": "12.50"}, key="e2e-1"
    )
    status_url = response.json()["status_url"]

    # then
    assert response.status_code == 202

    def final_status() -> dict | None:
        body = client.get(status_url).json()
        return body if body["status"] != "pending" else None

    final = wait_for(final_status, what="the payment to be processed")
    assert (final["status"], final["failure_reason"]) == ("completed", "")
    assert final["processed_at"]
    assert Account.objects.get(pk=alice_account.pk).balance == Decimal("87.50")
    assert Account.objects.get(pk=bob_account.pk).balance == Decimal("12.50")
    assert services.ledger_check() == []


@pytest.mark.django_db(transaction=True)
def test_a_payment_made_while_the_broker_is_down_waits_for_the_sweep(
    client, user, alice_account, bob_account, broker_down, caplog
):
    # given
    client.force_login(user)

    # when: the row commits, the publish after it fails
    response = post(
        client, {"from": alice_account.pk, "to": bob_account.pk, "amount": "5.00"}, key="offline"
    )

    # then: the request is not lost, and nobody is told to pay again
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    payment = Payment.objects.get(idempotency_key="offline")
    assert payment.enqueued_at is not None  # what the sweep looks at
    assert f"process_payment[{payment.task_id}]" in caplog.text
    assert "saved, the sweep queues it when the broker is back" in caplog.text
    assert response.json()["queue"] == QUEUE_DOWN_MESSAGE
    assert (
        post(
            client,
            {"from": alice_account.pk, "to": bob_account.pk, "amount": "5.00"},
            key="offline",
        ).json()["id"]
        == payment.pk
    )
