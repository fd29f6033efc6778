"""Media in object storage: files in a real S3 bucket (SeaweedFS), downloads checked
by our views, files deleted with their rows, and a storage that fails answered
with 503 (pages) or retried (workers), leaving nothing half-written."""

import io
import threading
import urllib.error
import urllib.request
import uuid
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from celery import states
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django_celery_results.models import TaskResult

from images.models import Image
from mysite import config
from mysite.middleware import STORAGE_MESSAGE
from mysite.storage import BucketStorage
from reports import services as report_services
from reports.models import Report
from tests.helpers.factories import picture, upload
from tests.helpers.services import closed_port, wait_for
from tests.helpers.storage import Media, bucket_storage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["local", "bucket"])
def stored(request, settings, tmp_path) -> Media:
    """This test's files on local disk, then in the bucket: the same code for both."""
    if request.param == "bucket":
        request.getfixturevalue("s3_media")
    else:
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": config.LOCAL_STORAGE}}
        settings.MEDIA_ROOT = tmp_path / "media"
    return Media()


def ready_image(client, user) -> Image:
    client.force_login(user)
    response = client.post(reverse("api-v1:image-upload"), {"file": upload(picture(), "cat.jpg")})
    assert response.status_code == 202, response.content
    image_id = response.json()["images"][0]["id"]
    image = wait_for(
        lambda: Image.objects.filter(pk=image_id, status__in=["ready", "failed"]).first(),
        what="the image to be processed",
    )
    assert image.status == "ready", image.error
    return image


