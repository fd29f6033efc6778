import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.look import screenshot
from tests.helpers.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def status_with(live_server, token: str) -> int:
    """What ``GET /api/v1/tasks/`` answers a program sending ``token``."""
    request = urllib.request.Request(  # noqa: S310  (the live server on loopback)
        f"{live_server.url}/api/v1/tasks/", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_token_is_created_shown_once_used_and_revoked(live_server, user, page):
    # given: alice opens her API tokens from the header
    log_in(page, live_server, username="alice", password="alice-password-1")
    page.click("#tokens-link")
    expect(page.locator("h1")).to_have_text("API tokens")
    expect(page.locator("#tokens")).to_contain_text("You have no API tokens yet: create one above")

    # when: she makes one
    page.fill("#id_name", "backup script")
    page.click("#token-create")

    # then: it is shown once, with the warning, and works for a program
    expect(page.locator("#new-token-note")).to_contain_text("it will not be shown again")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("mysite_")
    row = page.locator("#tokens tbody tr", has_text="backup script")
    expect(row).to_contain_text(f"{token[:12]}…")
    expect(row).to_contain_text("active")
    screenshot(page, "token-created")
    assert status_with(live_server, token) == 200

    # and never again: the list shows its first characters only
    page.goto(f"{live_server.url}/settings/tokens/")
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()
    expect(row.locator("td:nth-child(4)")).not_to_have_text("never")  # used: a time

    # when: she revokes it, confirming
    row.locator("button.revoke").click()
    expect(page.locator("h1")).to_have_text("Revoke “backup script”?")
    page.click("#revoke-confirm")

    # then: the list says so, and the program is refused
    expect(page.locator(".notice")).to_contain_text("programs using it now get 401")
    expect(row).to_contain_text("revoked")
    expect(row.locator("button.revoke")).to_have_count(0)
    assert status_with(live_server, token) == 401


def test_a_token_without_a_name_is_a_form_error(live_server, user, page):
    log_in(page, live_server, username="alice", password="alice-password-1")
    page.goto(f"{live_server.url}/settings/tokens/")

    page.fill("#id_name", "   ")
    page.click("#token-create")

    expect(page.locator("#token-form .error")).to_contain_text("Give the token a name")
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("#tokens")).to_contain_text("You have no API tokens yet: create one above")
