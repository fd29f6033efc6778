import argparse
import io

import pytest
from django.core.management.base import CommandError, OutputWrapper
from hypothesis import given
from hypothesis import strategies as st

from mysite.commands import object_id, wait_with_progress
from tests.helpers.properties import BOUNDED


def test_prints_each_new_line_once_and_returns_the_last():
    answers = iter([("1 of 3", False), ("1 of 3", False), ("3 of 3", True)])
    # (a command's self.stdout is an OutputWrapper: it ends each line)
    out = io.StringIO()

    last = wait_with_progress(OutputWrapper(out), lambda: next(answers), timeout=60, what="batch")

    assert last == "3 of 3"
    assert out.getvalue() == "1 of 3\n3 of 3\n"


def test_gives_up_after_the_timeout_saying_the_work_goes_on():
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"Still running after 0 s; the report goes on\."):
        wait_with_progress(
            OutputWrapper(out), lambda: ("0 of 1", False), timeout=0.01, what="report"
        )

    assert out.getvalue() == "0 of 1\n"


@pytest.mark.parametrize(
    "value",
    [
        "",
        " 1",
        "1 ",
        "+1",
        "0",
        "-3",
        "1.0",
        "1e3",
        "\u00b2",
        "\u0663",
        str(2**63),
        str(10**30),
        "0x10",
        "1_000",
    ],
)
def test_object_id_refuses_what_is_not_an_ascii_id_in_range(value):
    with pytest.raises(argparse.ArgumentTypeError, match="not an id"):
        object_id(value)


def test_object_id_takes_ascii_digits_up_to_the_bigint():
    assert object_id("7") == 7
    assert object_id("007") == 7
    assert object_id(str(2**63 - 1)) == 2**63 - 1


@given(st.text(max_size=30))
@BOUNDED
def test_object_id_gives_an_id_or_an_argument_error(value):
    try:
        parsed = object_id(value)
    except argparse.ArgumentTypeError:
        assert not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 2**63 - 1
    else:
        assert 1 <= parsed <= 2**63 - 1
        assert str(parsed) == value.lstrip("0")
