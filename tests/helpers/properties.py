"""Helpers of the Hypothesis property tests (tests/*/test_properties.py).

Every run is bounded and the same: a fixed number of examples, derandomized,
no example database written.
"""

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

# Parsers: cheap, so many examples. Commands: a few seconds each; they share a
# test's database, so function-scoped fixtures are fine (nothing to reset).
BOUNDED = settings(max_examples=300, deadline=None, derandomize=True, database=None)
FEW = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


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
