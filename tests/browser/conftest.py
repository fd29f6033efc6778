import os
import shutil

import pytest

from tests.helpers.browser import CHROMIUM_ARGS
from tests.helpers.services import require


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    require(bool(path), "no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)")
    return path


@pytest.fixture
def page(chromium_path, monkeypatch):
    """A fresh Playwright page in Debian's Chromium."""
    # Playwright runs an event loop in this thread; the ORM calls pytest-django
    # makes around the test (flushing tables) are synchronous and safe here.
    # Only for this test: monkeypatch restores the environment afterwards.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page()
        yield page
        browser.close()
