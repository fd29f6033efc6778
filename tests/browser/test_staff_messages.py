import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.browser.look import look_over
from tests.helpers.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


RECIPIENTS = ["alice", "bob", "dave", "erin", "frank"]


@pytest.fixture
def recipients(user, other_user):
    """Five users with an email address (alice and bob, and three more)."""
    for name in RECIPIENTS[2:]:
        get_user_model().objects.create_user(name)
    for account in get_user_model().objects.filter(username__in=RECIPIENTS):
        account.email = f"{account.username}@example.com"
        account.save()


@pytest.fixture
def slow_email(settings):
    """Two emails a second, one per chunk: the broadcast takes a few seconds, so the
    page shows it running and follows it to the end."""
    settings.NOTIFICATION_RATE_LIMITS = {**settings.NOTIFICATION_RATE_LIMITS, "email": 2.0}
    settings.NOTIFICATION_RATE_BURSTS = {"email": 1.0}
    settings.NOTIFICATION_BROADCAST_CHUNK = 1


# Rows are made in fixtures listed before `page`: once Playwright runs, the ORM
# in this thread would open a connection nobody closes.
@pytest.mark.slow
def test_staff_start_a_broadcast_and_watch_it_finish_live(
    live_server, celery_worker, staff_user, recipients, smtp_server, slow_email, page
):
    # given: staff on the broadcast page, reached from the header
    log_in(page, live_server, username="carol", password="carol-password-1")
    page.click("#staff-send-link")
    page.click("#broadcast-link")
    expect(page.locator("h1")).to_have_text("Start a broadcast")
    answers = []
    page.on("response", lambda r: "/api/v1/broadcasts/" in r.url and answers.append(r))

    # when: they send an email to five users by name
    page.select_option("#id_audience", "list")
    page.fill("#id_usernames", " ".join(RECIPIENTS))
    page.select_option("#id_channel", "email")
    page.fill("#id_subject", "Maintenance")
    page.fill("#id_body", "Tonight at 22:00.")
    look_over(page, "broadcast-new")
    page.click("#broadcast-form button[type=submit]")

    # then: its page follows the progress to finished, without a reload
    expect(page).to_have_url(re.compile(rf"^{live_server.url}/notifications/broadcasts/\d+/$"))
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#broadcast-live")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#broadcast-state")).to_have_text("finished", timeout=30_000)
    expect(page.locator("#broadcast-text")).to_have_text("5 sent, 0 failed of 5")
    expect(page.locator("#waiting")).to_be_hidden()
    assert page.evaluate("window.notReloaded") is True
    progress = page.locator("#broadcast-progress")
    assert (progress.get_attribute("max"), progress.evaluate("p => p.value")) == ("5", 5)
    look_over(page, "broadcast")

    # and the page asked the API while it ran, and stopped asking once it had finished
    polled = [answer.json()["finished"] for answer in answers]
    assert polled[0] is False
    assert polled[-1] is True
    page.wait_for_timeout(6000)  # longer than the page's longest pause between asks
    assert len(answers) == len(polled)
    assert sorted(envelope.rcpt_tos[0] for envelope in smtp_server.messages) == [
        f"{name}@example.com" for name in RECIPIENTS
    ]


def test_a_send_refused_by_the_service_keeps_what_was_typed(live_server, staff_user, user, page):
    log_in(page, live_server, username="carol", password="carol-password-1")
    page.goto(f"{live_server.url}/notifications/send/")

    page.fill("#id_user", "ghost")
    page.fill("#id_subject", "Hello")
    page.fill("#id_body", "Welcome aboard")
    page.click("#send-form button[type=submit]")

    expect(page.locator("#form-errors")).to_have_text("No user named 'ghost'.")
    expect(page.locator("#id_body")).to_have_value("Welcome aboard")
    look_over(page, "send")

    page.fill("#id_user", "alice")
    page.click("#send-form button[type=submit]")

    expect(page.locator(".notice")).to_have_text(
        re.compile(r"^Notification \d+ \(in_app to alice\) is queued\.$")
    )
    expect(page.locator("#form-errors")).to_have_count(0)
    expect(page.locator("#id_body")).to_have_value("")
