from datetime import timedelta

import pytest
from django.core.checks import run_checks

from mysite.celery import app as celery_app


@pytest.fixture
def registered():
    """Register a throwaway task for one test."""
    names = []

    def register(name, **options):
        def body():
            """Never runs: only its options are checked."""

        celery_app.task(name=name, **options)(body)
        names.append(name)

    yield register
    for name in names:
        celery_app.tasks.unregister(name)


def test_the_project_passes_its_checks():
    assert [e.id for e in run_checks() if e.id.startswith("mysite.")] == []


def test_a_time_limit_beyond_the_visibility_timeout_is_an_error(registered, settings):
    registered("tests.too_long", time_limit=settings.TASK_VISIBILITY_TIMEOUT + 1)

    errors = [e for e in run_checks() if e.id == "mysite.E001"]

    assert [e.msg.split(" has ")[0] for e in errors] == ["Task tests.too_long"]


def test_a_soft_limit_above_the_hard_one_is_an_error(registered):
    registered("tests.soft_above_hard", time_limit=10, soft_time_limit=20)

    errors = [e for e in run_checks() if e.id == "mysite.E002"]

    assert [e.msg for e in errors] == [
        "Task tests.soft_above_hard has soft time limit 20 above its hard limit 10."
    ]


def test_a_sweep_that_could_catch_a_live_run_is_an_error(settings):
    # given: notifications counted as stuck before a send may have ended (60 s)
    settings.NOTIFICATIONS_SWEEP_AFTER = timedelta(seconds=60)
    settings.IMAGES_CLAIM_SECONDS = 10

    errors = [e for e in run_checks() if e.id in {"mysite.E003", "mysite.E004"}]

    assert [(e.id, e.msg.split(" ")[0]) for e in errors] == [
        ("mysite.E003", "NOTIFICATIONS_SWEEP_AFTER"),  # single sends
        ("mysite.E003", "NOTIFICATIONS_SWEEP_AFTER"),  # broadcast chunks
        ("mysite.E004", "IMAGES_CLAIM_SECONDS"),
    ]
