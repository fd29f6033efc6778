"""Images: uploads in, renditions out. Plain functions; tasks and views call them."""

import logging
import os
from datetime import timedelta

from celery import chord, group
from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from images import imaging, selectors
from images.models import Image, ImageBatch, Rendition, original_path
from mysite.enqueue import enqueue
from mysite.errors import Rejected
from mysite.storage import file_delete, file_read, file_replace, file_save

logger = logging.getLogger(__name__)


class ImageRejected(Rejected):
    """An upload we refuse; the message is for the person who sent it.

    Its ``kind``: too_large, unsupported (not an image of a format we take),
    else invalid.
    """

    code = "image_rejected"

    def __init__(self, message: str, *, kind: str = "invalid", reasons: list[str] | None = None):
        super().__init__(message, kind=kind)
        self.reasons = reasons or [message]  # one line per bad file, for a form's error list


def rendition_specs() -> list[imaging.Spec]:
    watermark = settings.IMAGE_WATERMARK
    return [
        imaging.Spec(
            name=spec["name"],
            op=spec["op"],
            width=spec["size"][0],
            height=spec["size"][1],
            format=spec["format"],
            watermark_text=watermark["text"] if spec["op"] == "watermark" else "",
            watermark_position=watermark["position"],
        )
        for spec in settings.IMAGE_RENDITIONS
    ]


def images_upload(*, owner, uploads: list) -> tuple[list[Image], ImageBatch | None]:
    """Check uploaded files, store them and queue their processing.

    Every file is checked from its content before anything is written; one bad
    file rejects them all (``ImageRejected`` names every bad one). One image is one task;
    several are a batch (a chord). File names are kept for display only. With
    the broker down the images are kept, pending, for the sweep.
    """
    from images.tasks import process_image as process_image_task  # tasks import services

    if not uploads:
        raise ImageRejected("Choose at least one image.")
    if len(uploads) > settings.IMAGE_MAX_FILES:
        raise ImageRejected(
            f"{len(uploads)} files: at most {settings.IMAGE_MAX_FILES} are accepted at once."
        )
    checked, refused = [], []
    for upload in uploads:
        try:
            checked.append((upload, _checked(upload)))
        except ImageRejected as exc:
            refused.append(exc)
    if refused:  # all of them, so a person can fix every file in one go
        raise ImageRejected(
            " ".join(str(exc) for exc in refused),
            kind=refused[0].kind,
            reasons=[str(exc) for exc in refused],
        )
    images: list[Image] = []
    batch = None
    try:
        with transaction.atomic():
            for upload, (data, found) in checked:
                images.append(_image_store(owner, upload.name, data, found))
            if len(images) == 1:
                image = images[0]
                image.task_id = enqueue(process_image_task, args=[image.pk], user=owner)
                image.save(update_fields=["task_id"])
            else:
                batch = images_process_batch(images=images, owner=owner)
    except BaseException:
        for image in images:  # the rows rolled back: no orphaned files either
            file_delete(image.original.name or "")
        raise
    return images, batch


def _display_name(name: str | None) -> str:
    """The last part of a client's file name, for display only (never a path)."""
    return os.path.basename((name or "").replace("\\", "/")).strip()[:255] or "upload"


def _checked(upload) -> tuple[bytes, imaging.Probe]:
    name = _display_name(upload.name)
    if upload.size > settings.IMAGE_MAX_UPLOAD_BYTES:
        limit_mib = settings.IMAGE_MAX_UPLOAD_BYTES / 1024 / 1024
        raise ImageRejected(
            f"{name}: the file is larger than {limit_mib:.0f} MiB.", kind="too_large"
        )
    data = upload.read()
    try:
        found = imaging.probe(
            data,
            allowed_formats=settings.IMAGE_ALLOWED_FORMATS,
            max_pixels=settings.IMAGE_MAX_PIXELS,
        )
    except imaging.UnreadableImage as exc:
        raise ImageRejected(f"{name}: {exc}", kind=_REFUSAL_KIND.get(type(exc), "invalid")) from exc
    return data, found


_REFUSAL_KIND = {imaging.UnsupportedFormat: "unsupported", imaging.TooManyPixels: "too_large"}


def _image_store(owner, name: str | None, data: bytes, found: imaging.Probe) -> Image:
    image = Image(
        owner=owner,
        original_name=_display_name(name),
        format=found.format,
        width=found.width,
        height=found.height,
        bytes=len(data),
    )
    extension = imaging.EXTENSIONS[found.format]
    image.original.name = file_save(original_path(image, f"original.{extension}"), data)
    try:
        image.save()
    except BaseException:
        file_delete(image.original.name)  # the caller never learns of this image
        raise
    return image


