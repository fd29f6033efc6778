"""``/api/v1/notifications/`` and ``/api/v1/broadcasts/`` with a token."""

import pytest
from django.urls import reverse

from notifications.models import Broadcast, Notification
from tests.notifications.test_broadcast import make_users, wait_finished
from tests.notifications.test_inbox import in_app
from tests.reports.test_api import bearer

pytestmark = pytest.mark.django_db


def post(client, name: str, data: dict, headers: dict, args=()):
    return client.post(
        reverse(name, args=args), data, content_type="application/json", headers=headers
    )


def test_my_inbox_pages_to_the_end_newest_first(client, user, other_user):
    for n in range(7):
        in_app(user, f"message {n}")
    in_app(other_user, "not yours")
    in_app(user, "still queued", status=Notification.Status.QUEUED, sent_at=None)
    headers = bearer(user)

    seen, url = [], reverse("api-v1:notification-list") + "?limit=3"
    while url:
        page = client.get(url, headers=headers).json()
        assert page["count"] == 7
        assert len(page["items"]) <= 3
        seen += [item["body"] for item in page["items"]]
        url = page["next"]

    assert seen == [f"message {n}" for n in range(6, -1, -1)]


def test_mark_one_read_then_all(client, user):
    first, _, _ = in_app(user, "one"), in_app(user, "two"), in_app(user, "three")
    headers = bearer(user)

    response = post(client, "api-v1:notification-read", {}, headers, args=[first.pk])

    assert response.status_code == 200
    assert response.json()["unread"] is False
    assert response.json()["read_at"] is not None
    unread = client.get(reverse("api-v1:notification-list") + "?unread=true", headers=headers)
    assert [item["body"] for item in unread.json()["items"]] == ["three", "two"]
    count = client.get(reverse("api-v1:notification-unread-count"), headers=headers)
    assert count.json() == {"unread": 2}

    assert post(client, "api-v1:notification-read-all", {}, headers).json() == {"marked": 2}
    assert client.get(reverse("api-v1:notification-unread-count"), headers=headers).json() == {
        "unread": 0
    }


def test_another_users_notification_is_404_and_stays_unread(client, user, other_user):
    theirs = in_app(other_user, "theirs")

    response = post(client, "api-v1:notification-read", {}, bearer(user), args=[theirs.pk])

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_a_session_post_needs_csrf(client, user):
    mine = in_app(user, "mine")
    client.force_login(user)
    client.handler.enforce_csrf_checks = True

    response = client.post(reverse("api-v1:notification-read", args=[mine.pk]))

    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.read_at is None


def test_staff_send_one_through_the_service(client, staff_user, reachable_user):
    headers = bearer(staff_user)
    data = {
        "recipient": "alice",
        "channel": "email",
        "subject": "Hi",
        "body": "Hello",
        "priority": "urgent",
        "dedupe_key": "welcome-1",
    }

    first = post(client, "api-v1:notification-send", data, headers)
    again = post(client, "api-v1:notification-send", data, headers)

    assert first.status_code == 202, first.content
    body = first.json()
    assert (body["recipient"], body["channel"], body["status"], body["priority"]) == (
        "alice",
        "email",
        "queued",
        9,
    )
    assert body["task_id"]
    assert again.json()["id"] == body["id"]  # the same dedupe key sends once
    assert Notification.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"dedupe_key": "k" * 500}, "dedupe_key", "at most 200 characters"),
        ({"subject": "s" * 201}, "subject", "at most 200 characters"),
        ({"channel": "telegram"}, "channel", "Input should be"),
        ({"recipient": "ghost"}, None, "No user named 'ghost'."),
        ({"recipient": "a\x00b"}, None, "The username contains a NUL character."),
        ({"body": "nul \x00 inside"}, None, "The message body contains a NUL character."),
        ({"priority": "critical"}, None, "Unknown priority 'critical'"),
        ({"priority": "\u0663"}, None, "Unknown priority"),  # an Arabic-Indic 3 is not 3
        ({"priority": 10**40}, None, "Unknown priority"),
        ({"body": "  "}, None, "The message body is empty."),
        # the inbox renders the link as an href: only site paths and http(s) URLs
        ({"link": "javascript:alert(1)"}, None, "The link must be a path on this site"),
        ({"link": "JavaScript:alert(1)"}, None, "The link must be a path on this site"),
        ({"link": "data:text/html,<b>x</b>"}, None, "The link must be a path on this site"),
        ({"link": "//evil.example/"}, None, "The link must be a path on this site"),
        ({"link": "/\\evil.example/"}, None, "The link must be a path on this site"),
        ({"link": "inbox/"}, None, "The link must be a path on this site"),
        ({"link": "/a\tb"}, None, "The link must be a path on this site"),
    ],
)
def test_bad_sends_are_400_and_nothing_is_stored(client, staff_user, user, change, field, message):
    data = {"recipient": "alice", "channel": "in_app", "body": "Hello", **change}

    response = post(client, "api-v1:notification-send", data, bearer(staff_user))

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert message in (error["fields"][field][0] if field else error["message"])
    assert Notification.objects.count() == 0


