"""The payments API, ``/api/v1/accounts/`` and ``/api/v1/payments/``, used as a
program would, with a token: every refusal says why and writes nothing; a key
makes a request safe to repeat; lists are pages; others' things are 404; the
real worker takes a payment to completed."""

import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from mysite import tokens
from mysite.enqueue import QUEUE_DOWN_MESSAGE
from payments import services
from payments.models import Account, LedgerEntry, Payment
from tests.helpers.payments import open_funded
from tests.helpers.services import wait_for

pytestmark = pytest.mark.django_db

UNKNOWN = 999_999
CREATE = "/api/v1/payments/"


def as_json(body) -> str:
    """JSON text in which a Decimal is a JSON number written as it is (12.5, 1E+2)."""
    return re.sub(r'"decimal:([^"]+)"', r"\1", json.dumps(body, default=lambda d: f"decimal:{d}"))


class Program:
    """A client that sends ``Authorization: Bearer <token>`` on every request."""

    def __init__(self, user):
        _, self.token = tokens.token_create(user=user, name="test program")
        self.client = Client(enforce_csrf_checks=True)  # a token needs no CSRF

    def headers(self, extra: dict | None = None) -> dict:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, url: str, **params):
        return self.client.get(url, params, headers=self.headers())

    def post(self, url: str, body, *, key: str | None = None):
        return self.client.post(
            url,
            data=body if isinstance(body, str | bytes) else as_json(body),
            content_type="application/json",
            headers=self.headers({} if key is None else {"Idempotency-Key": key}),
        )


def post(program: Program, body, *, key: str | None = "order-1"):
    """POST ``body`` (sent as JSON, or raw text or bytes) to the create endpoint."""
    return program.post(CREATE, body, key=key)


def error(response) -> dict:
    return response.json()["error"]


@pytest.fixture
def alice(user) -> Program:
    return Program(user)


@pytest.fixture
def bob(other_user) -> Program:
    return Program(other_user)


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


def moved() -> tuple[int, int]:
    """How many payments exist and how many ledger lines: what a refusal must not change."""
    return Payment.objects.count(), LedgerEntry.objects.count()


# -- a new payment, and the same one again ---------------------------------------


def test_a_new_payment_is_accepted_with_202_and_a_status_url(alice, user, accounts):
    # when
    response = post(alice, request_body(accounts, description="Dinner"))

    # then
    assert response.status_code == 202
    payment = Payment.objects.get(idempotency_key="order-1")
    body = response.json()
    assert body == {
        "id": payment.pk,
        "status": "pending",
        "failure_reason": "",
        "payer": accounts["alice"],
        "payee": accounts["bob"],
        "amount": "12.50",
        "currency": "EUR",
        "description": "Dinner",
        "refund_of": None,
        "idempotency_key": "order-1",
        "task_id": payment.task_id,
        "created_at": body["created_at"],
        "processed_at": None,
        "status_url": f"/api/v1/payments/{payment.pk}",
        "detail_url": f"/payments/{payment.pk}/",
        "queue": None,
    }
    assert (payment.amount, payment.currency, payment.description) == (
        Decimal("12.50"),
        "EUR",
        "Dinner",
    )
    assert payment.created_by == user
    assert alice.get(body["status_url"]).json() == body


@pytest.mark.parametrize(
    ("amount", "stored"),
    [("12.5", "12.50"), (" 12.5 ", "12.50"), (7, "7.00"), ("999999999999.99", "999999999999.99")],
)
def test_amounts_as_strings_or_json_integers_are_exact(alice, accounts, amount, stored):
    response = post(alice, request_body(accounts, amount=amount))

    assert response.status_code == 202
    assert response.json()["amount"] == stored


def test_the_same_key_and_body_again_is_the_same_payment(alice, accounts):
    # given
    first = post(alice, request_body(accounts))
    before = moved()

    # when: the client retries (a timeout, a double click)
    again = post(alice, request_body(accounts))

    # then
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert moved() == before


