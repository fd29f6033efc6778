import pytest
from django.utils import timezone
from playwright.sync_api import expect

from mysite.tokens import token_create
from notifications import context_processors
from notifications.models import Notification
from tests.helpers.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_messages(user):
    for body in ("Report ready", "Welcome"):
        Notification.objects.create(
            recipient=user,
            channel="in_app",
            body=body,
            dedupe_key=body,
            status=Notification.Status.SENT,
            sent_at=timezone.now(),
        )


def test_badge_count_drops_after_mark_read(live_server, user, two_messages, page):
    log_in(page, live_server, username="alice", password="alice-password-1")
    expect(page.locator("#unread-badge")).to_have_text("2")

    page.click("#inbox-link")
    page.locator("#inbox li", has_text="Welcome").locator("button.mark-read").click()

    expect(page.locator("#unread-badge")).to_have_text("1")
    page.click("#mark-all-read")
    expect(page.locator("#unread-badge")).to_have_count(0)
    expect(page.locator("#inbox li.unread")).to_have_count(0)


@pytest.fixture
def tokens(user, staff_user) -> dict[str, str]:
    return {who.username: token_create(user=who, name="script")[1] for who in (user, staff_user)}


def test_the_badge_follows_the_api_without_a_reload(
    live_server, celery_worker, user, two_messages, tokens, monkeypatch, page
):
    # given: alice on a page, the badge asking the API every 0.2 s
    monkeypatch.setattr(context_processors, "UNREAD_POLL_SECONDS", 0.2)
    log_in(page, live_server, username="alice", password="alice-password-1")
    expect(page.locator("#unread-badge")).to_have_text("2")
    page.evaluate("window.notReloaded = true")

    # when: a program reads them all with her token
    read = page.request.post(
        f"{live_server.url}/api/v1/notifications/read-all",
        headers={"Authorization": f"Bearer {tokens['alice']}"},
    )

    # then: the badge goes, and comes back when staff send her a message
    assert read.json() == {"marked": 2}
    expect(page.locator("#unread-badge")).to_have_count(0)
    sent = page.request.post(
        f"{live_server.url}/api/v1/notifications/",
        headers={"Authorization": f"Bearer {tokens['carol']}"},
        data={"recipient": "alice", "channel": "in_app", "body": "Deploy at 5"},
    )
    assert sent.status == 202, sent.text()
    expect(page.locator("#unread-badge")).to_have_text("1", timeout=30_000)
    assert page.evaluate("window.notReloaded") is True
