"""Files of a test: a real S3 bucket, the storage settings for it, reading what was stored."""

from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from mysite import config


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


def bucket_storage(environment: dict[str, str], **options) -> dict:
    """``STORAGES["default"]`` for a bucket's variables, as settings.py builds it."""
    storage = config.media_storage(environ=environment)
    return {**storage, "OPTIONS": {**storage["OPTIONS"], **options}}


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
