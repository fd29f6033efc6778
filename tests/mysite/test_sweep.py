"""One sweep for every app: rows in flight too long are queued again, once.

The end-to-end tests make work while the broker is down (each app's row is
saved, nothing is published), bring the broker back and run the sweep: the
session's real worker finishes everything. The unit tests look at what one
sweep picks and what it leaves alone.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from images import services as image_services
from images.models import Image, ImageBatch
from mysite.enqueue import unpublished
from mysite.sweep import sweep, sweeps
from notifications import services as notification_services
from notifications.models import Broadcast, Channel, Notification
from reports import services as report_services
from reports.models import Report
from tests.helpers.factories import picture, upload
from tests.helpers.services import require, wait_for, waiting_for_a_lock

pytestmark = pytest.mark.usefixtures("media")

ALL_AT_ONCE = {
    "IMAGES_SWEEP_AFTER": timedelta(0),
    "REPORTS_SWEEP_AFTER": timedelta(0),
    "NOTIFICATIONS_SWEEP_AFTER": timedelta(0),
    "PAYMENTS_SWEEP_AFTER": timedelta(0),
}


@pytest.fixture
def sweep_now(settings):
    """Every row in flight counts as stuck at once."""
    for name, value in ALL_AT_ONCE.items():
        setattr(settings, name, value)


def test_every_app_declares_what_it_sweeps():
    assert [entry.model for entry in sweeps()] == [
        "images.Image",
        "images.ImageBatch",
        "reports.Report",
        "notifications.Notification",
        "notifications.Broadcast",
        "payments.Payment",
    ]


@pytest.mark.django_db(transaction=True)
def test_work_saved_while_the_broker_was_down_is_finished_after_one_sweep(
    user, staff_user, broker_down, celery_worker, sweep_now
):
    # given: every app's work is asked for while the broker is down
    _, batch = image_services.images_upload(
        owner=user, uploads=[upload(picture()), upload(picture())]
    )
    report = report_services.report_request(period="daily", user=staff_user)
    single = notification_services.notification_send(
        recipient=user, channel=Channel.IN_APP, body="Hello"
    )
    broadcast = notification_services.broadcast_send(
        audience="all", channel=Channel.IN_APP, body="To all"
    )

    # then: all of it is saved, in flight, and known as not published
    assert len(unpublished()) == 4
    assert Image.objects.filter(status="pending").count() == 2
    assert Report.objects.get(pk=report.pk).status == "pending"
    assert Notification.objects.filter(status="queued").count() == 3

    # when: the broker is back and the sweep runs once
    broker_down.end()
    swept = sweep()

    # then: each row was queued once and every app's work ends final
    assert sorted(swept["images.Image"]) == sorted(batch.images.values_list("pk", flat=True))
    assert swept["reports.Report"] == [report.pk]
    assert len(swept["notifications.Notification"]) == 3
    wait_for(lambda: Image.objects.filter(status="ready").count() == 2, what="the images")
    wait_for(
        lambda: Report.objects.filter(pk=report.pk, status="ready").exists(), what="the report"
    )
    asked_for = Notification.objects.filter(Q(pk=single.pk) | Q(broadcast=broadcast))
    wait_for(lambda: asked_for.filter(status="sent").count() == 3, what="the notifications")
    # The batch's chord callback was never published: the next sweep finishes it
    # (once the report's "ready" message, sent by its task, has gone out too).
    assert "images.ImageBatch" not in swept
    wait_for(
        lambda: not Notification.objects.filter(status__in=["queued", "sending"]).exists(),
        what="every notification to go out",
    )
    assert sweep() == {"images.ImageBatch": [batch.pk]}
    finished = wait_for(
        lambda: ImageBatch.objects.filter(pk=batch.pk, finished_at__isnull=False).first(),
        what="the batch to finish",
    )
    assert (finished.done, finished.failed) == (2, 0)
    broadcast.refresh_from_db()
    assert (broadcast.sent, broadcast.total) == (2, 2)
    assert broadcast.finished_at is not None
    # The report was made under the task id its page polls.
    assert Report.objects.get(pk=report.pk).task_id == report.task_id
    assert single.task_id == Notification.objects.get(pk=single.pk).task_id


@pytest.mark.django_db
def test_the_sweep_leaves_fresh_and_finished_rows_alone(
    user, settings, django_capture_on_commit_callbacks
):
    # given: one image stuck for an hour, one just uploaded, one ready long ago
    settings.IMAGES_SWEEP_AFTER = timedelta(minutes=15)
    stuck, _fresh, ready = (
        image_services.images_upload(owner=user, uploads=[upload(picture())])[0][0]
        for _ in range(3)
    )
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Image.objects.filter(pk__in=[stuck.pk, ready.pk]).update(updated_at=an_hour_ago)
    Image.objects.filter(pk=ready.pk).update(status="ready")

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        swept = sweep()

    # then: only the stuck one, under the task id it had; then it waits a full period again
    assert swept == {"images.Image": [stuck.pk]}
    assert len(callbacks) == 1
    stuck.refresh_from_db()
    assert stuck.updated_at > an_hour_ago
    assert Image.objects.get(pk=stuck.pk).task_id == stuck.task_id
    assert sweep() == {}


@pytest.mark.django_db(transaction=True)
def test_a_row_a_run_holds_is_skipped_not_waited_for(user, settings, celery_worker):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    # given: a stuck report whose row another transaction holds
    settings.REPORTS_SWEEP_AFTER = timedelta(0)
    with transaction.atomic():
        report = Report.objects.create(
            period="daily", start_date="2026-01-05", end_date="2026-01-05"
        )
    held, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            Report.objects.select_for_update().get(pk=report.pk)
            held.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(10)
        # when
        swept = sweep()
        # then: nothing waited on the lock, and the held row was left for the next run
        assert waiting_for_a_lock() == 0
        assert "reports.Report" not in swept
    finally:
        release.set()
        holder.join()
    assert sweep()["reports.Report"] == [report.pk]
    wait_for(lambda: Report.objects.filter(pk=report.pk, status="ready").exists())


@pytest.mark.django_db
def test_an_image_a_run_is_processing_is_not_processed_by_a_second_run(user, settings):
    # given: a run claimed the image a moment ago
    [image], _ = image_services.images_upload(owner=user, uploads=[upload(picture())])
    assert image_services.image_claim(image_id=image.pk)

    # when: a redelivery (or `process_images --all`) processes it meanwhile
    second = image_services.image_process(image_id=image.pk)

    # then: it left the image to the first run
    assert second.status == "processing"
    assert second.renditions.count() == 0
    assert not image_services.image_claim(image_id=image.pk)

    # when: the first run's claim is older than a run can live (it died)
    settings.IMAGES_CLAIM_SECONDS = 0

    # then: the next run takes the image over and finishes it
    assert image_services.image_process(image_id=image.pk).status == "ready"


@pytest.mark.django_db
def test_a_broadcast_whose_last_count_was_lost_is_finished_by_the_sweep(user, sweep_now):
    # given: every notification of the broadcast went out, its count never ran
    broadcast = notification_services.broadcast_send(
        audience="all", channel=Channel.IN_APP, body="Hi"
    )
    Notification.objects.filter(broadcast=broadcast).update(status="sent")
    assert Broadcast.objects.get(pk=broadcast.pk).finished_at is None

    # when
    swept = sweep()

    # then
    assert swept == {"notifications.Broadcast": [broadcast.pk]}
    finished = Broadcast.objects.get(pk=broadcast.pk)
    assert (finished.sent, finished.total) == (1, 1)
    assert finished.finished_at is not None
