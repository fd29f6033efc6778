import pytest
from playwright.sync_api import expect

from tests.browser.look import screenshot
from tests.helpers.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.slow
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
    screenshot(page, "demo-task")


@pytest.mark.slow
def test_the_demo_box_remembers_its_task_across_reloads(live_server, celery_worker, user, page):
    # given: a demo task started from the dashboard
    log_in(page, live_server, username="alice", password="alice-password-1")
    page.click("#demo-button")
    expect(page.locator("#demo-id")).not_to_be_empty()
    task_id = page.locator("#demo-id").inner_text()

    # when: the page is reloaded while it runs (it sleeps 2 s)
    page.reload()

    # then: the box shows that task, and follows it on to SUCCESS
    expect(page.locator("#demo-id")).to_have_text(task_id)
    expect(page.locator("#demo-state")).not_to_have_text("not started")
    expect(page.locator("#demo-state")).to_have_text("SUCCESS", timeout=30_000)
    expect(page.locator("#demo-button")).to_be_enabled()

    # and after another reload it still says SUCCESS, not "not started"
    page.reload()
    expect(page.locator("#demo-state")).to_have_text("SUCCESS")
    expect(page.locator("#demo-id")).to_have_text(task_id)


def test_logging_out_says_so(live_server, user, page):
    log_in(page, live_server, username="alice", password="alice-password-1")
    expect(page.locator("h1")).to_have_text("Tasks")

    page.click("text=Log out alice")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator(".notice")).to_have_text("You are logged out.")

    # and only once: the next page does not say it again
    page.reload()
    expect(page.locator(".notice")).to_have_count(0)


def test_anonymous_visitor_is_sent_to_the_login_page(live_server, page):
    page.goto(f"{live_server.url}/dashboard/")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/dashboard/")
    expect(page.locator("h1")).to_have_text("Log in")


def test_wrong_password_is_refused(live_server, user, page):
    log_in(page, live_server, username="alice", password="wrong")

    expect(page.locator("form")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/dashboard/")
