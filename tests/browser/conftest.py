import os
import shutil

import pytest
from celery import states, uuid
from django_celery_results.models import TaskResult

from notifications.models import Notification
from tests.helpers.browser import CHROMIUM_ARGS
from tests.helpers.services import require, wait_for
from tests.mysite.console_tasks import deliver_notification


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    require(bool(path), "no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)")
    return str(path)


@pytest.fixture(scope="module")
def browser(chromium_path):
    """Debian's Chromium through Playwright, once per test module (a launch
    costs about a second of CPU; a context a third of that)."""
    # Playwright runs an event loop in this thread; the ORM calls pytest-django
    # makes around the tests (flushing tables) are synchronous and safe here.
    # Only while this module runs: the context restores the environment.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def page(browser):
    """A fresh page in a context of its own: no cookie, storage or cache from
    another test."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


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
