from django.core.management.base import BaseCommand

from mysite import schedules


class Command(BaseCommand):
    help = "Create the periodic tasks (reports, payments, result cleanup) in beat (idempotent)."

    def handle(self, *args, **options):
        for old, new in schedules.schedules_replace():
            self.stdout.write(f"replaced {old} -> {new}")
        for name, created in schedules.schedules_install():
            self.stdout.write(f"{'created' if created else 'exists '}  {name}")
