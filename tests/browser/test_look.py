"""Every page, as a person sees it: phone and desktop, light and dark, axe-clean,
nothing wider than the window, no failed request (issue 17). Screenshots land in
test-output/screenshots/ (see tests/browser/look.py).

Each test logs in once and looks at its pages in the four looks. Rows are made
in fixtures listed before ``page``: once Playwright runs, the ORM in this thread
would open a connection nobody closes.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone
from playwright.sync_api import expect

from mysite import tokens
from notifications.models import Channel, Notification
from reports.models import Order
from tests.browser.look import look_over, watch_responses
from tests.helpers.factories import picture
from tests.helpers.payments import open_funded

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, *, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    expect(page.locator("header nav")).to_be_visible()


def badge_colours(page, selector: str) -> str:
    return page.locator(selector).first.evaluate("el => getComputedStyle(el).backgroundColor")


def test_the_checks_find_what_is_wrong(page):
    """The check itself can fail: axe sees an unlabelled field and grey on grey,
    and a block wider than the phone is reported."""
    page.set_content(
        "<!doctype html><html lang='en'><head><title>bad</title></head>"
        "<body style='margin:0'><main>"
        "<input type='text'><p style='color:#bbb;background:#ccc'>hard to read</p>"
        "<div style='width:900px'>too wide</div></main></body></html>"
    )

    problems = look_over(page, "checks-bad", strict=False)

    assert any("critical label:" in line for line in problems), problems
    assert any("serious color-contrast:" in line for line in problems), problems
    assert "checks-bad phone light: the page is 900px wide in a 390px window" in problems
    assert not any(line.startswith("checks-bad desktop") and "wide" in line for line in problems)


def test_login_page(live_server, page):
    failed = watch_responses(page)
    page.goto(f"{live_server.url}/accounts/login/")

    expect(page.locator("main h1")).to_have_text("Log in")
    look_over(page, "login")
    assert failed == []


def test_header_fits_a_phone_and_the_skip_link_leads_to_the_content(live_server, staff_user, page):
    failed = watch_responses(page)
    log_in(page, live_server, username="carol", password="carol-password-1")
    page.set_viewport_size({"width": 360, "height": 740})

    # every link of the header is on screen, none past its right edge
    for name in ("Inbox", "Admin", "Log out carol"):
        box = page.get_by_role("navigation").get_by_text(name).bounding_box()
        assert box is not None, name
        assert box["x"] >= 0, (name, box)
        assert box["x"] + box["width"] <= 360, (name, box)
    assert page.evaluate("document.documentElement.scrollWidth") == 360

    # the first Tab shows the skip link, which moves the focus to the main content
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"  # :focus-visible draws a ring
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert failed == []


@pytest.mark.slow
def test_dashboard(live_server, celery_worker, user, page):
    failed = watch_responses(page)
    log_in(page, live_server, username="alice", password="alice-password-1")
    page.goto(f"{live_server.url}/dashboard/")
    page.click("#demo-button")
    expect(page.locator("#demo-state")).to_have_text("SUCCESS", timeout=30_000)

    expect(page.locator("#demo-state")).to_have_class(re.compile(r"\bstate-success\b"))
    task_id = page.locator("#demo-id").inner_text()
    expect(page.locator(f'#recent tr[data-task-id="{task_id}"]')).to_be_visible(timeout=10_000)
    assert page.locator("#demo-state").evaluate("el => el.closest('[aria-live]') !== null")
    look_over(page, "dashboard")
    assert failed == []


@pytest.mark.slow
def test_pictures_empty_upload_gallery_and_detail(
    live_server, celery_worker, user, page, tmp_path, media
):
    wide = tmp_path / "panorama.jpg"
    wide.write_bytes(picture("RGB", (1600, 500)))
    failed = watch_responses(page)
    log_in(page, live_server, username="alice", password="alice-password-1")

    # no pictures yet: the page says how to add some
    page.goto(f"{live_server.url}/images/")
    expect(page.locator("#no-pictures a")).to_have_attribute("href", "/images/upload/")
    look_over(page, "gallery-empty")

    page.click("#no-pictures a")
    expect(page.locator("main h1")).to_have_text("Upload pictures")
    look_over(page, "upload")

    page.set_input_files("#id_files", str(wide))
    page.click("#upload-form button[type=submit]")
    tile = page.locator(".tile", has_text="panorama.jpg")
    expect(tile.locator(".state")).to_have_text("ready", timeout=30_000)
    expect(tile.locator(".state")).to_have_attribute("aria-live", "polite")
    tile.locator("img").evaluate("img => img.decode()")
    look_over(page, "gallery")

    tile.click()
    expect(page.locator("#renditions tbody tr")).to_have_count(4)
    for rendition in page.locator("figure img").all():
        rendition.evaluate("img => img.decode()")
    look_over(page, "image-detail")
    assert failed == []


@pytest.fixture
def big_orders():
    """Last month's sales: more than a thousand, for the thousands separator."""
    first_of_month = timezone.localtime().replace(day=1, hour=12, minute=0, second=0)
    for days_back, amount, channel in [(3, "1200.00", "web"), (10, "34.56", "store")]:
        Order.objects.create(
            created_at=first_of_month - timedelta(days=days_back),
            amount=Decimal(amount),
            channel=channel,
        )


