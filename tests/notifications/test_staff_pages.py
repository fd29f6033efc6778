"""The staff pages to send one notification and to start a broadcast: the
commands' services and refusals, as form errors (400) with nothing stored."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from notifications.models import Broadcast, ContactPoint, Notification
from tests.notifications.test_broadcast import make_users, wait_finished

pytestmark = pytest.mark.django_db

SEND = reverse("notifications:send")
BROADCAST_NEW = reverse("notifications:broadcast-new")


def errors(response) -> list[str]:
    """Every error the form shows (its own and its fields')."""
    form = response.context["form"]
    return [error for field_errors in form.errors.values() for error in field_errors]


def assert_refused(response, message: str) -> None:
    """A 400 whose page shows an error starting with ``message``."""
    assert response.status_code == 400
    found = [error for error in errors(response) if error.startswith(message)]
    assert found, errors(response)
    assert escape(found[0]) in response.content.decode()


def test_staff_send_one_and_a_resubmitted_form_sends_once(client, staff_user, reachable_user):
    client.force_login(staff_user)
    shown = client.get(SEND)
    assert shown.status_code == 200
    key = shown.context["form"].initial["key"]
    data = {
        "user": "alice",
        "channel": "email",
        "subject": "Hi",
        "body": "Hello",
        "priority": "urgent",
        "key": key,
    }

    first = client.post(SEND, data, follow=True)
    again = client.post(SEND, data, follow=True)

    assert first.redirect_chain == [(SEND, 302)]
    notification = Notification.objects.get()
    assert (notification.recipient, notification.channel, notification.priority) == (
        reachable_user,
        "email",
        9,
    )
    assert (notification.subject, notification.body) == ("Hi", "Hello")
    assert notification.dedupe_key == f"staff-page:{key}"
    assert notification.task_id  # queued, as the command does
    assert f"Notification {notification.pk} (email to alice) is queued." in first.content.decode()
    assert "sent before" not in first.content.decode()
    assert Notification.objects.count() == 1  # the same form twice sends once
    assert (
        "This form was sent before; nothing more was sent. "
        f"Notification {notification.pk} (email to alice) is queued."
    ) in again.content.decode()
    # and the page it comes back to has a new key for the next message
    assert first.context["form"].initial["key"] != key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": ""}, "The message body is empty."),
        ({"body": "   "}, "The message body is empty."),
        ({"subject": "s" * 201}, "The subject is 201 characters; at most 200."),
        ({"body": "nul \x00 inside"}, "Null characters are not allowed."),
        ({"user": "ghost"}, "No user named 'ghost'."),
        ({"user": ""}, "This field is required."),
        ({"user": "u" * 151}, "The username is 151 characters; at most 150."),
        ({"priority": "critical"}, "Select a valid choice. critical is not one of"),
        ({"priority": "9"}, "Select a valid choice. 9 is not one of"),
        ({"channel": "telegram"}, "Select a valid choice. telegram is not one of"),
        ({"channel": "sms"}, "alice has no valid phone number (E.164)."),
        ({"channel": "sms", "body": "x" * 481}, "The SMS is 481 characters; at most 480."),
        ({"key": "k" * 200}, "The dedupe key is 211 characters; at most 200."),
    ],
)
def test_bad_sends_are_form_errors_and_nothing_is_queued(client, staff_user, user, change, message):
    client.force_login(staff_user)
    data = {"user": "alice", "channel": "in_app", "body": "Hello", "priority": "normal", **change}

    response = client.post(SEND, data)

    assert_refused(response, message)
    assert Notification.objects.count() == 0


def test_an_opted_out_user_is_refused(client, staff_user, user):
    ContactPoint.objects.create(user=user, in_app_opt_out=True)
    client.force_login(staff_user)

    response = client.post(
        SEND, {"user": "alice", "channel": "in_app", "body": "Hi", "priority": "low"}
    )

    assert_refused(response, "alice has turned off in_app notifications.")
    assert Notification.objects.count() == 0


