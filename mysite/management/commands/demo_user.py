from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create (or reset) the local demo login and print it. Refused when DEBUG is off."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo")

    def handle(self, *args, username, password, **options):
        if not settings.DEBUG:
            raise CommandError("demo_user is for local use only, and DEBUG is off.")
        model = get_user_model()
        try:  # the admin's rules (length, characters), before the database sees it
            model._meta.get_field(model.USERNAME_FIELD).clean(username, None)
        except ValidationError as exc:
            raise CommandError(f"--username: {' '.join(exc.messages)}") from None
        user, _ = model.objects.get_or_create(**{model.USERNAME_FIELD: username})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"Demo login: {username} / {password}")
