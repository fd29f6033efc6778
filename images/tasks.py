"""Celery tasks of the images app: thin, they call services.

Routed to the `images` queue by CELERY_TASK_ROUTES.
"""

import logging

from celery import shared_task

from images import services
from mysite.retry import retry_delay
from mysite.storage import StorageUnavailable

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=5, time_limit=5 * 60, soft_time_limit=4 * 60)
def process_image(self, image_id: int) -> dict:
    """Make every rendition of an image. Storage trouble retries; a bad image fails for good."""
    try:
        image = services.image_process(image_id=image_id)
    except StorageUnavailable as exc:
        if self.request.retries >= self.max_retries:
            image = services.image_fail(image_id=image_id, reason=f"Storage kept failing: {exc}")
            return {"image": image_id, "status": image.status}
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
    return {"image": image_id, "status": image.status}


@shared_task(time_limit=60, soft_time_limit=50)
def batch_finish(batch_id: int) -> dict:
    """Chord callback: record how many images of the batch are done and failed."""
    batch = services.batch_finish(batch_id=batch_id)
    return {"batch": batch_id, "done": batch.done, "failed": batch.failed}
