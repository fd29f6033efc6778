"""Command arguments: every input gives a value or a ``CommandError``, never a traceback.

The shared ``--timeout`` of the commands that ``--wait`` (positive, finite,
checked before anything is queued), and Hypothesis properties for the mysite
management commands' arguments.
"""

import argparse
import math
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_results.models import TaskResult
from hypothesis import given
from hypothesis import strategies as st

from images.models import ImageBatch
from mysite.commands import TIMEOUT_MAX, timeout_seconds, wait_with_progress
from mysite.models import ApiToken, UserTask
from notifications.models import Broadcast
from payments.models import Payment
from reports.models import Report
from tests.helpers.properties import FEW

pytestmark = pytest.mark.django_db

BAD_TIMEOUTS = ["-5", "0", "nan", "NaN", "inf", "-inf", "1e9", "٣", "²", "", " ", "1_0", "abc"]
BAD_TIMEOUTS += [str(TIMEOUT_MAX + 1), "9" * 400]
WAITING_COMMANDS = {  # each with arguments that would queue work, and what it would write
    "generate_report": (["--period", "daily", "--wait"], Report),
    "process_images": (["--all", "--wait"], ImageBatch),
    "pay": (["--from", "1", "--to", "2", "--amount", "1.00", "--wait"], Payment),
    "import_payments": (["/dev/null", "--wait"], Payment),
    "broadcast": (["hi", "--audience", "all", "--channel", "in_app"], Broadcast),
}
# Strings that broke commands before: NUL (PostgreSQL refuses it), past a
# column's length, digits of other scripts, control characters.
HOSTILE = st.sampled_from(["a\x00b", "\x00", "x" * 151, "y" * 300, "٣", "²", "bell\x07", " "])
# Anything a shell could pass: words, option-like words, numbers in any script.
WORDS = st.one_of(
    st.text(max_size=40),
    HOSTILE,
    st.sampled_from(["--live", "--dry-run", "--create-bucket", "--name", "--help-me", "-x", "--"]),
    st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{0,4})?", fullmatch=True),
)


@pytest.mark.parametrize("command", sorted(WAITING_COMMANDS))
@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
def test_a_bad_timeout_is_refused_before_anything_is_queued(command, timeout):
    arguments, model = WAITING_COMMANDS[command]

    with pytest.raises(CommandError, match=r"--timeout: .* is not a number of seconds above 0"):
        call_command(command, *arguments, f"--timeout={timeout}", stdout=StringIO())

    assert not model.objects.exists()
    assert not UserTask.objects.exists()
    assert not TaskResult.objects.exists()


@pytest.mark.parametrize(
    ("raw", "seconds"), [("5", 5.0), ("0.5", 0.5), (".25", 0.25), (600, 600.0)]
)
def test_a_good_timeout_is_its_seconds(raw, seconds):
    assert timeout_seconds(raw) == seconds


@pytest.mark.parametrize("timeout", [-5, 0, math.nan, math.inf, 10**400, True, None])
def test_a_bad_timeout_given_as_a_keyword_is_refused_too(timeout):
    # call_command(timeout=...) skips argparse: waiting checks it as well
    with pytest.raises(CommandError, match="--timeout: "):
        wait_with_progress(StringIO(), lambda: (None, True), timeout=timeout, what="report")


@FEW
@given(raw=st.one_of(st.text(max_size=30), WORDS, st.floats(), st.integers()))
def test_timeout_parsing_gives_seconds_or_a_clear_refusal(raw):
    try:
        value = timeout_seconds(raw)
    except argparse.ArgumentTypeError:
        return  # argparse makes it a CommandError, with the message
    assert 0 < value <= TIMEOUT_MAX
    assert math.isfinite(value)


def run(command: str, *arguments, **options) -> str | None:
    """The command's output, or None if it refused with a ``CommandError``: nothing else."""
    out = StringIO()
    try:
        call_command(command, *arguments, stdout=out, stderr=StringIO(), **options)
    except CommandError:
        return None
    return out.getvalue()


@FEW
@given(arguments=st.lists(WORDS, max_size=4))
def test_prune_results_arguments(db, arguments):
    run("prune_results", "--dry-run", *arguments)


@FEW
@given(days=st.one_of(WORDS, st.integers(), st.just("٣")))
def test_prune_results_days(db, days):
    out = run("prune_results", "--dry-run", "--older-than-days", str(days))
    text = str(days)
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 36500:
        assert out is not None
    else:
        assert out is None


@FEW
@given(arguments=st.lists(WORDS, max_size=3))
def test_setup_schedules_arguments(db, arguments):
    out = run("setup_schedules", *arguments)
    assert (out is None) == bool(arguments)  # it takes none


@FEW
@given(arguments=st.lists(WORDS, max_size=3))
def test_beat_status_arguments(db, settings, tmp_path, arguments):
    settings.BEAT_HEARTBEAT_FILE = tmp_path / "none.heartbeat"
    assert run("beat_status", *arguments) is None  # no beat runs here, or a bad argument


@FEW
@given(arguments=st.lists(WORDS, max_size=3))
def test_storage_check_arguments(media, arguments):
    out = run("storage_check", *arguments)
    if set(arguments) <= {"--create-bucket"}:
        assert out.startswith("Media storage works")


@FEW
@given(username=st.one_of(st.text(max_size=200), HOSTILE), password=st.text(max_size=40))
def test_demo_user_arguments(db, settings, username, password):
    settings.DEBUG = True
    out = run("demo_user", "--username", username, "--password", password)
    if out is not None:
        assert out == f"Demo login: {username} / {password}\n"


@FEW
@given(
    username=st.one_of(st.text(max_size=200), HOSTILE, st.just("alice")),
    name=st.one_of(st.text(max_size=150), HOSTILE),
)
def test_create_api_token_arguments(user, username, name):
    before = ApiToken.objects.count()
    out = run("create_api_token", username, "--name", name)
    assert (out is not None) == (ApiToken.objects.count() == before + 1)
    if out is not None:
        assert out.startswith("mysite_")
