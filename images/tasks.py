"""Celery tasks of the images app: thin, they call services.

Routed to the `images` queue by CELERY_TASK_ROUTES.
"""

from celery import shared_task
from django.db.models import Q

from images import services
from images.models import Image
from mysite.storage import StorageUnavailable
from mysite.taskbase import WorkRow


@shared_task(
    bind=True,
    transient=(StorageUnavailable,),
    max_retries=5,
    row=WorkRow(
        "images.Image",
        arg="image_id",
        done=Q(status=Image.Status.READY),
        reopen={"status": Image.Status.PENDING, "error": ""},
        fail=services.image_fail,
    ),
    time_limit=services.PROCESS_TIME_LIMIT,
    soft_time_limit=services.PROCESS_TIME_LIMIT - 60,
)
def process_image(self, image_id: int) -> dict:
    """Make every rendition of an image. Storage trouble retries; a bad image fails for good."""
    image = services.image_process(image_id=image_id)
    return {"image": image_id, "status": image.status}


@shared_task(
    row=WorkRow("images.ImageBatch", arg="batch_id", done=Q(finished_at__isnull=False)),
    time_limit=60,
    soft_time_limit=50,
)
def batch_finish(batch_id: int) -> dict:
    """Chord callback: record how many images of the batch are done and failed."""
    batch = services.batch_finish(batch_id=batch_id)
    return {"batch": batch_id, "done": batch.done, "failed": batch.failed}
