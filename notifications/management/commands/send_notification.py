from django.core.management.base import BaseCommand, CommandError

from notifications import services
from notifications.management import message_arguments


class Command(BaseCommand):
    help = "Queue one notification to a user."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username of the recipient")
        parser.add_argument("--body", required=True)
        message_arguments(parser)
        parser.add_argument("--dedupe-key", help="the same key twice sends once")

    def handle(self, *args, user, channel, subject, body, priority, dedupe_key, **options):
        try:
            notification = services.notification_send_to_username(
                username=user,
                channel=channel,
                subject=subject,
                body=body,
                priority=priority,
                dedupe_key=dedupe_key,
            )
        except services.NotificationRejected as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Notification {notification.pk} ({notification.channel} to {user}) is "
            f"{notification.status} (task {notification.task_id})."
        )
