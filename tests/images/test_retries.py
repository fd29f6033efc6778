"""Transient storage errors retry with backoff; a storage that keeps failing fails the image."""

import pytest
from django_celery_results.models import TaskResult

from images import services
from images.models import Image
from images.tasks import process_image
from mysite.retry import RETRY_MAX_SECONDS, retry_delay
from tests.helpers.factories import picture, upload
from tests.helpers.services import wait_for


@pytest.mark.parametrize("retries", [0, 1, 3, 20])
def test_retry_delay_grows_with_jitter_and_stays_capped(retries, settings):
    ceiling = min(2 * 2**retries, RETRY_MAX_SECONDS)

    delays = [retry_delay(retries) for _ in range(200)]

    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1  # jittered
    assert max(delays) < settings.TASK_VISIBILITY_TIMEOUT


@pytest.mark.django_db(transaction=True)
def test_a_storage_hiccup_is_retried_and_the_image_gets_ready(user, celery_worker, flaky_storage):
    flaky_storage["failures_left"] = 1

    [image], _ = services.images_upload(owner=user, uploads=[upload(picture())])

    ready = wait_for(
        lambda: Image.objects.filter(pk=image.pk, status="ready").first(),
        what="the image to be ready after a retry",
    )
    assert ready.error == ""
    assert flaky_storage["failures_left"] == 0
    assert ready.renditions.count() == 4


@pytest.mark.django_db(transaction=True)
def test_when_retries_run_out_the_image_fails_with_the_reason(
    user, celery_worker, flaky_storage, monkeypatch
):
    # given: a storage that keeps failing, and a task allowed one retry
    flaky_storage["failures_left"] = 10**6
    monkeypatch.setattr(process_image, "max_retries", 1)

    # when
    [image], _ = services.images_upload(owner=user, uploads=[upload(picture())])

    # then: the project task class gave up and marked the row failed, saying why
    failed = wait_for(
        lambda: Image.objects.filter(pk=image.pk, status="failed").first(),
        what="the image to fail after its retry",
    )
    assert failed.error.startswith("Gave up after 1 retries: StorageUnavailable: could not write")
    assert wait_for(
        lambda: TaskResult.objects.filter(task_id=failed.task_id, status="FAILURE").exists(),
        what="the task's result to say FAILURE",
    )
