"""The payments app's two parsers, amounts and account numbers: every input is
a value in range or ``PaymentRejected``, never another exception (issue 14)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mysite.models import ID_MAX
from payments import services
from payments.services import MAX_AMOUNT, PaymentRejected
from tests.helpers.properties import BOUNDED

# Text near the grammar (digits, dots, signs, exponents, other scripts' digits),
# and anything at all.
NEAR_AMOUNTS = st.text(alphabet="0123456789.-+eE ٣²³ \t_,xX", max_size=45)
ANY_VALUE = st.one_of(
    NEAR_AMOUNTS,
    st.text(max_size=60),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.decimals(),
    st.floats(),
    st.booleans(),
    st.none(),
)
AMOUNTS = st.decimals(min_value=Decimal("0.01"), max_value=MAX_AMOUNT, places=2)


def outcome(parse, value):
    """What ``parse(value)`` gives: its value, or its refusal (any other exception fails)."""
    try:
        return parse(value)
    except PaymentRejected as exc:
        return exc


def test_an_amount_is_exact_decimal():
    assert services.amount_parse("12.5") == Decimal("12.50")
    assert services.amount_parse(" 7 ") == Decimal("7.00")
    assert services.amount_parse(7) == Decimal("7.00")
    assert services.amount_parse(Decimal("1E+2")) == Decimal("100.00")
    assert services.amount_parse("1.100") == Decimal("1.10")
    assert services.amount_parse("999999999999.99") == MAX_AMOUNT


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e26", "'1e26' is not an amount."),
        ("1E+30", "'1E+30' is not an amount."),
        ("1e400", "'1e400' is not an amount."),
        (10**40, f"The amount {10**40} is over the largest allowed, {MAX_AMOUNT}."),
        (10**80, f"The amount is over the largest allowed, {MAX_AMOUNT}."),
        ("\u0663", "'\u0663' is not an amount."),
        ("x" * 100, f"'{'x' * 58}… is not an amount."),
        (12.5, "Give the amount as a string or an integer, not 12.5."),
    ],
)
def test_what_is_not_an_amount_says_so(value, message):
    with pytest.raises(PaymentRejected) as error:
        services.amount_parse(value)

    assert str(error.value) == message


@BOUNDED
@given(ANY_VALUE)
def test_every_value_is_an_amount_in_range_or_refused(value):
    amount = outcome(services.amount_parse, value)
    if isinstance(amount, PaymentRejected):
        assert str(amount)
    else:
        assert isinstance(amount, Decimal)
        assert amount.as_tuple().exponent == -2
        assert Decimal("0.01") <= amount <= MAX_AMOUNT


@BOUNDED
@given(AMOUNTS)
def test_valid_amounts_round_trip(amount):
    assert services.amount_parse(str(amount)) == amount
    assert services.amount_parse(format(amount, "f")) == amount
    assert str(services.amount_parse(format(amount, "f"))) == format(
        amount.quantize(Decimal("0.01")), "f"
    )


@pytest.mark.parametrize(
    "value", ["\u00b2", "\u0663", "1.0", "-1", "0", 0, 2**63, "1e3", True, 2.0]
)
def test_what_is_not_an_account_number_says_so(value):
    with pytest.raises(PaymentRejected, match="The payer must be an account number, got "):
        services.account_number(value, role="payer")


@BOUNDED
@given(
    st.one_of(
        st.text(alphabet="0123456789-+ ²³٣.e", max_size=25),
        st.text(max_size=30),
        st.integers(),
        st.floats(),
        st.none(),
    )
)
def test_every_value_is_an_account_number_in_range_or_refused(value):
    number = outcome(services.account_number, value)
    if isinstance(number, PaymentRejected):
        assert str(number).startswith("The account must be an account number, got ")
    else:
        assert type(number) is int
        assert 1 <= number <= ID_MAX


@BOUNDED
@given(st.integers(min_value=1, max_value=ID_MAX))
def test_account_numbers_round_trip(number):
    assert services.account_number(str(number)) == number
    assert services.account_number(number) == number


KEY_ALPHABET = "abcXYZ019._:-/ \x00é٣"


@BOUNDED
@given(st.one_of(st.text(alphabet=KEY_ALPHABET, max_size=80), st.text(max_size=80), st.none()))
def test_every_value_is_an_idempotency_key_or_refused(value):
    key = outcome(services.key_check, value)

    if isinstance(key, str):
        assert key == value
        assert 1 <= len(key) <= 64
        assert key.isascii()
        assert key[0].isalnum()
    else:
        assert isinstance(key, PaymentRejected)
        assert "idempotency key" in str(key)
