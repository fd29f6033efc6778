"""What may be sent: checks before anything is queued, deduplication, the command."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mysite.priorities import Priority
from notifications import services
from notifications.models import ContactPoint, Notification
from tests.helpers.services import require

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"channel": "fax"}, "Unknown channel 'fax'"),
        ({"priority": "asap"}, "Unknown priority 'asap': use low, normal, high, urgent."),
        ({"priority": 5}, "Unknown priority 5: use 0, 3, 6, 9."),
        ({"body": "   "}, "The message body is empty."),
        ({"channel": "sms", "body": "x" * 481}, "The SMS is 481 characters; at most 480."),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_queued(
    reachable_user, options, message, django_capture_on_commit_callbacks
):
    arguments = {"recipient": reachable_user, "channel": "email", "body": "Hi", **options}

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(services.NotificationRejected, match=message.replace("(", r"\(")),
    ):
        services.notification_send(**arguments)

    assert callbacks == []
    assert Notification.objects.count() == 0


@pytest.mark.parametrize(
    ("channel", "setup", "message"),
    [
        ("email", {"email": "not-an-address"}, "has no valid email address"),
        ("sms", {"phone": "0151 123"}, r"has no valid phone number \(E.164\)"),
        ("push", {"push_tokens": []}, "has no push device"),
        ("email", {"email_opt_out": True}, "has turned off email notifications"),
        ("in_app", {"in_app_opt_out": True}, "has turned off in_app notifications"),
    ],
)
def test_unreachable_or_opted_out_recipients_are_refused(reachable_user, channel, setup, message):
    if "email" in setup:
        reachable_user.email = setup.pop("email")
        reachable_user.save()
    ContactPoint.objects.filter(user=reachable_user).update(**setup)

    with pytest.raises(services.NotificationRejected, match=message):
        services.notification_send(recipient=reachable_user, channel=channel, body="Hi")

    assert Notification.objects.count() == 0


def test_the_same_dedupe_key_creates_one_notification(
    reachable_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        first = services.notification_send(
            recipient=reachable_user, channel="in_app", body="Hi", dedupe_key="report-7"
        )
        second = services.notification_send(
            recipient=reachable_user, channel="in_app", body="Hi", dedupe_key="report-7"
        )

    assert first.pk == second.pk
    assert Notification.objects.count() == 1
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("given", "level"), [("urgent", Priority.URGENT), ("LOW", Priority.LOW), (6, Priority.HIGH)]
)
def test_priorities_by_name_or_number(reachable_user, given, level):
    notification = services.notification_send(
        recipient=reachable_user, channel="in_app", body="Hi", priority=given
    )

    assert notification.priority == level


def test_command_queues_and_reports(reachable_user, capsys):
    call_command(
        "send_notification",
        "--user",
        "alice",
        "--channel",
        "email",
        "--subject",
        "S",
        "--body",
        "B",
    )

    notification = Notification.objects.get()
    assert (notification.channel, notification.subject, notification.body) == ("email", "S", "B")
    assert f"Notification {notification.pk} (email to alice) is queued" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody", "--channel", "email", "--body", "B"], "No user named 'nobody'"),
        (["--user", "alice", "--channel", "pigeon", "--body", "B"], "Unknown channel 'pigeon'"),
        (["--user", "alice", "--channel", "email", "--body", ""], "The message body is empty"),
        (
            ["--user", "alice", "--channel", "email", "--body", "B", "--priority", "9000"],
            "Unknown priority",
        ),
        # Regressions: a DataError traceback from the database; an Arabic-Indic 3 taken as 3.
        (
            ["--user", "alice", "--channel", "email", "--body", "B", "--dedupe-key", "k" * 500],
            "The dedupe key is 500 characters; at most 200.",
        ),
        (
            ["--user", "alice", "--channel", "email", "--body", "B", "--subject", "s" * 201],
            "The subject is 201 characters; at most 200.",
        ),
        (["--user", "a" * 151, "--channel", "email", "--body", "B"], "at most 150"),
        (["--user", "al\x00ice", "--channel", "email", "--body", "B"], "contains a NUL"),
        (["--user", "alice", "--channel", "email", "--body", "B\x00"], "contains a NUL"),
        (["--user", "alice", "--channel", "email", "--body", "\ud800"], "is not valid text"),
        (
            ["--user", "alice", "--channel", "email", "--body", "B", "--priority", "\u0663"],
            "Unknown priority",
        ),
    ],
)
def test_command_refuses_bad_input(reachable_user, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("send_notification", *args)

    assert Notification.objects.count() == 0


def test_delivery_locks_the_notification_row_before_writing(reachable_user):
    # given
    require(connection.vendor == "postgresql", "needs PostgreSQL for row locks")
    notification = Notification.objects.create(
        recipient=reachable_user, channel="in_app", body="Hi", dedupe_key="lock"
    )

    # when
    with CaptureQueriesContext(connection) as queries:
        services.notification_deliver(notification_id=notification.pk)

    # then: the row (only it, not the user's) is locked before it is changed
    sql = [q["sql"] for q in queries]
    lock = next(i for i, s in enumerate(sql) if "FOR UPDATE" in s)
    first_write = next(i for i, s in enumerate(sql) if s.startswith("UPDATE"))
    assert lock < first_write
    assert 'FOR UPDATE OF "notifications_notification"' in sql[lock]
