from django.core.management.base import BaseCommand, CommandError

from mysite.commands import timeout_argument, wait_with_progress
from notifications import services
from notifications.management import message_arguments
from notifications.models import Broadcast


class Command(BaseCommand):
    help = "Send one message to many users, in chunks, and show progress."

    def add_arguments(self, parser):
        parser.add_argument("body")
        parser.add_argument("--audience", required=True, help="all, staff or list")
        parser.add_argument(
            "--user", action="append", dest="usernames", help="with --audience list"
        )
        message_arguments(parser)
        parser.add_argument("--no-wait", action="store_true", help="queue it and return")
        timeout_argument(parser, help="seconds to wait")

    def handle(self, *args, body, audience, usernames, channel, subject, priority, **options):
        try:
            broadcast = services.broadcast_send(
                audience=audience,
                usernames=usernames,
                channel=channel,
                subject=subject,
                body=body,
                priority=priority,
            )
        except services.NotificationRejected as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Broadcast {broadcast.pk}: {broadcast.total} recipients queued.")
        if options["no_wait"]:
            return

        def check():
            current = Broadcast.objects.get(pk=broadcast.pk)
            line = f"{current.sent} sent, {current.failed} failed of {current.total}"
            return line, current.finished_at is not None

        line = wait_with_progress(self.stdout, check, timeout=options["timeout"], what="broadcast")
        self.stdout.write(self.style.SUCCESS(f"Broadcast {broadcast.pk} finished: {line}."))
