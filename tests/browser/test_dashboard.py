import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.helpers.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_task_goes_from_pending_to_success(live_server, celery_worker, user, page):
    # given: a logged-in user on the dashboard
    log_in(page, live_server, username="alice", password="alice-password-1")
    expect(page.locator("h1")).to_have_text("Tasks")
    expect(page.locator("#workers")).to_contain_text(celery_worker.hostname)

    # when: they press the demo button
    page.click("#demo-button")

    # then: the state moves to SUCCESS without a reload, through STARTED
    expect(page.locator("#demo-state")).to_have_text("SUCCESS", timeout=30_000)
    history = page.locator("#demo-history li").all_inner_texts()
    assert history[-2:] == ["STARTED", "SUCCESS"]
    task_id = page.locator("#demo-id").inner_text()
    recent = page.locator(f'#recent tr[data-task-id="{task_id}"]')
    expect(recent).to_contain_text("SUCCESS", timeout=10_000)
    expect(recent).to_contain_text("mysite.tasks.demo_task")
    page.screenshot(path=str(settings.VAR_DIR / "dashboard.png"), full_page=True)


def test_anonymous_visitor_is_sent_to_the_login_page(live_server, page):
    page.goto(f"{live_server.url}/dashboard/")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/dashboard/")
    expect(page.locator("h1")).to_have_text("Log in")


def test_wrong_password_is_refused(live_server, user, page):
    log_in(page, live_server, username="alice", password="wrong")

    expect(page.locator("form")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/dashboard/")
