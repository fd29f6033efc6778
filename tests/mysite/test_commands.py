import io

import pytest
from django.core.management.base import CommandError, OutputWrapper

from mysite.commands import wait_with_progress


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
