from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from mysite import tokens


class Command(BaseCommand):
    help = (
        "Make an API token for USER and print it (only the token, on stdout, so a "
        "script can capture it). It is shown this once; only its hash is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="the user the token acts as")
        parser.add_argument("--name", default="command line", help="what will use the token")

    def handle(self, *args, username: str, name: str, **options):
        user = user_by_name(username)
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        try:
            _, raw = tokens.token_create(user=user, name=name)
        except tokens.TokenRejected as exc:
            raise CommandError(f"--name: {exc}") from None
        self.stdout.write(raw)


def user_by_name(username: str):
    """The active user of that username, or None (no database query for names none can have)."""
    model = get_user_model()
    field = model._meta.get_field(model.USERNAME_FIELD)
    max_length = getattr(field, "max_length", None) or 150
    if not username or "\x00" in username or len(username) > max_length:
        return None
    return model._default_manager.filter(
        **{model.USERNAME_FIELD: username, "is_active": True}
    ).first()
