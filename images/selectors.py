"""Read-only queries for the image pages and API (``images.api`` shapes the answers)."""

from dataclasses import dataclass

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404

from images.models import Image, ImageBatch


def image_get_owned(*, image_id: int, user) -> Image:
    """The user's image, or 404: another user's image does not exist for them."""
    return get_object_or_404(Image.objects.prefetch_related("renditions"), pk=image_id, owner=user)


def image_list_owned(*, user, statuses=None, ids=None):
    """The user's images, newest first; only those in ``statuses`` / ``ids`` if given."""
    images = Image.objects.filter(owner=user).prefetch_related("renditions")
    if statuses:
        images = images.filter(status__in=statuses)
    if ids:
        images = images.filter(pk__in=ids)
    return images.order_by("-created_at", "-id")


def batch_latest_owned(*, user) -> ImageBatch | None:
    return ImageBatch.objects.filter(owner=user).first()


def batch_get_owned(*, batch_id: int, user) -> ImageBatch:
    return get_object_or_404(ImageBatch, pk=batch_id, owner=user)


@dataclass(frozen=True)
class BatchProgress:
    total: int
    done: int
    failed: int

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total


def batch_progress(*, batch_id: int) -> BatchProgress:
    counts = Image.objects.filter(batch_id=batch_id).aggregate(
        done=Count("id", filter=Q(status=Image.Status.READY)),
        failed=Count("id", filter=Q(status=Image.Status.FAILED)),
    )
    total = ImageBatch.objects.values_list("total", flat=True).get(pk=batch_id)
    return BatchProgress(total=total, done=counts["done"], failed=counts["failed"])


def batch_status(batch: ImageBatch) -> dict:
    progress = batch_progress(batch_id=batch.pk)
    return {
        "id": batch.pk,
        "total": progress.total,
        "done": progress.done,
        "failed": progress.failed,
        "finished": batch.finished_at is not None,
    }