def test_the_same_key_with_another_body_is_a_conflict(alice, accounts):
    # given
    first = post(alice, request_body(accounts))
    before = moved()

    # when
    response = post(alice, request_body(accounts, amount="13.00"))

    # then
    assert response.status_code == 409
    assert error(response) == {
        "code": "key_conflict",
        "message": f"The idempotency key 'order-1' was used for a different payment "
        f"(#{first.json()['id']}); use a new key for a new payment.",
        "fields": {},
    }
    assert moved() == before


def test_another_key_is_another_payment(alice, accounts):
    first = post(alice, request_body(accounts), key="order-1")
    second = post(alice, request_body(accounts), key="order-2")

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] != second.json()["id"]


# -- refusals: the status, the reason, and nothing written -----------------------


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"amount": "0"}, 400, "The amount must be more than zero, got 0."),
        ({"amount": "0.00"}, 400, "The amount must be more than zero, got 0.00."),
        ({"amount": "-5"}, 400, "The amount must be more than zero, got -5."),
        ({"amount": -5}, 400, "The amount must be more than zero, got -5."),
        ({"amount": "1.001"}, 400, "The amount 1.001 has more than 2 decimals."),
        (
            {"amount": "1000000000000.00"},
            400,
            "The amount 1000000000000.00 is over the largest allowed, 999999999999.99.",
        ),
        ({"amount": "abc"}, 400, "'abc' is not an amount."),
        ({"amount": ""}, 400, "'' is not an amount."),
        ({"amount": "NaN"}, 400, "'NaN' is not an amount."),
        ({"amount": "Infinity"}, 400, "'Infinity' is not an amount."),
        # Found by fuzzing (issue 14): each was a 500, or taken as 3.00.
        ({"amount": "1e26"}, 400, "'1e26' is not an amount."),
        ({"amount": "1E+30"}, 400, "'1E+30' is not an amount."),
        ({"amount": "1e400"}, 400, "'1e400' is not an amount."),
        (
            {"amount": 10**40},
            400,
            f"The amount {10**40} is over the largest allowed, 999999999999.99.",
        ),
        ({"amount": "\u0663"}, 400, "'\u0663' is not an amount."),
        ({"from": "<unknown>"}, 404, "No account #999999."),
        ({"from": 2**63}, 400, "The payer must be an account number, got 9223372036854775808."),
        ({"from": 0}, 400, "The payer must be an account number, got 0."),
        ({"from": "<bob>"}, 403, "Account #{bob} is not yours: pay from your own accounts."),
        ({"to": "<unknown>"}, 404, "No account #999999."),
        ({"to": -1}, 400, "The payee must be an account number, got -1."),
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
    ],
)
def test_bad_requests_are_refused_and_write_nothing(alice, accounts, changes, status, message):
    # given
    before = moved()

    # when
    response = post(alice, request_body(accounts, **changes))

    # then
    assert response.status_code == status
    assert error(response)["message"] == message.format(**accounts)
    assert moved() == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        # The body's shape, checked by its schema: the field that is wrong is named.
        ({"amount": 12.5}, "amount"),  # a float has lost its cents: send "12.50"
        ({"amount": 1e400}, "amount"),  # JSON 1e400 is read as infinity
        ({"amount": True}, "amount"),
        ({"amount": None}, "amount"),
        ({"amount": ["12.50"]}, "amount"),
        ({"from": "1"}, "from"),
        ({"from": "\u00b2"}, "from"),  # a superscript two
        ({"from": Decimal("1.5")}, "from"),
        ({"from": True}, "from"),
        ({"to": None}, "to"),
        ({"description": "x" * 201}, "description"),
        ({"description": 5}, "description"),
        ({"currency": "EURO"}, "currency"),
        ({"payer": 1}, "payer"),  # unknown fields are refused, not ignored
    ],
)
def test_bodies_of_the_wrong_shape_name_the_field(alice, accounts, changes, field):
    before = moved()

    response = post(alice, request_body(accounts, **changes))

    assert response.status_code == 400
    assert error(response)["code"] == "invalid"
    assert list(error(response)["fields"]) == [field]
    assert moved() == before


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "",
        '{"from": 1, "to": 2, "amount": NaN}',
        '{"amount": Infinity}',
        '["12.50"]',
        '"12.50"',
        "{}",
        '{"from": 1, "to": 2}',
        '{"from": 1, "to": 2, "amount": ' + "9" * 5000 + "}",  # past Python's int limit
        b'{"from": 1, "to": 2, "amount": "\xff"}',  # not UTF-8
    ],
)
def test_bodies_that_are_not_a_request_object_are_refused(alice, accounts, body):
    before = moved()

    response = post(alice, body)

    assert response.status_code == 400
    assert error(response)["code"] == "invalid"
    assert error(response)["message"]
    assert moved() == before


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "An idempotency key is required."),
        ("", "An idempotency key is required."),
        ("x" * 65, "The idempotency key must be 1 to 64 letters, digits, '.', '_', ':' or '-', "),
        ("has space", "The idempotency key must be 1 to 64 letters"),
        ("-leading-dash", "starting with a letter or digit."),
    ],
)
def test_a_missing_or_malformed_key_is_refused(alice, accounts, key, message):
    before = moved()

    response = post(alice, request_body(accounts), key=key)

    assert response.status_code == 400
    assert message in error(response)["message"]
    assert moved() == before


