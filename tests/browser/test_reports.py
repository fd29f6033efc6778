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
    expect(page.locator("#total-sales")).to_have_text("42.50")
    expect(page.locator("#csv-link")).to_be_visible()


def test_bad_dates_get_a_form_error(live_server, staff_user, page):
    log_in(page, live_server, username="carol", password="carol-password-1")

    page.goto(f"{live_server.url}/reports/")
    page.select_option("#id_period", "custom")
    page.fill("#id_start", "2026-05-02")
    page.fill("#id_end", "2026-05-01")
    page.click("#generate-form button[type=submit]")

    expect(page.locator("#generate-errors")).to_contain_text("is after the end date")
