"""Read-only queries for the image pages and API."""

from django.shortcuts import get_object_or_404
from django.urls import reverse

from images.models import Image, ImageBatch
from images.services import batch_progress


def image_get_owned(*, image_id: int, user) -> Image:
    """The user's image, or 404: another user's image does not exist for them."""
    return get_object_or_404(Image.objects.prefetch_related("renditions"), pk=image_id, owner=user)


def image_list_owned(*, user):
    return Image.objects.filter(owner=user).prefetch_related("renditions")


def batch_latest_owned(*, user) -> ImageBatch | None:
    return ImageBatch.objects.filter(owner=user).first()


def image_status(image: Image) -> dict:
    """What the API and the live gallery show of an image."""
    return {
        "id": image.pk,
        "status": image.status,
        "error": image.error,
        "original_name": image.original_name,
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "bytes": image.bytes,
        "task_id": image.task_id,
        "status_url": reverse("images:api-detail", args=[image.pk]),
        "detail_url": image.get_absolute_url(),
        "renditions": {
            rendition.spec: {
                "url": rendition.get_absolute_url(),
                "format": rendition.format,
                "width": rendition.width,
                "height": rendition.height,
                "bytes": rendition.bytes,
            }
            for rendition in image.renditions.all()
        },
    }


def batch_status(batch: ImageBatch) -> dict:
    progress = batch_progress(batch_id=batch.pk)
    return {
        "id": batch.pk,
        "total": progress.total,
        "done": progress.done,
        "failed": progress.failed,
        "finished": batch.finished_at is not None,
    }
