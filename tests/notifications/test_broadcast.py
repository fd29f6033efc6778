"""Broadcasts: rows in bulk, dispatched in chunks through the real worker."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_celery_results.models import TaskResult

from notifications import services
from notifications.models import Broadcast, ContactPoint, Notification
from tests.helpers.services import wait_for


def make_users(count: int, *, staff_every: int = 0) -> None:
    get_user_model().objects.bulk_create(
        get_user_model()(
            username=f"user{i:05d}",
            email=f"user{i}@example.com",
            is_staff=bool(staff_every) and i % staff_every == 0,
        )
        for i in range(count)
    )


def wait_finished(broadcast_id: int, timeout: float = 60) -> Broadcast:
    return wait_for(
        lambda: Broadcast.objects.filter(pk=broadcast_id, finished_at__isnull=False).first(),
        timeout=timeout,
        what=f"broadcast {broadcast_id} to finish",
    )


@pytest.mark.django_db(transaction=True)
def test_in_app_broadcast_to_thousands_in_chunks(
    celery_worker, settings, django_assert_max_num_queries
):
    # given: 3000 users, chunks of 500
    make_users(3000)
    settings.NOTIFICATION_BROADCAST_CHUNK = 500

    # when: creating the rows costs a few bulk queries, not one per user (SQLite
    # splits a bulk insert by its variable limit, hence not a handful)
    with django_assert_max_num_queries(100):
        broadcast = services.broadcast_send(
            audience="all", channel="in_app", body="Maintenance at 22:00"
        )

    # then
    assert broadcast.total == 3000
    done = wait_finished(broadcast.pk)
    assert (done.sent, done.failed) == (3000, 0)
    assert Notification.objects.filter(broadcast=broadcast, status="sent").count() == 3000
    # six chunk tasks ran, not 3000 tasks
    ran = TaskResult.objects.filter(task_name="notifications.tasks.send_broadcast_chunk").count()
    assert ran == 6


@pytest.mark.django_db(transaction=True)
def test_email_broadcast_skips_the_unreachable_and_opted_out(celery_worker, smtp_server):
    make_users(5, staff_every=1)
    users = list(get_user_model().objects.order_by("username"))
    users[0].email = ""
    users[0].save()
    ContactPoint.objects.create(user=users[1], email_opt_out=True)

    broadcast = services.broadcast_send(
        audience="staff", channel="email", subject="News", body="Hi"
    )

    assert broadcast.total == 3
    done = wait_finished(broadcast.pk)
    assert (done.sent, done.failed) == (3, 0)
    assert sorted(e.rcpt_tos[0] for e in smtp_server.messages) == [
        "user2@example.com",
        "user3@example.com",
        "user4@example.com",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"audience": "everyone"}, "Unknown audience 'everyone'"),
        ({"audience": "list", "usernames": []}, "needs at least one username"),
        ({"audience": "list", "usernames": ["user00001", "ghost"]}, "No user named 'ghost'"),
        ({"body": ""}, "The message body is empty."),
        ({"channel": "telegram"}, "Unknown channel 'telegram'"),
        ({"priority": "critical"}, "Unknown priority 'critical'"),
    ],
)
def test_bad_broadcasts_are_refused_and_nothing_is_queued(options, message):
    make_users(3)
    arguments = {"audience": "all", "channel": "in_app", "body": "Hi", **options}

    with pytest.raises(services.NotificationRejected, match=message):
        services.broadcast_send(**arguments)

    assert Broadcast.objects.count() == 0
    assert Notification.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_broadcast_command_shows_progress(celery_worker, capsys):
    make_users(4, staff_every=2)

    call_command(
        "broadcast",
        "--audience",
        "staff",
        "--channel",
        "in_app",
        "--priority",
        "urgent",
        "Deploy at 5",
    )

    out = capsys.readouterr().out
    assert "2 recipients queued" in out
    assert "finished: 2 sent, 0 failed of 2." in out
    assert set(Notification.objects.values_list("priority", flat=True)) == {9}


@pytest.mark.django_db
def test_broadcast_command_refuses_bad_input():
    with pytest.raises(CommandError, match="Unknown audience"):
        call_command("broadcast", "--audience", "nobody", "--channel", "in_app", "x")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "audience"),
    [
        (["--audience", "all", "--channel", "in_app"], "all"),  # nobody at all
        (["--audience", "staff", "--channel", "in_app"], "staff"),  # no staff
        (["--audience", "list", "--user", "user00001", "--channel", "sms"], "list"),  # no phone
    ],
)
def test_a_broadcast_to_nobody_says_so_and_fails(
    args, audience, django_capture_on_commit_callbacks
):
    # Regression: it exited 0, silently, after storing an empty broadcast.
    if audience != "all":
        make_users(2)

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(
            CommandError, match=f"Nobody to send to: no active user in the {audience} audience"
        ),
    ):
        call_command("broadcast", *args, "Hello")

    assert callbacks == []
    assert Broadcast.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_refuses_a_broadcast_to_nobody(client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)

    response = client.post(
        "/admin/notifications/broadcast/add/",
        {"audience": "all", "channel": "sms", "body": "Hi", "priority": "3", "usernames": ""},
    )

    assert response.status_code == 200  # the form again, with the reason
    assert "Nobody to send to" in response.content.decode()
    assert Broadcast.objects.count() == 0