@pytest.mark.parametrize("link", ["/notifications/", "https://example.com/track?id=1", ""])
def test_a_link_to_the_site_or_the_web_is_kept(client, staff_user, user, link):
    data = {"recipient": "alice", "channel": "in_app", "body": "Hello", "link": link}

    response = post(client, "api-v1:notification-send", data, bearer(staff_user))

    assert response.status_code == 202, response.content
    assert Notification.objects.get().link == link


def test_sending_and_broadcasting_are_for_staff(client, user):
    headers = bearer(user)
    broadcast = Broadcast.objects.create(audience="all", channel="in_app", body="x")

    sent = post(
        client,
        "api-v1:notification-send",
        {"recipient": "alice", "channel": "in_app", "body": "x"},
        headers,
    )
    started = post(
        client,
        "api-v1:broadcast-start",
        {"audience": "all", "channel": "in_app", "body": "x"},
        headers,
    )
    progress = client.get(reverse("api-v1:broadcast-get", args=[broadcast.pk]), headers=headers)

    assert [sent.status_code, started.status_code, progress.status_code] == [403, 403, 403]
    assert Notification.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_staff_broadcast_and_follow_its_progress(client, staff_user, celery_worker):
    make_users(5, staff_every=2)  # user00000, 00002, 00004 are staff
    headers = bearer(staff_user)

    response = post(
        client,
        "api-v1:broadcast-start",
        {"audience": "staff", "channel": "in_app", "subject": "Deploy", "body": "At 5"},
        headers,
    )

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["total"] == 4  # and carol, who sent it
    wait_finished(body["id"])
    done = client.get(body["url"], headers=headers).json()
    assert (done["total"], done["sent"], done["failed"], done["finished"]) == (4, 4, 0, True)
    assert Broadcast.objects.get().created_by == staff_user
    inbox = client.get(reverse("api-v1:notification-list"), headers=headers)
    assert [item["subject"] for item in inbox.json()["items"]] == ["Deploy"]


def test_a_broadcast_to_nobody_is_409_and_nothing_is_stored(client, staff_user):
    make_users(2)  # nobody has a phone

    response = post(
        client,
        "api-v1:broadcast-start",
        {"audience": "all", "channel": "sms", "body": "Hi"},
        bearer(staff_user),
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "no_recipients"
    assert error["message"].startswith("Nobody to send to: no active user in the all audience")
    assert Broadcast.objects.count() == 0


def test_unknown_broadcast_is_404(client, staff_user):
    response = client.get(
        reverse("api-v1:broadcast-get", args=[987654]), headers=bearer(staff_user)
    )

    assert response.status_code == 404