def test_a_key_of_64_characters_is_accepted(alice, accounts):
    assert post(alice, request_body(accounts), key="k" * 64).status_code == 202


# -- who may do what --------------------------------------------------------------


def test_the_api_needs_a_token_or_a_session(client, accounts):
    before = moved()

    created = client.post(
        CREATE,
        as_json(request_body(accounts)),
        "application/json",
        headers={"Idempotency-Key": "k"},
    )
    detail = client.get(reverse("api-v1:payment-get", args=[1]))
    listed = client.get(reverse("api-v1:account-list"))

    assert [r.status_code for r in (created, detail, listed)] == [401, 401, 401]
    assert error(created)["code"] == "unauthenticated"
    assert moved() == before


def test_a_revoked_token_is_refused(user, alice, accounts):
    tokens.token_revoke(token=user.api_tokens.get())

    read = alice.get(reverse("api-v1:account-list"))
    pay = post(alice, request_body(accounts))

    assert read.status_code == 401
    assert pay.status_code == 401  # no session either: not a CSRF 403
    assert pay.json()["error"]["code"] == "unauthenticated"
    assert Payment.objects.filter(idempotency_key="order-1").count() == 0


def test_a_session_needs_the_csrf_token_to_pay(user, accounts):
    # given: a browser-like client, logged in, that sends no CSRF token
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    before = moved()

    # when
    response = client.post(
        CREATE,
        as_json(request_body(accounts)),
        "application/json",
        headers={"Idempotency-Key": "k"},
    )

    # then
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert moved() == before


def test_a_session_with_the_csrf_token_pays(user, accounts):
    # given: our pages' way: the session, and the CSRF cookie's token in X-CSRFToken
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("payments:new"))  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value

    # when
    response = client.post(
        CREATE,
        as_json(request_body(accounts)),
        "application/json",
        headers={"Idempotency-Key": "k", "X-CSRFToken": csrf},
    )

    # then
    assert response.status_code == 202


def test_payer_and_payee_see_a_payment_others_get_404(
    user, other_user, django_user_model, accounts
):
    # given
    payment, _ = services.payment_create(
        payer_id=accounts["alice"], payee_id=accounts["bob"], amount="1.00", idempotency_key="k"
    )
    stranger = django_user_model.objects.create_user("mallory")
    url = reverse("api-v1:payment-get", args=[payment.pk])

    # when
    seen = {}
    for person in (user, other_user, stranger):
        response = Program(person).get(url)
        seen[person.username] = (response.status_code, response.json().get("id"))

    # then
    assert seen == {
        "alice": (200, payment.pk),
        "bob": (200, payment.pk),
        "mallory": (404, None),
    }
    assert [p["id"] for p in Program(stranger).get(CREATE).json()["items"]] == []


@pytest.mark.parametrize("payment_id", [str(UNKNOWN), "0", "-1", "9" * 30])
def test_an_unknown_payment_id_is_404_json(alice, payment_id):
    response = alice.get(f"/api/v1/payments/{payment_id}")

    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


