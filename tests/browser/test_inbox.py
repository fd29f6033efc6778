import pytest
from django.utils import timezone
from playwright.sync_api import expect

from notifications.models import Notification
from tests.browser.test_dashboard import log_in

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