def test_staff_start_a_broadcast_and_land_on_its_page(client, staff_user):
    make_users(3)
    client.force_login(staff_user)
    data = {
        "audience": "list",
        "usernames": "user00000, user00002\nuser00001 user00002",
        "channel": "in_app",
        "subject": "Deploy",
        "body": "At 5",
        "priority": "high",
    }

    response = client.post(BROADCAST_NEW, data, follow=True)

    broadcast = Broadcast.objects.get()
    url = reverse("notifications:broadcast", args=[broadcast.pk])
    assert response.redirect_chain == [(url, 302)]
    assert (broadcast.audience, broadcast.total, broadcast.priority) == ("list", 3, 6)
    assert broadcast.usernames == ["user00000", "user00002", "user00001"]
    assert broadcast.created_by == staff_user
    assert Notification.objects.filter(broadcast=broadcast).count() == 3
    page = response.content.decode()
    assert f"Broadcast #{broadcast.pk} started for 3 recipients." in page
    assert reverse("api-v1:broadcast-get", args=[broadcast.pk]) in page
    assert 'aria-live="polite"' in page
    assert "6 (high)" in page
    # the form's page lists it, with a link to its progress
    assert f'href="{url}"' in client.get(BROADCAST_NEW).content.decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": ""}, "The message body is empty."),
        ({"subject": "s" * 201}, "The subject is 201 characters; at most 200."),
        ({"subject": "a\x00b"}, "Null characters are not allowed."),
        ({"priority": "critical"}, "Select a valid choice. critical is not one of"),
        ({"audience": "everyone"}, "Select a valid choice. everyone is not one of"),
        ({"channel": "sms"}, "Nobody to send to: no active user in the all audience"),
        ({"audience": "list"}, "A list audience needs at least one username."),
        ({"audience": "list", "usernames": "user00000 ghost"}, "No user named 'ghost'."),
        ({"usernames": "user00000"}, "Usernames are only for a list audience"),
        (
            {"audience": "list", "usernames": " ".join(f"u{n}" for n in range(10_001))},
            "10001 usernames; at most 10000",
        ),
    ],
)
def test_bad_broadcasts_are_form_errors_and_nothing_is_queued(client, staff_user, change, message):
    make_users(2)  # nobody has a phone
    client.force_login(staff_user)
    data = {"audience": "all", "channel": "in_app", "body": "Hi", "priority": "normal", **change}

    response = client.post(BROADCAST_NEW, data)

    assert_refused(response, message)
    assert Broadcast.objects.count() == 0
    assert Notification.objects.count() == 0


@pytest.mark.parametrize("url", [SEND, BROADCAST_NEW, reverse("notifications:broadcast", args=[1])])
def test_the_pages_are_for_staff(client, user, url):
    Broadcast.objects.create(pk=1, audience="all", channel="in_app", body="x")

    anonymous = client.get(url)
    client.force_login(user)
    seen = client.get(url)
    posted = client.post(
        url, {"user": "alice", "audience": "all", "channel": "in_app", "body": "x"}
    )

    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"{reverse('login')}?next={url}"
    assert [seen.status_code, posted.status_code] == [403, 403]
    assert Notification.objects.count() == 0
    assert Broadcast.objects.count() == 1


def test_only_staff_see_the_link(client, user, staff_user):
    client.force_login(user)
    assert SEND not in client.get(reverse("notifications:inbox")).content.decode()
    client.force_login(staff_user)
    assert f'href="{SEND}"' in client.get(reverse("notifications:inbox")).content.decode()


def test_an_unknown_broadcast_is_404(client, staff_user):
    client.force_login(staff_user)

    assert client.get(reverse("notifications:broadcast", args=[987654])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_finished_broadcast_page_says_so(client, staff_user, celery_worker):
    make_users(2)
    client.force_login(staff_user)

    client.post(
        BROADCAST_NEW, {"audience": "all", "channel": "in_app", "body": "Hi", "priority": "low"}
    )

    broadcast = wait_finished(Broadcast.objects.get().pk)
    page = client.get(reverse("notifications:broadcast", args=[broadcast.pk])).content.decode()
    assert 'data-finished="true"' in page
    assert "3 sent, 0 failed of 3" in page
    assert 'id="broadcast-state">finished<' in page
