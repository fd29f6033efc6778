"""What of the images app can be left in flight, for the sweep (mysite/sweep.py)."""

from django.db.models import Q
from django.db.models.functions import Now

from images.models import Image, ImageBatch
from mysite.enqueue import enqueue
from mysite.sweep import Sweep, unfinished_with_none_in_flight


def images_requeue(images: list[Image]) -> None:
    """Process each image again, under its own task id (a batch's image: a new one).

    Each goes back to pending: one left processing was claimed longer ago
    than a run can live (IMAGES_SWEEP_AFTER is above IMAGES_CLAIM_SECONDS),
    so its run is dead and the claim is released. ``updated_at`` moves, so
    the next sweep waits its full period again.
    """
    from images.tasks import process_image

    for image in images:
        image.task_id = enqueue(process_image, args=[image.pk], task_id=image.task_id or None)
    Image.objects.bulk_update(images, ["task_id"])
    Image.objects.filter(pk__in=[image.pk for image in images]).update(
        status=Image.Status.PENDING, updated_at=Now()
    )


def batches_finish(batches: list[ImageBatch]) -> None:
    """Run the chord callback of each batch whose images are all final: the
    chord's own callback was lost (its worker died, the broker was down)."""
    from images.tasks import batch_finish

    for batch in batches:
        enqueue(batch_finish, args=[batch.pk])


IN_FLIGHT = Q(status__in=[Image.Status.PENDING, Image.Status.PROCESSING])

SWEEPS = [
    Sweep(
        model="images.Image",
        in_flight=IN_FLIGHT,
        since="updated_at",
        after="IMAGES_SWEEP_AFTER",
        requeue=images_requeue,
        task="images.tasks.process_image",
    ),
    Sweep(
        model="images.ImageBatch",
        # Its images in flight are swept above.
        in_flight=unfinished_with_none_in_flight(Image.objects.filter(IN_FLIGHT), parent="batch"),
        since="created_at",
        after="IMAGES_SWEEP_AFTER",
        requeue=batches_finish,
        task="images.tasks.batch_finish",
    ),
]
