"""Properties: any input to the notification parsers and commands is a value or a clear error.

Bounded (a fixed number of examples, derandomized). Nothing is published: the
tests' transaction never commits, so no task is queued.
"""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from mysite.priorities import Priority
from notifications import services
from notifications.models import Broadcast, ContactPoint, Notification
from tests.helpers.properties import BOUNDED, FEW, option, refusal

CHANNELS = st.sampled_from(["email", "sms", "push", "in_app"])
PRIORITIES = st.sampled_from(["low", "normal", "high", "urgent", "0", "3", "6", "9"])
ODD_TEXT = st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "²", "\u0663", "x" * 201])


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=max_size), ODD_TEXT)


def mostly(valid, other) -> st.SearchStrategy:
    """``valid`` three times in four, so some examples get through every check."""
    return st.integers(0, 3).flatmap(lambda pick: valid if pick else other)


@BOUNDED
@given(st.one_of(PRIORITIES, text(12), st.integers(), st.integers(-(10**40), 10**40)))
def test_priority_parse_gives_a_priority_or_says_why(value):
    message = refusal(lambda: services.priority_parse(value), services.NotificationRejected)
    if message is None:
        assert services.priority_parse(value) in set(Priority)
    else:
        assert message.startswith("Unknown priority")


@BOUNDED
@given(text(300), st.none() | st.integers(0, 250))
def test_text_check_lets_through_only_what_the_database_takes(value, max_length):
    message = refusal(
        lambda: services.text_check("field", value, max_length=max_length),
        services.NotificationRejected,
    )
    if message is None:
        assert "\x00" not in value
        assert max_length is None or len(value) <= max_length
        value.encode()
    else:
        assert message.startswith("The field ")


def people() -> None:
    """alice (reachable everywhere), bob (email only), carol (staff, email and phone)."""
    users = get_user_model().objects
    for name, staff, phone in [
        ("alice", False, "+4915112345678"),
        ("bob", False, ""),
        ("carol", True, "+4915112345679"),
    ]:
        user, _ = users.get_or_create(
            username=name, defaults={"email": f"{name}@example.com", "is_staff": staff}
        )
        ContactPoint.objects.get_or_create(
            user=user, defaults={"phone": phone, "push_tokens": ["device"] if phone else []}
        )


@pytest.mark.django_db
@FEW
@given(
    mostly(st.sampled_from(["alice", "bob", "ghost"]), text(160)),
    mostly(CHANNELS, text(10)),
    option("subject", text(210)),
    mostly(st.sampled_from(["Hi", "x" * 481]), text(40)),
    option("priority", st.one_of(PRIORITIES, text(10))),
    option("dedupe-key", text(220)),
)
def test_send_notification_arguments_queue_one_or_a_command_error(
    username, channel, subject, body, priority, dedupe_key
):
    people()
    before = Notification.objects.count()
    args = [f"--user={username}", f"--channel={channel}", f"--body={body}"]

    def command():
        call_command(
            "send_notification", *args, *subject, *priority, *dedupe_key, stdout=io.StringIO()
        )

    if refusal(command, CommandError) is None:
        assert Notification.objects.count() - before in {0, 1}  # 0: the dedupe key again
    else:
        assert Notification.objects.count() == before


@pytest.mark.django_db
@FEW
@given(
    mostly(st.sampled_from(["all", "staff", "list"]), text(8)),
    st.lists(mostly(st.sampled_from(["alice", "bob", "carol", "ghost"]), text(160)), max_size=3),
    mostly(CHANNELS, text(10)),
    option("subject", text(210)),
    option("priority", mostly(PRIORITIES, text(10))),
    mostly(st.just("Deploy at 5"), text(40)),
)
def test_broadcast_arguments_queue_one_or_a_command_error(
    audience, usernames, channel, subject, priority, body
):
    people()
    before = Broadcast.objects.count()
    args = [f"--audience={audience}", f"--channel={channel}", *subject, *priority]
    args += [f"--user={name}" for name in usernames]

    def command():
        call_command("broadcast", *args, "--no-wait", "--", body, stdout=io.StringIO())

    if refusal(command, CommandError) is None:
        broadcast = Broadcast.objects.latest("pk")
        assert 1 <= broadcast.total <= 3
        assert broadcast.notifications.count() == broadcast.total
    else:
        assert Broadcast.objects.count() == before
