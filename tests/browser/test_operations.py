import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.browser.look import screenshot
from tests.helpers.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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
