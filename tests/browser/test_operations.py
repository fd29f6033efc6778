import re

import pytest
from celery import states, uuid
from django.core import mail
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from notifications.models import Notification
from tests.browser.look import screenshot
from tests.helpers.browser import log_in
from tests.helpers.services import wait_for
from tests.mysite.console_tasks import deliver_notification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def operator(django_user_model):
    """Staff who may also change users in the admin."""
    return django_user_model.objects.create_superuser("dana", password="dana-password-1")


@pytest.fixture
def failed_delivery(user, celery_worker) -> tuple[Notification, str]:
    """Alice has no email address: her notification's delivery fails for good.

    Made before ``page`` (see tests/browser/test_payments.py): the ORM is not
    used in this thread once Playwright runs.
    """
    notification = Notification.objects.create(
        recipient=user, channel="email", body="Your report is ready.", dedupe_key=uuid()
    )
    task_id = deliver_notification.apply_async([notification.pk]).id
    wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status=states.FAILURE).exists(),
        what="the delivery to fail",
    )
    return notification, task_id


def test_a_failed_task_is_shown_with_its_reason_retried_and_both_link(
    live_server, operator, failed_delivery, page
):
    notification, original = failed_delivery

    # given: the operator opens the console from the dashboard
    log_in(page, live_server, username="dana", password="dana-password-1")
    page.click("#operations-link")
    expect(page.locator("h1")).to_have_text("Operations")

    # then: the failed task is listed with its reason and its notification
    row = page.locator(f'#tasks tr[data-task-id="{original}"]')
    expect(row).to_contain_text("FAILURE")
    expect(row).to_contain_text("tests.console.deliver_notification")
    expect(row).to_contain_text("DeliveryFailed: alice has no valid email address.")
    expect(row.locator(".domain-link")).to_have_text(f"Notification #{notification.pk}")
    screenshot(page, "operations-failure")

    # when: they give alice an address in the admin, then press Retry on the task's page
    page.goto(f"{live_server.url}/admin/auth/user/{notification.recipient_id}/change/")
    page.fill("#id_email", "alice@example.com")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    page.goto(f"{live_server.url}/operations/")
    row.locator("td:nth-child(3) a").click()
    expect(page.locator("#task-error")).to_have_text(
        "DeliveryFailed: alice has no valid email address."
    )
    page.click("#retry-button")

    # then: the page says what was queued and links the retry ...
    expect(page.locator("#messages")).to_contain_text("Retried tests.console.deliver_notification")
    retried_as = page.locator("#retried-as")
    retry_id = retried_as.inner_text()
    assert retry_id != original
    expect(page.locator("#retry-button")).to_have_count(0)

    # ... which succeeds, and links back to the task it retried
    retried_as.click()
    expect(page).to_have_url(f"{live_server.url}/operations/tasks/{retry_id}/")
    expect(page.locator("#task-state")).to_have_text("SUCCESS", timeout=30_000)
    expect(page.locator("#task-row")).to_contain_text(f"Notification #{notification.pk} (sent)")
    screenshot(page, "operations-retry")
    page.click("#retry-of")
    expect(page).to_have_url(f"{live_server.url}/operations/tasks/{original}/")
    expect(page.locator("#retried-as")).to_have_text(retry_id)
    assert [message.to for message in mail.outbox] == [["alice@example.com"]]

    # and the console's list shows the link too
    page.goto(f"{live_server.url}/operations/?task=tests.console.deliver_notification&state=")
    expect(page.locator(f'#tasks tr[data-task-id="{original}"] .retried-as')).to_have_attribute(
        "href", re.compile(f"/operations/tasks/{retry_id}/$")
    )
    expect(page.locator(f'#tasks tr[data-task-id="{retry_id}"] .retry-of')).to_have_attribute(
        "href", re.compile(f"/operations/tasks/{original}/$")
    )
