from django.core.management.base import BaseCommand

from reports import services


class Command(BaseCommand):
    help = "Create the report schedules and the daily result cleanup in beat (idempotent)."

    def handle(self, *args, **options):
        for name, created in services.schedules_install():
            self.stdout.write(f"{'created' if created else 'exists '}  {name}")