@pytest.mark.parametrize("payment_id", ["abc", "\u00b2", "\u0663", "1.5"])
def test_a_payment_id_that_is_not_ascii_digits_is_400(alice, payment_id):
    response = alice.get(f"/api/v1/payments/{payment_id}")
    refund = alice.post(f"/api/v1/payments/{payment_id}/refund", {}, key="r")

    assert (response.status_code, list(error(response)["fields"])) == (400, ["payment_id"])
    assert refund.status_code == 400


def test_a_payment_answer_is_never_cached(alice, accounts):
    payment_id = post(alice, request_body(accounts)).json()["id"]

    response = alice.get(reverse("api-v1:payment-get", args=[payment_id]))

    assert "no-cache" in response.headers["Cache-Control"]


# -- accounts -----------------------------------------------------------------------


def test_my_accounts_with_their_balances_and_no_one_elses(alice, bob, user, accounts):
    # given
    savings = open_funded(user, name="Savings", deposit="0.50")

    # when
    mine = alice.get(reverse("api-v1:account-list"))
    one = alice.get(reverse("api-v1:account-get", args=[accounts["alice"]]))
    others = alice.get(reverse("api-v1:account-get", args=[accounts["bob"]]))

    # then
    assert mine.status_code == 200
    assert [(a["id"], a["name"], a["balance"], a["currency"]) for a in mine.json()["items"]] == [
        (accounts["alice"], "Alice main", "100.00", "EUR"),
        (savings.pk, "Savings", "0.50", "EUR"),
    ]
    assert mine.json()["count"] == 2
    assert one.json() == mine.json()["items"][0]
    assert one.json()["closed"] is False
    assert (others.status_code, error(others)["code"]) == (404, "not_found")
    assert [a["id"] for a in bob.get(reverse("api-v1:account-list")).json()["items"]] == [
        accounts["bob"],
        accounts["usd"],
        accounts["closed"],
    ]
    assert (
        bob.get(reverse("api-v1:account-get", args=[accounts["closed"]])).json()["closed"] is True
    )


# -- pages ----------------------------------------------------------------------------


def test_my_payments_come_in_pages_newest_first_to_the_end(alice, bob, accounts):
    # given: Alice's opening deposit, and five payments from Alice to Bob
    deposit = Payment.objects.get(payee=accounts["alice"]).pk
    made = [
        post(alice, request_body(accounts, amount=f"{n}.00"), key=f"page-{n}").json()["id"]
        for n in range(1, 6)
    ]

    # when: following the next links, two at a time
    seen, pages = [], 0
    url = reverse("api-v1:payment-list") + "?limit=2"
    while url:
        page = alice.client.get(url, headers=alice.headers()).json()
        assert page["count"] == 6
        seen += [payment["id"] for payment in page["items"]]
        url, pages = page["next"], pages + 1

    # then: every one, once, newest first; Bob, the payee, sees them too
    assert (seen, pages) == ([*made[::-1], deposit], 3)
    assert [p["id"] for p in bob.get(CREATE, limit=200).json()["items"]] == made[::-1]


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "201"}, {"offset": "-1"}, {"limit": "x"}]
)
def test_a_bad_page_is_400(alice, query):
    response = alice.get(reverse("api-v1:payment-list"), **query)

    assert response.status_code == 400
    assert error(response)["code"] == "invalid"


# -- refunds --------------------------------------------------------------------------


@pytest.fixture
def paid(accounts) -> Payment:
    """12.50 from Alice to Bob, processed."""
    payment, _ = services.payment_create(
        payer_id=accounts["alice"], payee_id=accounts["bob"], amount="12.50", idempotency_key="p"
    )
    return services.payment_process(payment_id=payment.pk)


def refund_url(payment: Payment) -> str:
    return reverse("api-v1:payment-refund", args=[payment.pk])


def test_the_payee_refunds_part_then_the_rest(bob, paid, accounts):
    # when
    part = bob.post(refund_url(paid), {"amount": "2.50"}, key="r-1")
    again = bob.post(refund_url(paid), {"amount": "2.50"}, key="r-1")
    rest = bob.post(refund_url(paid), {}, key="r-2")

    # then
    assert (part.status_code, again.status_code, rest.status_code) == (202, 200, 202)
    assert again.json() == part.json()
    assert (part.json()["amount"], rest.json()["amount"]) == ("2.50", "10.00")
    assert part.json()["refund_of"] == paid.pk
    assert (part.json()["payer"], part.json()["payee"]) == (accounts["bob"], accounts["alice"])


