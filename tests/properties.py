"""Helpers of the Hypothesis property tests (tests/*/test_properties.py).

Every run is bounded and the same: a fixed number of examples, derandomized,
no example database written.
"""

from hypothesis import event, settings
from hypothesis import strategies as st

BOUNDED = settings(max_examples=150, deadline=None, derandomize=True, database=None)
FEW = settings(max_examples=60, deadline=None, derandomize=True, database=None)  # commands


def refusal(call, error: type[Exception]) -> str | None:
    """The message of the ``error`` ``call()`` raises, or None if it returns.
    Any other exception fails the test."""
    try:
        call()
    except error as exc:
        event("refused")
        return str(exc)
    event("accepted")
    return None


def option(name: str, values) -> st.SearchStrategy[list[str]]:
    """``[]`` or ``["--name=value"]`` (``=``: a value is never read as an option)."""
    return st.one_of(st.just([]), values.map(lambda value: [f"--{name}={value}"]))
