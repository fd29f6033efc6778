"""Web and the images/reports worker as if on two hosts.

Each process runs the compose file's own command line in an empty working
directory of its own, with its own VAR_DIR and MEDIA_ROOT: they share only
PostgreSQL, Redis and the S3 bucket (SeaweedFS on loopback). A photo uploaded
through the web API (with a token made by ``manage.py create_api_token``) and a
report generated from the web are made by the worker and downloaded back
through the web, rendition by rendition.

Without a bucket the same separation makes the worker fail: it cannot see the
web's disk. That control test shows the hosts really share no files.
"""

import csv
import io
from pathlib import Path

import pytest
import redis
from PIL import Image as PILImage

from reports.models import Order, Report
from tests.deploy.test_smoke import Site, smoke_broker
from tests.helpers.deploy import ROOT, compose_services
from tests.helpers.factories import picture
from tests.helpers.services import wait_for
from tests.helpers.users import production_user
from tests.parallel import OWN_REDIS_DBS

HOSTS = ("web", "worker-images")
RENDITIONS = {"thumbnail": "JPEG", "display": "JPEG", "watermarked": "JPEG", "webp": "WEBP"}

pytestmark = pytest.mark.django_db(transaction=True)


def host_dirs(tmp_path: Path, role: str) -> dict[str, Path]:
    base = tmp_path / "hosts" / role
    dirs = {"cwd": base / "work", "VAR_DIR": base / "var", "MEDIA_ROOT": base / "media"}
    for folder in dirs.values():
        folder.mkdir(parents=True)
    return dirs


def files_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.fixture
def hosts(tmp_path, request):
    """Start web and the images worker on separate "hosts"; ``bucket`` on or off."""
    broker = smoke_broker(OWN_REDIS_DBS[f"multihost-{request.param}"])
    queues = redis.Redis.from_url(broker)
    queues.flushdb()
    site = Site(tmp_path, broker)
    # Only what a host would be given: no bucket variables unless the test wants one.
    for name in [key for key in site.env if key.startswith("AWS_")] + ["MEDIA_ROOT"]:
        site.env.pop(name)
    bucket_env: dict[str, str] = {}
    if request.param == "bucket":
        bucket_env = request.getfixturevalue("s3_bucket").environment
    dirs = {role: host_dirs(tmp_path, role) for role in HOSTS}
    try:
        for role in HOSTS:
            own = dirs[role]
            site.start(
                role,
                compose_services()[role]["command"],
                cwd=own["cwd"],
                PYTHONPATH=str(ROOT),
                VAR_DIR=str(own["VAR_DIR"]),
                MEDIA_ROOT=str(own["MEDIA_ROOT"]),
                **bucket_env,
            )
        wait_for(lambda: site.request("/readyz/")[0] == 200, timeout=90, what="gunicorn's /readyz/")
        wait_for(lambda: site.healthcheck("worker-images"), timeout=90, what="the worker's ping")
        yield site, dirs
    finally:
        site.stop_all()
        queues.flushdb()
        queues.close()


def start_work(site: Site) -> tuple[dict, Report]:
    """As staff on the web host: upload a photo, ask for last month's report."""
    production_user("ops", "multihost-pw-1", is_staff=True)  # the web host checks it
    Order.objects.create(
        created_at="2026-11-10T12:00:00+01:00", amount="19.99", customer_ref="c1", channel="web"
    )
    site.login("ops", "multihost-pw-1")  # the report's page, and the files
    site.api_token("ops")  # the upload and the statuses: through the API, as a program
    status, body = site.upload("/api/v1/images/", "photo.jpg", picture("RGB", (2400, 1800)))
    assert status == 202, body
    [image] = body["images"]
    made = site.form("/reports/", {"period": "custom", "start": "2026-11-01", "end": "2026-11-30"})
    assert made == 200  # redirected to the report's page
    return image, Report.objects.get()


def finished(site: Site, api_path: str, *, what: str) -> dict:
    """The status once it is ready or failed, polled through the web host's API."""

    def ended() -> dict | None:
        status, body = site.json(api_path)
        return body if status == 200 and body["status"] in {"ready", "failed"} else None

    return wait_for(ended, what=what)


@pytest.mark.parametrize("hosts", ["bucket"], indirect=True)
@pytest.mark.slow
def test_with_a_bucket_work_made_on_one_host_downloads_from_another(hosts):
    # given
    site, dirs = hosts

    # when
    image, report = start_work(site)

    # then: the worker made every rendition and the report, from what the web stored
    done = finished(site, f"/api/v1/images/{image['id']}", what="the image")
    assert done["status"] == "ready", done["error"]
    made = finished(site, f"/api/v1/reports/{report.pk}", what="the report")
    assert made["status"] == "ready", made["error"]

    # and the web host serves each of them back
    assert set(done["renditions"]) == set(RENDITIONS)
    for spec, image_format in RENDITIONS.items():
        status, data = site.request(done["renditions"][spec]["url"])
        assert status == 200, spec
        with PILImage.open(io.BytesIO(data)) as rendition:
            assert rendition.format == image_format, spec
            assert rendition.size == (
                done["renditions"][spec]["width"],
                done["renditions"][spec]["height"],
            )
    status, original = site.request(f"/images/{done['id']}/original/")
    assert (status, original[:2]) == (200, b"\xff\xd8")
    status, data = site.request(made["csv_url"])
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == 30  # every day of November
    assert sum(float(row["sales"]) for row in rows) == pytest.approx(19.99)
    status, chart = site.request(made["chart_url"])
    assert (status, chart[:8]) == (200, b"\x89PNG\r\n\x1a\n")

    # and neither host wrote a media file to its own disk
    for role in HOSTS:
        assert files_in(dirs[role]["MEDIA_ROOT"]) == [], role


@pytest.mark.parametrize("hosts", ["local"], indirect=True)
@pytest.mark.slow
def test_without_a_bucket_the_worker_cannot_see_the_web_hosts_files(hosts):
    # given: the same hosts, each with only its own disk for media
    site, dirs = hosts

    # when
    image, _report = start_work(site)

    # then: the upload is on the web host's disk, where the worker cannot read it
    done = finished(site, f"/api/v1/images/{image['id']}", what="the image")
    assert done["status"] == "failed"
    assert done["error"] == "The original file is missing."
    assert len(files_in(dirs["web"]["MEDIA_ROOT"])) == 1
