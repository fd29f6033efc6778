"""The Celery app's broker connections, and a broker outage for one test."""

from mysite.celery import app as celery_app
from tests.helpers.services import closed_port


def broker_pools_forget() -> None:
    """Make this process's next publish and broadcast connect to the broker URLs
    now in the app's settings.

    The app keeps its pools (kombu keeps them per URL and hands the same ones
    back once a URL is restored), and the remote-control mailbox caches its
    producer pool on first use: a ``control.ping`` after a URL swap would
    otherwise be sent to the old broker while its replies are awaited on the new.
    """
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.control.mailbox.__dict__.pop("producer_pool", None)


class BrokerOutage:
    """The Celery app pointed at a loopback port where no broker listens, until ``end()``."""

    def __init__(self):
        conf = celery_app.conf
        self.saved = {key: conf.get(key) for key in ("broker_read_url", "broker_write_url")}
        self.url = f"redis://127.0.0.1:{closed_port()}/0"
        conf.broker_read_url = conf.broker_write_url = self.url
        broker_pools_forget()
        self.over = False

    def end(self) -> None:
        """The broker is back (for this process's publishing)."""
        if not self.over:
            celery_app.conf.update(self.saved)
            broker_pools_forget()
            self.over = True