def test_refunds_that_make_no_sense_are_refused(alice, bob, paid, django_user_model):
    before = moved()
    stranger = Program(django_user_model.objects.create_user("mallory"))

    too_much = bob.post(refund_url(paid), {"amount": "12.51"}, key="r-1")
    bad = bob.post(refund_url(paid), {"amount": "1e26"}, key="r-2")
    float_amount = bob.post(refund_url(paid), {"amount": 1.5}, key="r-3")
    no_key = bob.post(refund_url(paid), {})
    payer = alice.post(refund_url(paid), {}, key="r-4")
    other = stranger.post(refund_url(paid), {}, key="r-5")
    unknown = bob.post(f"/api/v1/payments/{UNKNOWN}/refund", {}, key="r-6")

    assert (too_much.status_code, error(too_much)["message"]) == (
        400,
        f"At most 12.50 EUR of payment #{paid.pk} can be refunded.",
    )
    assert (bad.status_code, error(bad)["message"]) == (400, "'1e26' is not an amount.")
    assert (float_amount.status_code, list(error(float_amount)["fields"])) == (400, ["amount"])
    assert (no_key.status_code, error(no_key)["message"]) == (
        400,
        "An idempotency key is required.",
    )
    assert (payer.status_code, error(payer)["message"]) == (
        403,
        f"Payment #{paid.pk} was not paid to you.",
    )
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert moved() == before


def test_a_refund_key_used_for_another_amount_is_a_conflict(bob, paid):
    bob.post(refund_url(paid), {"amount": "2.50"}, key="r-1")

    response = bob.post(refund_url(paid), {"amount": "3.00"}, key="r-1")

    assert (response.status_code, error(response)["code"]) == (409, "key_conflict")


# -- through the real worker ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_payment_posted_with_a_token_completes_on_the_worker(
    user, alice_account, bob_account, celery_worker
):
    # given
    program = Program(user)
    body = {"from": alice_account.pk, "to": bob_account.pk, "amount": "12.50"}

    # when
    response = post(program, body, key="e2e-1")
    status_url = response.json()["status_url"]

    # then
    assert response.status_code == 202

    def final_status() -> dict | None:
        answer = program.get(status_url).json()
        return answer if answer["status"] != "pending" else None

    final = wait_for(final_status, what="the payment to be processed")
    assert (final["status"], final["failure_reason"]) == ("completed", "")
    assert final["processed_at"]
    assert Account.objects.get(pk=alice_account.pk).balance == Decimal("87.50")
    assert Account.objects.get(pk=bob_account.pk).balance == Decimal("12.50")
    assert services.ledger_check() == []

    # when: the program retries after the payment completed
    replay = post(program, body, key="e2e-1")

    # then: the same payment, completed; nothing more moved
    assert (replay.status_code, replay.json()["id"]) == (200, final["id"])
    assert replay.json()["status"] == "completed"
    assert Account.objects.get(pk=alice_account.pk).balance == Decimal("87.50")
    accounts = program.get(reverse("api-v1:account-list")).json()["items"]
    assert [a["balance"] for a in accounts] == ["87.50"]


@pytest.mark.django_db(transaction=True)
def test_a_payment_made_while_the_broker_is_down_waits_for_the_sweep(
    user, alice_account, bob_account, broker_down, caplog
):
    # given
    program = Program(user)
    body = {"from": alice_account.pk, "to": bob_account.pk, "amount": "5.00"}

    # when: the row commits, the publish after it fails
    response = post(program, body, key="offline")

    # then: the request is not lost, and nobody is told to pay again
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    payment = Payment.objects.get(idempotency_key="offline")
    assert payment.enqueued_at is not None  # what the sweep looks at
    assert f"process_payment[{payment.task_id}]" in caplog.text
    assert "saved, the sweep queues it when the broker is back" in caplog.text
    assert response.json()["queue"] == QUEUE_DOWN_MESSAGE
    assert post(program, body, key="offline").json()["id"] == payment.pk
