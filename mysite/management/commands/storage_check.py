from django.core.management.base import BaseCommand, CommandError

from mysite.storage import StorageUnavailable, storage_check


class Command(BaseCommand):
    help = (
        "Check the media storage (the bucket, or MEDIA_ROOT) works: write, read back and "
        "delete a probe file. Exit 1 with the reason if it does not."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--create-bucket",
            action="store_true",
            help="Create the bucket first if it does not exist (a deploy's migrate step).",
        )

    def handle(self, *args, **options):
        try:
            where = storage_check(create_bucket=options["create_bucket"])
        except StorageUnavailable as exc:
            raise CommandError(f"Media storage is not usable: {exc}") from exc
        self.stdout.write(f"Media storage works: {where}.")