def image_delete(*, image: Image) -> None:
    """Delete an image and its renditions; their files go once the deletion commits
    (``mysite.storage.delete_files_with_rows``, through ``default_storage``)."""
    with transaction.atomic():
        image.delete()


# The hard time limit of processing one image (the task's): a claim older than
# this belongs to a run that is dead, so another may take the image over.
PROCESS_TIME_LIMIT = 5 * 60


def image_claim(*, image_id: int) -> bool:
    """Mark the image processing, unless another run is processing it now.

    One conditional UPDATE (a compare-and-set on status, timed by the
    database's clock): of two runs at once, one wins; the other leaves the
    image alone. A claim older than IMAGES_CLAIM_SECONDS (the task's time
    limit) is a dead run's and is taken over.
    """
    lease = timedelta(seconds=settings.IMAGES_CLAIM_SECONDS)
    claimed = (
        Image.objects.filter(pk=image_id)
        .exclude(status=Image.Status.PROCESSING, updated_at__gt=Now() - lease)
        .update(status=Image.Status.PROCESSING, error="", updated_at=Now())
    )
    return claimed == 1


def image_process(*, image_id: int) -> Image:
    """Make every rendition of one image, replacing earlier ones. Safe to run twice.

    The run claims the image first (``image_claim``): while one run works on
    it, another returns at once. An undecodable original marks the image
    failed (final). Storage errors raise ``mysite.storage.StorageUnavailable``
    for the task to retry.
    """
    if not image_claim(image_id=image_id):
        logger.info("image %s is being processed by another run", image_id)
        return Image.objects.get(pk=image_id)
    try:
        return _image_render(Image.objects.get(pk=image_id))
    except BaseException:
        # Let go of the claim: the retry (or the sweep) takes the image up again.
        Image.objects.filter(pk=image_id, status=Image.Status.PROCESSING).update(
            status=Image.Status.PENDING, updated_at=Now()
        )
        raise


def _image_render(image: Image) -> Image:
    image_id = image.pk
    try:
        data = file_read(image.original.name or "")
    except FileNotFoundError:
        return image_fail(image_id=image_id, reason="The original file is missing.")

    try:
        rendered = imaging.render(data, rendition_specs())
    except imaging.UnreadableImage as exc:
        return image_fail(image_id=image_id, reason=str(exc))

    for item in rendered:
        _rendition_save(image, item)
    Image.objects.filter(pk=image_id).update(status=Image.Status.READY, error="", updated_at=Now())
    image.refresh_from_db()
    logger.info("image %s ready: %s renditions", image_id, len(rendered))
    return image


def _rendition_save(image: Image, item: imaging.Rendered) -> Rendition:
    path = f"images/renditions/{image.pk}/{item.spec.name}.{imaging.EXTENSIONS[item.spec.format]}"
    stored = file_replace(path, item.data)
    rendition, _ = Rendition.objects.update_or_create(
        image=image,
        spec=item.spec.name,
        defaults={
            "format": item.spec.format,
            "width": item.width,
            "height": item.height,
            "bytes": len(item.data),
            "file": stored,
        },
    )
    return rendition


def image_fail(*, image_id: int, reason: str) -> Image:
    logger.warning("image %s failed: %s", image_id, reason)
    Image.objects.filter(pk=image_id).update(
        status=Image.Status.FAILED, error=reason, updated_at=Now()
    )
    return Image.objects.get(pk=image_id)


def images_process_batch(*, images: list[Image], owner=None) -> ImageBatch:
    """Process ``images`` as one batch: a group of tasks with a chord callback."""
    from images.tasks import batch_finish as batch_finish_task
    from images.tasks import process_image as process_image_task

    if not images:
        raise ImageRejected("There are no images to process.")
    with transaction.atomic():
        batch = ImageBatch.objects.create(owner=owner, total=len(images))
        ids = [image.pk for image in images]
        Image.objects.filter(pk__in=ids).update(
            batch=batch, status=Image.Status.PENDING, error="", updated_at=Now()
        )
        work = chord(
            group(process_image_task.si(image_id) for image_id in ids),
            batch_finish_task.si(batch.pk),
        )
        batch.task_id = enqueue(work, user=owner)  # its owner may follow it (tasks API)
        batch.save(update_fields=["task_id"])
    return batch


def batch_finish(*, batch_id: int) -> ImageBatch:
    """The chord callback: record how the batch ended."""
    progress = selectors.batch_progress(batch_id=batch_id)
    ImageBatch.objects.filter(pk=batch_id).update(
        done=progress.done, failed=progress.failed, finished_at=timezone.now()
    )
    return ImageBatch.objects.get(pk=batch_id)
