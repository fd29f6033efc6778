import pytest
from playwright.sync_api import expect

from mysite.api.v1 import api

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_shows_every_operation_from_our_own_files(live_server, page):
    # given: every request the page makes, by host
    hosts = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    schema = api.get_openapi_schema()
    operations = sum(len(item) for item in schema["paths"].values())

    # when
    page.goto(f"{live_server.url}/api/v1/docs")

    # then: Swagger UI lists every operation, and nothing came from another host
    expect(page.locator(".opblock")).to_have_count(operations)
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/payments/").first
    ).to_be_visible()
    assert hosts == {live_server.url.split("/")[2]}
