"""The in-app inbox: badge, page, mark read, unread count; report-ready messages."""

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from reports.models import Report
from tests.helpers.services import wait_for

pytestmark = pytest.mark.django_db


def in_app(user, body="Hello", **fields) -> Notification:
    fields.setdefault("status", Notification.Status.SENT)
    fields.setdefault("sent_at", timezone.now())
    return Notification.objects.create(
        recipient=user, channel="in_app", body=body, dedupe_key=f"k-{body}", **fields
    )


def test_badge_inbox_and_mark_read(client, user, other_user):
    first, second = in_app(user, "one"), in_app(user, "two")
    in_app(other_user, "not yours")
    in_app(user, "still queued", status=Notification.Status.QUEUED, sent_at=None)
    client.force_login(user)

    page = client.get(reverse("notifications:inbox"))
    assert page.context["unread_notifications"] == 2
    assert [n.body for n in page.context["page"]] == ["two", "one"]
    assert 'id="unread-badge">2<' in page.content.decode()

    client.post(reverse("notifications:mark-read", args=[first.pk]))
    assert client.get(reverse("api-v1:notification-unread-count")).json() == {"unread": 1}

    client.post(reverse("notifications:mark-all-read"))
    assert client.get(reverse("api-v1:notification-unread-count")).json() == {"unread": 0}
    second.refresh_from_db()
    assert second.read_at is not None
    assert "unread-badge" not in client.get(reverse("notifications:inbox")).content.decode()


def test_someone_elses_notification_cannot_be_marked(client, user, other_user):
    theirs = in_app(other_user, "theirs")
    client.force_login(user)

    client.post(reverse("notifications:mark-read", args=[theirs.pk]))

    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_bodies_are_escaped(client, user):
    in_app(user, '<script>alert("x")</script>')
    client.force_login(user)

    html = client.get(reverse("notifications:inbox")).content.decode()

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_unread_count_needs_login(client):
    response = client.get(reverse("api-v1:notification-unread-count"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert client.get("/api/notifications/unread-count/").status_code == 404  # the old path
    assert client.get(reverse("notifications:inbox")).status_code == 302


def test_the_inbox_page_is_paginated(client, user):
    for n in range(55):
        in_app(user, f"message {n}")
    client.force_login(user)

    first = client.get(reverse("notifications:inbox"))
    second = client.get(reverse("notifications:inbox"), {"page": "2"})

    assert len(first.context["page"]) == 50
    assert first.context["page"][0].body == "message 54"
    assert 'href="?page=2"' in first.content.decode()
    assert [n.body for n in second.context["page"]] == [f"message {n}" for n in range(4, -1, -1)]


def test_mark_read_needs_post(client, user):
    client.force_login(user)

    assert client.get(reverse("notifications:mark-all-read")).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_a_finished_report_tells_whoever_asked(client, staff_user, celery_worker, media):
    client.force_login(staff_user)

    client.post(reverse("reports:list"), {"period": "daily"})

    message = wait_for(
        lambda: Notification.objects.filter(recipient=staff_user, status="sent").first(),
        what="the report-ready message",
    )
    report = Report.objects.get()
    assert report.status == "ready"
    assert (message.channel, message.subject) == ("in_app", "Your report is ready")
    assert message.link == report.get_absolute_url()
    inbox = client.get(reverse("notifications:inbox")).content.decode()
    assert f'href="{report.get_absolute_url()}"' in inbox