def test_an_upload_lives_in_the_bucket_and_downloads_through_the_owner_checked_view(
    client, user, other_user, celery_worker, s3_bucket, s3_media
):
    # when
    image = ready_image(client, user)

    # then: the original and every rendition are objects in the bucket
    keys = s3_bucket.keys(f"{s3_media}/")
    renditions = {r.spec: r for r in image.renditions.all()}
    expected = [image.original.name, *(r.file.name for r in renditions.values())]
    assert keys == sorted(f"{s3_media}/{name}" for name in expected)
    # the owner downloads them through the site, byte for byte
    thumbnail = renditions["thumbnail"]
    response = client.get(thumbnail.get_absolute_url())
    assert response.status_code == 200
    in_bucket = s3_bucket.client().get_object(
        Bucket=s3_bucket.name, Key=f"{s3_media}/{thumbnail.file.name}"
    )
    assert b"".join(response.streaming_content) == in_bucket["Body"].read()
    assert response["Content-Type"] == "image/jpeg"
    # someone else does not, and the bucket itself answers no one without a signature
    client.force_login(other_user)
    assert client.get(thumbnail.get_absolute_url()).status_code == 404
    endpoint = s3_bucket.environment["AWS_S3_ENDPOINT_URL"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{endpoint}/{s3_bucket.name}/{s3_media}/{thumbnail.file.name}")  # noqa: S310  (loopback)
    assert refused.value.code == 403


def test_downloads_may_redirect_to_a_short_lived_presigned_url(
    client, user, settings, celery_worker, s3_media
):
    # given
    settings.MEDIA_DOWNLOAD_REDIRECT = True
    image = ready_image(client, user)

    # when
    response = client.get(reverse("images:original-file", args=[image.pk]))

    # then: a signed URL that expires in MEDIA_DOWNLOAD_EXPIRE seconds, serving the file
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert "X-Amz-Signature" in query
    with urllib.request.urlopen(response["Location"]) as download:  # noqa: S310  (loopback)
        assert download.read() == Media().read(image.original.name)
        assert download.headers["Content-Disposition"] == 'attachment; filename="cat.jpg"'
        assert download.headers["Content-Type"] == "image/jpeg"  # what we read, not guessed


def test_deleting_an_image_deletes_its_files_after_the_commit(client, user, celery_worker, stored):
    # given
    image = ready_image(client, user)
    assert len(stored.names()) == 5  # the original and four renditions

    # when: a deletion that rolls back
    with transaction.atomic():
        Image.objects.filter(pk=image.pk).delete()
        transaction.set_rollback(True)

    # then: nothing is gone
    assert len(stored.names()) == 5

    # when: it commits
    image.delete()

    # then
    assert stored.names() == []


def test_deleting_an_image_through_the_api_deletes_its_files(client, user, celery_worker, stored):
    # given
    image = ready_image(client, user)
    assert len(stored.names()) == 5

    # when
    response = client.delete(reverse("api-v1:image-delete", args=[image.pk]))

    # then
    assert response.status_code == 204
    assert stored.names() == []


def test_deleting_a_report_deletes_its_files(stored):
    # given
    report = Report.objects.create(
        period="daily", start_date=date(2026, 11, 2), end_date=date(2026, 11, 2)
    )
    report_services.report_generate(report_id=report.pk)
    report.refresh_from_db()
    assert stored.names() == sorted([report.csv_file.name, report.chart.name])

    # when
    Report.objects.filter(pk=report.pk).delete()

    # then
    assert stored.names() == []


@pytest.fixture(params=["unreachable", "wrong-secret"])
def broken_bucket(request, settings, s3_bucket, s3_media):
    """The bucket's endpoint refuses connections, or refuses our credentials."""
    environment = dict(s3_bucket.environment)
    if request.param == "unreachable":
        environment["AWS_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{closed_port()}"
    else:
        environment["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    good = settings.STORAGES["default"]
    broken = bucket_storage(environment, location=s3_media)
    settings.STORAGES = {**settings.STORAGES, "default": broken}
    return good


def test_a_broken_bucket_refuses_uploads_with_503_and_keeps_nothing(
    client, user, s3_bucket, s3_media, broken_bucket
):
    # given
    client.force_login(user)

    # when
    api = client.post(reverse("api-v1:image-upload"), {"file": upload(picture(), "a.jpg")})
    page = client.post(
        reverse("images:upload"), {"files": [upload(picture(), "b.jpg")]}, HTTP_ACCEPT="text/html"
    )

    # then: a clear 503, no row and no file
    assert api.status_code == 503
    assert api.json()["error"]["message"] == STORAGE_MESSAGE
    assert page.status_code == 503
    assert b"File storage is unavailable right now." in page.content
    assert Image.objects.count() == 0
    assert s3_bucket.keys(f"{s3_media}/") == []


@pytest.mark.slow
def test_a_report_retries_while_storage_is_down_and_is_made_once_it_is_back(
    settings, staff_user, celery_worker, s3_bucket, s3_media, broken_bucket
):
    # when: a report is asked for while the bucket refuses us
    report = report_services.report_request(period="daily", user=staff_user)

    # then: its task waits to retry instead of failing
    wait_for(
        lambda: TaskResult.objects.filter(task_id=report.task_id, status=states.RETRY).exists(),
        what="the report task to retry",
    )
    assert Report.objects.get(pk=report.pk).status != Report.Status.FAILED

    # when: the bucket is back
    settings.STORAGES = {**settings.STORAGES, "default": broken_bucket}

    # then
    done = wait_for(
        lambda: Report.objects.filter(pk=report.pk, status=Report.Status.READY).first(),
        timeout=60,
        what="the report to be made",
    )
    assert s3_bucket.keys(f"{s3_media}/") == sorted(
        f"{s3_media}/{name}" for name in (done.csv_file.name, done.chart.name)
    )


def test_storage_check_creates_a_missing_bucket_when_asked(settings, s3_bucket):
    # given: a bucket that does not exist yet
    name = f"check-{uuid.uuid4().hex[:12]}"
    missing = bucket_storage({**s3_bucket.environment, "AWS_STORAGE_BUCKET_NAME": name})
    settings.STORAGES = {**settings.STORAGES, "default": missing}

    # when / then: a plain check says what is wrong
    with pytest.raises(CommandError, match="Media storage is not usable: could not write"):
        call_command("storage_check")

    # when: the deploy step creates it
    out = io.StringIO()
    call_command("storage_check", "--create-bucket", stdout=out)

    # then
    endpoint = s3_bucket.environment["AWS_S3_ENDPOINT_URL"]
    assert out.getvalue() == f"Media storage works: bucket {name} at {endpoint}.\n"
    assert s3_bucket.client().list_objects_v2(Bucket=name).get("KeyCount") == 0  # probe removed


def test_storage_check_reports_a_broken_bucket(broken_bucket):
    with pytest.raises(CommandError, match="Media storage is not usable: could not"):
        call_command("storage_check", "--create-bucket")


def test_storage_check_on_local_files(stored, settings):
    out = io.StringIO()

    call_command("storage_check", stdout=out)

    assert out.getvalue().startswith("Media storage works: ")
    assert stored.names() == []


def test_storages_of_one_bucket_share_a_connection_per_thread_and_credentials():
    # given: two storages of the same bucket (as each settings change makes),
    # and one with another secret
    environment = {
        "AWS_STORAGE_BUCKET_NAME": "mysite-media",
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    first, second, other = (
        BucketStorage(**bucket_storage(env, location=location)["OPTIONS"])
        for env, location in [
            (environment, "a"),
            (environment, "b"),
            ({**environment, "AWS_SECRET_ACCESS_KEY": "another"}, "a"),
        ]
    )

    # when: each asks for its connection here, and the first in another thread
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(first.connection))
    thread.start()
    thread.join()

    # then: one resource for the same credentials in this thread, none shared otherwise
    assert first.connection is second.connection
    assert other.connection is not first.connection
    assert elsewhere[0] is not first.connection
    assert first.bucket.name == second.bucket.name == "mysite-media"
