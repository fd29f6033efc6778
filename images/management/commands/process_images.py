from django.core.management.base import BaseCommand, CommandError

from images import selectors, services
from images.models import Image, ImageBatch
from mysite.commands import object_id, timeout_argument, wait_with_progress


class Command(BaseCommand):
    help = (
        "Process images as one batch (a Celery chord): the pending ones by default, "
        "every image with --all, or the given ids."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=object_id, help="image ids")
        parser.add_argument("--all", action="store_true", help="every image, to redo renditions")
        parser.add_argument("--wait", action="store_true", help="show progress until done")
        timeout_argument(parser)

    def handle(self, *args, ids, all, wait, timeout, **options):
        if ids and all:
            raise CommandError("Give image ids or --all, not both.")
        if ids:
            images = list(Image.objects.filter(pk__in=ids))
            missing = sorted(set(ids) - {image.pk for image in images})
            if missing:
                raise CommandError(f"No image with id {', '.join(map(str, missing))}.")
        elif all:
            images = list(Image.objects.all())
        else:
            images = list(Image.objects.filter(status=Image.Status.PENDING))
        if not images:
            self.stdout.write("Nothing to process.")
            return

        batch = services.images_process_batch(images=images)
        self.stdout.write(f"Batch {batch.pk}: {batch.total} images queued (task {batch.task_id}).")
        if wait:
            self._wait(batch.pk, timeout)

    def _wait(self, batch_id: int, timeout: float) -> None:
        def check():
            progress = selectors.batch_progress(batch_id=batch_id)
            line = f"{progress.done} done, {progress.failed} failed of {progress.total}"
            # done once the chord callback has recorded the outcome
            finished = ImageBatch.objects.filter(pk=batch_id, finished_at__isnull=False).exists()
            return line, finished

        line = wait_with_progress(self.stdout, check, timeout=timeout, what="batch")
        batch = ImageBatch.objects.get(pk=batch_id)
        outcome = self.style.SUCCESS if not batch.failed else self.style.WARNING
        self.stdout.write(outcome(f"Batch {batch_id} finished: {line}."))