@pytest.mark.slow
def test_reports_list_and_detail(live_server, celery_worker, staff_user, big_orders, page, media):
    failed = watch_responses(page)
    log_in(page, live_server, username="carol", password="carol-password-1")
    page.goto(f"{live_server.url}/reports/")
    expect(page.locator("#reports")).to_contain_text("No reports yet: generate one above.")
    look_over(page, "reports-empty")

    page.select_option("#id_period", "monthly")
    page.click("#generate-form button[type=submit]")
    chart = page.locator("#chart")
    expect(chart).to_be_visible(timeout=30_000)
    chart.evaluate("img => img.decode()")

    # money with its currency and a thousands separator; the status is announced
    expect(page.locator("#total-sales")).to_have_text("1,234.56 EUR")
    expect(page.locator("#report-status")).to_have_text("ready")
    assert page.locator("#report-status").evaluate("el => el.closest('[aria-live]') !== null")
    look_over(page, "report-detail")

    page.click("text=All reports")
    row = page.locator("#reports tbody tr").first
    expect(row).to_contain_text("1,234.56 EUR")
    # ISO dates: the report's first day as 2026-11-01, not "Nov. 1, 2026"
    expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^\d{4}-\d{2}-01$"))
    look_over(page, "reports")
    assert failed == []


@pytest.fixture
def inbox_messages(user):
    now = timezone.now()
    for number, read in [(1, True), (2, False)]:
        Notification.objects.create(
            recipient=user,
            channel=Channel.IN_APP,
            status=Notification.Status.SENT,
            subject=f"Report {number} is ready",
            body="Your monthly sales report is ready.\nOpen it from the reports page.",
            link="/reports/",
            dedupe_key=f"look-{number}",
            sent_at=now - timedelta(minutes=number),
            read_at=now if read else None,
        )


def test_inbox(live_server, user, inbox_messages, page):
    failed = watch_responses(page)
    log_in(page, live_server, username="alice", password="alice-password-1")
    page.goto(f"{live_server.url}/notifications/")

    expect(page.locator("#inbox li")).to_have_count(2)
    stamp = page.locator("#inbox li .muted").first.inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", stamp), stamp
    look_over(page, "inbox")
    assert failed == []


@pytest.fixture
def rich_accounts(user, other_user):
    """Alice with 12,345.67 EUR and a savings account; Bob's account to pay."""
    main = open_funded(user, name="Alice main", deposit="12345.67")
    open_funded(user, name="Alice savings", deposit="0")
    bob = open_funded(other_user, name="Bob main", deposit="0")
    return main, bob


