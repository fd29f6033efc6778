"""Hypothesis: every argument given to ``pay``, ``open_account`` and every row given
to ``import_payments`` ends in success or a ``CommandError``, never another exception.

The strategies stay near what the commands read (digits, signs, dots,
exponents, other scripts' digits), plus any text at all; bounded and
derandomized, so each run is the same few seconds.
"""

import csv
import uuid

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from payments.models import Payment
from tests.helpers.properties import FEW as BOUNDED

pytestmark = pytest.mark.django_db

NEAR_NUMBERS = st.text(alphabet="0123456789.-+eE ٣²_x", min_size=1, max_size=30)
# argparse reads a leading "-" as an option: those are its errors, not ours.
ARGUMENT = st.one_of(NEAR_NUMBERS, st.text(min_size=1, max_size=40)).filter(
    lambda text: not text.startswith("-") and "\x00" not in text
)
CELL = st.one_of(NEAR_NUMBERS, st.text(max_size=30), st.sampled_from(["{a}", "{b}", "1.00"]))


def ends_well(*args) -> str:
    """Run a command: "ok" or "refused" (a CommandError); anything else fails the test."""
    try:
        call_command(*args)
    except CommandError as exc:
        refusal = str(exc)
    else:
        return "ok"
    assert refusal  # says why
    return "refused"


@BOUNDED
@given(
    payer=st.one_of(st.just("{a}"), ARGUMENT),
    payee=st.one_of(st.just("{b}"), ARGUMENT),
    amount=st.one_of(st.sampled_from(["1.00", "12.5", "7"]), ARGUMENT),
)
def test_pay_arguments(alice_account, bob_account, payer, payee, amount):
    ids = {"{a}": str(alice_account.pk), "{b}": str(bob_account.pk)}
    args = [ids.get(value, value) for value in (payer, payee, amount)]
    key = uuid.uuid4().hex

    result = ends_well("pay", "--from", args[0], "--to", args[1], "--amount", args[2], "--key", key)

    assert Payment.objects.filter(idempotency_key=key).exists() == (result == "ok")


@BOUNDED
@given(
    deposit=st.one_of(st.just("5.00"), ARGUMENT),
    currency=st.sampled_from(["EUR", "USD", "XYZ", "٣٣٣"]),
    name=ARGUMENT,
)
def test_open_account_arguments(user, deposit, currency, name):
    ends_well(
        "open_account",
        user.username,
        "--currency",
        currency,
        "--deposit",
        deposit,
        "--name",
        name[:100],
    )


@BOUNDED
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), min_size=1, max_size=4))
def test_import_payments_rows(tmp_path_factory, alice_account, bob_account, rows):
    ids = {"{a}": str(alice_account.pk), "{b}": str(bob_account.pk)}
    path = tmp_path_factory.mktemp("import") / "payments.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["from", "to", "amount"])
        writer.writerows([[ids.get(cell, cell) for cell in row] for row in rows])

    ends_well("import_payments", str(path))
