from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reports.models import Order
from tests.helpers.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def last_months_orders():
    first_of_month = timezone.localtime().replace(day=1, hour=12, minute=0, second=0)
    for days_back, amount in [(3, "10.00"), (10, "32.50")]:
        Order.objects.create(
            created_at=first_of_month - timedelta(days=days_back),
            amount=Decimal(amount),
            channel="web",
        )


# Rows are made in fixtures listed before `page`: once Playwright runs, the ORM
# in this thread would open a connection nobody closes.
def test_generate_a_report_from_the_page_and_see_the_chart(
    live_server, celery_worker, staff_user, last_months_orders, page, media
):
    # given: staff, and last month's sales
    log_in(page, live_server, username="carol", password="carol-password-1")

    # when: they ask for the monthly report
    page.goto(f"{live_server.url}/reports/")
    page.select_option("#id_period", "monthly")
    page.click("#generate-form button[type=submit]")

    # then: the page follows the report until its chart and summary show
    chart = page.locator("#chart")
    expect(chart).to_be_visible(timeout=30_000)
    assert chart.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1000
    expect(page.locator("#total-sales")).to_have_text("42.50 EUR")
    expect(page.locator("#csv-link")).to_be_visible()

    # and the totals and the channels are two tables, each under its heading
    expect(page.locator("#summary h3")).to_have_text(["Totals", "By channel"])
    expect(page.locator("#by-channel thead th")).to_have_text(["Channel", "Sales", "Orders"])
    expect(page.locator("#by-channel tbody tr")).to_have_count(1)
    expect(page.locator("#by-channel tbody tr > *")).to_have_text(["web", "42.50 EUR", "2"])
    expect(page.locator("#totals")).not_to_contain_text("web")

    # and both "Download" links download (attachments), not open in the tab
    for link, extension in (("#csv-link", ".csv"), ("#chart-link", ".png")):
        with page.expect_download() as download:
            page.click(link)
        assert download.value.suggested_filename.endswith(extension), link


def test_bad_dates_get_a_form_error(live_server, staff_user, page):
    log_in(page, live_server, username="carol", password="carol-password-1")

    page.goto(f"{live_server.url}/reports/")
    page.select_option("#id_period", "custom")
    page.fill("#id_start", "2026-05-02")
    page.fill("#id_end", "2026-05-01")
    page.click("#generate-form button[type=submit]")

    expect(page.locator("#generate-errors")).to_contain_text("is after the end date")


def test_a_weekly_report_says_which_week_before_and_after_it_is_queued(
    live_server, staff_user, page, media
):
    # given: a Wednesday at least two weeks back, and its Monday-to-Sunday week
    day = timezone.localdate() - timedelta(days=14)
    wednesday = day - timedelta(days=(day.weekday() - 2) % 7)
    monday, sunday = wednesday - timedelta(days=2), wednesday + timedelta(days=4)
    log_in(page, live_server, username="carol", password="carol-password-1")

    # when: staff pick a weekly report starting on that Wednesday
    page.goto(f"{live_server.url}/reports/")
    page.select_option("#id_period", "weekly")
    page.fill("#id_start", wednesday.isoformat())

    # then: before anything is queued, the form says which week that is
    expect(page.locator("#period-note")).to_have_text(
        f"The report covers the week of Monday {monday} to Sunday {sunday}."
    )

    # and once queued, the report's page says it too, and is that week's
    page.click("#generate-form button[type=submit]")
    expect(page.locator(".notice")).to_have_text(
        f"Wednesday {wednesday} is in the week of Monday {monday} to Sunday {sunday}: "
        "the report covers that week."
    )
    expect(page.locator("h1")).to_have_text(f"Weekly sales {monday} to {sunday}")

    # and a monthly one says its month; a custom one needs no note
    page.goto(f"{live_server.url}/reports/")
    page.select_option("#id_period", "monthly")
    page.fill("#id_start", "2026-02-11")
    expect(page.locator("#period-note")).to_have_text(
        "The report covers the month, 2026-02-01 to 2026-02-28."
    )
    page.select_option("#id_period", "custom")
    expect(page.locator("#period-note")).to_have_text("")