@pytest.mark.slow
def test_payments_new_detail_and_accounts(live_server, celery_worker, rich_accounts, page):
    main, bob = rich_accounts
    failed = watch_responses(page)
    log_in(page, live_server, username="alice", password="alice-password-1")

    page.goto(f"{live_server.url}/payments/new/")
    expect(page.locator("#id_payer option").first).to_contain_text("12,345.67 EUR")
    look_over(page, "payment-new")

    page.select_option("#id_payer", str(main.pk))
    page.fill("#id_payee", str(bob.pk))
    page.fill("#id_amount", "1234.50")
    page.fill("#id_description", "Rent for the flat by the river, November")
    page.click("#payment-form button[type=submit]")
    status = page.locator("#payment-status")
    expect(status).to_have_text("completed", timeout=30_000)
    expect(page.locator("#payment-amount")).to_have_text("1,234.50 EUR")
    assert status.evaluate("el => el.closest('[aria-live]') !== null")
    look_over(page, "payment-detail")

    # completed is green, as ready is: one mapping for every badge
    green = badge_colours(page, "#payment-status")
    page.click("text=All payments")
    account = page.locator(f'[data-account-id="{main.pk}"]')
    expect(account.locator(".balance")).to_have_text("11,111.17 EUR")
    expect(page.locator("#payments tbody tr").first).to_contain_text("1,234.50 EUR")
    assert badge_colours(page, "#payments .state-completed") == green
    look_over(page, "payments")
    assert failed == []


@pytest.fixture
def some_tokens(user):
    for name in ("laptop backup script", "reporting job"):
        tokens.token_create(user=user, name=name)


def test_tokens_and_revoke(live_server, user, some_tokens, page):
    failed = watch_responses(page)
    log_in(page, live_server, username="alice", password="alice-password-1")
    page.goto(f"{live_server.url}/settings/tokens/")
    expect(page.locator("#tokens tbody tr")).to_have_count(2)
    look_over(page, "tokens")

    page.locator("#tokens .revoke").first.click()
    expect(page.locator("main h1")).to_contain_text("Revoke")
    look_over(page, "token-revoke")
    assert failed == []


@pytest.mark.slow
def test_operations_pages_and_the_admin(live_server, operator, failed_delivery, page):
    _notification, task_id = failed_delivery
    failed = watch_responses(page)
    log_in(page, live_server, username="dana", password="dana-password-1")
    page.goto(f"{live_server.url}/operations/")
    expect(page.locator(f'#tasks tr[data-task-id="{task_id}"]')).to_contain_text("FAILURE")
    look_over(page, "operations")

    page.goto(f"{live_server.url}/operations/tasks/{task_id}/")
    expect(page.locator("#task-error")).to_contain_text("DeliveryFailed")
    look_over(page, "operations-task")

    # the confirmation a running task's Terminate… link opens
    page.goto(f"{live_server.url}/operations/tasks/{task_id}/terminate/")
    expect(page.locator("#terminate-confirm")).to_be_visible()
    look_over(page, "operations-terminate")

    # the admin is Django's: its own findings are listed, not ours to fix; its
    # favicon request is answered (no 404 line)
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    findings = look_over(page, "admin", strict=False)
    print("admin:", *findings or ["no findings"], sep="\n  ")
    assert failed == []


@pytest.fixture
def unavailable_html(user):
    """The 503 page (a broker or storage outage) as the middleware renders it."""
    request = RequestFactory().get("/reports/")
    request.user = user
    return render_to_string(
        "mysite/error.html",
        {"message": "The task queue is unavailable right now. Nothing was started."},
        request=request,
    )


def test_unavailable_page(live_server, unavailable_html, page):
    # served as the live server's own page, so its stylesheet and favicon load
    page.route(
        f"{live_server.url}/unavailable/",
        lambda route: route.fulfill(status=503, content_type="text/html", body=unavailable_html),
    )
    failed = watch_responses(page)
    page.goto(f"{live_server.url}/unavailable/")
    expect(page.locator("main h1")).to_have_text("Service unavailable")
    look_over(page, "unavailable")
    assert [line for line in failed if not line.endswith("/unavailable/")] == []
