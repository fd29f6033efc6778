"""Images through the real worker: renditions on disk, batches through a chord, the command."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image as PILImage

from images import services
from images.models import Image, ImageBatch, Rendition
from tests.helpers.factories import picture, upload
from tests.helpers.services import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EXPECTED = {
    "thumbnail": ("JPEG", (150, 112)),  # fits inside 150x150, the whole 4:3 picture
    "display": ("JPEG", (800, 600)),
    "watermarked": ("JPEG", (800, 600)),
    "webp": ("WEBP", (1600, 1200)),
}


def wait_status(image_id: int, *statuses: str) -> Image:
    return wait_for(
        lambda: Image.objects.filter(pk=image_id, status__in=statuses).first(),
        what=f"image {image_id} to be {' or '.join(statuses)}",
    )


def test_api_upload_becomes_renditions_on_disk(client, user, celery_worker, media):
    # given
    client.force_login(user)

    # when
    response = client.post(
        reverse("api-v1:image-upload"),
        {"file": upload(picture("RGB", (2400, 1800)), name="holiday.jpg")},
    )
    [created] = response.json()["images"]
    image = wait_status(created["id"], "ready", "failed")

    # then: every rendition exists, with the right format and size, on disk
    assert image.status == "ready", image.error
    renditions = {r.spec: r for r in image.renditions.all()}
    assert set(renditions) == set(EXPECTED)
    for spec, (image_format, size) in EXPECTED.items():
        rendition = renditions[spec]
        data = media.read(rendition.file.name)
        with PILImage.open(io.BytesIO(data)) as stored:
            assert (stored.format, stored.size) == (image_format, size), spec
        assert (rendition.width, rendition.height) == size
        assert rendition.bytes == len(data)

    body = client.get(created["status_url"]).json()
    assert body["status"] == "ready"
    assert body["renditions"]["thumbnail"]["width"] == 150
    download = client.get(body["renditions"]["webp"]["url"])
    assert download.status_code == 200
    assert PILImage.open(io.BytesIO(b"".join(download.streaming_content))).format == "WEBP"


def test_reprocessing_replaces_renditions(user, celery_worker, media):
    [image], _ = services.images_upload(owner=user, uploads=[upload(picture())])
    wait_status(image.pk, "ready")
    first = {r.spec: r.file.name for r in Rendition.objects.filter(image=image)}

    # when: the same work runs again (a redelivery, or --all)
    services.image_process(image_id=image.pk)

    # then: the same files, no second set
    assert {r.spec: r.file.name for r in Rendition.objects.filter(image=image)} == first
    folder = f"images/renditions/{image.pk}"
    assert media.names(folder) == [
        f"{folder}/{name}"
        for name in ["display.jpg", "thumbnail.jpg", "watermarked.jpg", "webp.webp"]
    ]


def test_an_undecodable_original_fails_with_a_reason_and_no_retry(user, celery_worker, media):
    # given: a stored original that went bad after the upload was checked
    [image], _ = services.images_upload(owner=user, uploads=[upload(picture())])
    wait_status(image.pk, "ready")
    media.write(image.original.name, b"not an image any more")

    # when
    result = services.images_process_batch(images=[image])

    # then
    failed = wait_status(image.pk, "failed")
    assert "could not be decoded" in failed.error
    batch = wait_for(
        lambda: ImageBatch.objects.filter(pk=result.pk, finished_at__isnull=False).first(),
        what="batch to finish",
    )
    assert (batch.total, batch.done, batch.failed) == (1, 0, 1)


def test_a_batch_runs_through_the_chord(client, user, celery_worker):
    # given: several pictures uploaded at once from the page
    client.force_login(user)
    files = [
        upload(picture("RGB", (900, 700)), name="a.jpg"),
        upload(picture("RGBA", (500, 500), "PNG"), name="b.png"),
        upload(picture("P", (300, 200), "GIF"), name="c.gif"),
    ]

    # when
    response = client.post(reverse("images:upload"), {"files": files})

    # then: one batch, recorded by the chord callback once all three are ready
    assert response.status_code == 302
    batch = ImageBatch.objects.get()
    finished = wait_for(
        lambda: ImageBatch.objects.filter(pk=batch.pk, finished_at__isnull=False).first(),
        what="batch callback",
    )
    assert (finished.total, finished.done, finished.failed) == (3, 3, 0)
    assert set(Image.objects.values_list("status", flat=True)) == {"ready"}
    status = client.get(reverse("api-v1:batch-get", args=[batch.pk])).json()
    assert status == {"id": batch.pk, "total": 3, "done": 3, "failed": 0, "finished": True}


def test_command_processes_pending_images_and_waits(user, celery_worker, capsys):
    # given: images stored without being queued (e.g. imported)
    for name in ("x.jpg", "y.jpg"):
        [image], _ = services.images_upload(owner=user, uploads=[upload(picture(), name=name)])
        wait_status(image.pk, "ready")
    Image.objects.update(status=Image.Status.PENDING)

    # when
    call_command("process_images", "--wait")

    # then
    out = capsys.readouterr().out
    assert "2 images queued" in out
    assert "finished: 2 done, 0 failed of 2." in out
    assert set(Image.objects.values_list("status", flat=True)) == {"ready"}


def test_command_refuses_unknown_ids_and_mixed_options(user):
    with pytest.raises(CommandError, match="No image with id 12345"):
        call_command("process_images", "12345")
    with pytest.raises(CommandError, match="not both"):
        call_command("process_images", "1", "--all")
    assert ImageBatch.objects.count() == 0


def test_command_with_nothing_pending_says_so(capsys):
    call_command("process_images")

    assert capsys.readouterr().out == "Nothing to process.\n"
