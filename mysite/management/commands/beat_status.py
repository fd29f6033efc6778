from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.utils import DatabaseError, InterfaceError

from mysite.beat import heartbeat_get, lease_get, process_alive

NOT_HERE = 2  # exit code: this host's beat is not running (liveness fails)
NO_LEADER = 1  # exit code: no beat holds the lease, or the database does not answer


class Command(BaseCommand):
    help = (
        "The beat probe: prints 'leader <holder>' or 'standby (leader is <holder>, ...)'. "
        "Exit 0 while this host's beat ticks and some beat holds the lease; 1 when no beat "
        "holds it (or the database does not answer); 2 when this host's beat is not running."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--live",
            action="store_true",
            help="only check that this host's beat ticks (no database): the liveness probe",
        )

    def handle(self, *args, live: bool, **options):
        path = settings.BEAT_HEARTBEAT_FILE
        beat = heartbeat_get(path=path)
        if beat is None:
            raise CommandError(f"no beat runs here (no heartbeat at {path})", returncode=NOT_HERE)
        if not process_alive(beat.pid):
            raise CommandError(f"beat {beat.holder} has exited", returncode=NOT_HERE)
        if beat.age > settings.BEAT_LEASE_SECONDS:
            raise CommandError(
                f"beat {beat.holder} is stuck: last tick {beat.age:.0f} s ago", returncode=NOT_HERE
            )
        if live:
            self.stdout.write(f"alive {beat.holder} ({beat.role}, ticked {beat.age:.0f} s ago)")
            return
        try:
            lease = lease_get()
        except (DatabaseError, InterfaceError) as exc:
            message = " ".join(str(exc).split())
            raise CommandError(f"cannot read the lease: {message}", returncode=NO_LEADER) from exc
        if lease is None:
            raise CommandError("no leader: no beat has taken the lease yet", returncode=NO_LEADER)
        until = lease.expires_at.isoformat(timespec="seconds")
        if not lease.held:
            raise CommandError(
                f"no leader: the lease expired at {until} (last held by {lease.holder or '-'})",
                returncode=NO_LEADER,
            )
        if lease.holder == beat.holder:
            self.stdout.write(f"leader {beat.holder} (lease until {until})")
        else:
            self.stdout.write(
                f"standby {beat.holder} (leader is {lease.holder}, lease until {until})"
            )
