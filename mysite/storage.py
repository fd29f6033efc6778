"""Files in the default storage: local files or an S3-compatible bucket, the same code.

Web and workers may run on different hosts that share no disk, so every file
is read and written here, through ``default_storage`` (never a path under
MEDIA_ROOT). Errors of the storage itself (a bucket that does not answer,
refused credentials, a full disk) become ``StorageUnavailable``: a page answers
503 and a task retries. A file that is not there is ``FileNotFoundError``.
"""

import logging
import threading
import uuid
from functools import partial
from typing import cast

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from mysite.errors import Unavailable

logger = logging.getLogger(__name__)

# What a storage backend raises when the storage, not the file, is the problem.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)

_thread_resources = threading.local()  # BucketStorage.connection


class BucketStorage(S3Storage):
    """django-storages' S3 backend, with fewer round trips for our small files.

    Uploads run in the calling thread (one PutObject below the multipart
    threshold, no transfer thread pool per file), and ``read_bytes`` is one
    GetObject (``open()`` first asks for the object's metadata).
    """

    def __init__(self, **settings):
        settings.setdefault("transfer_config", TransferConfig(use_threads=False))
        super().__init__(**settings)

    @property
    def connection(self):
        """This thread's S3 resource for these credentials, endpoint and client
        options, shared by every BucketStorage of the process: django-storages
        makes one per instance and thread, and making one loads botocore's S3
        model (a tenth of a second of CPU). Resources are not shared between
        threads."""
        connection = getattr(self._connections, "connection", None)  # this instance's, here
        if connection is None:
            shared = _thread_resources.__dict__.setdefault("by_key", {})
            key = self._connection_key()
            if key not in shared:
                shared[key] = super().connection
            connection = self._connections.connection = shared[key]
        return connection

    def _connection_key(self) -> tuple:
        config = self.client_config
        options = getattr(config, "_user_provided_options", None)  # botocore's Config
        return (
            self.access_key,
            self.secret_key,
            self.security_token,
            self.session_profile,
            self.region_name,
            self.use_ssl,
            self.endpoint_url,
            self.verify,
            repr(sorted(options.items())) if options is not None else id(config),
        )

    def read_bytes(self, name: str) -> bytes:
        key = self._normalize_name(clean_name(name))
        try:
            return self.bucket.Object(key).get()["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(name) from exc
            raise


class StorageUnavailable(Unavailable):
    """The media storage failed in a way that may pass (retry, or answer 503)."""

    public_message = (
        "File storage is unavailable right now. Nothing was saved; please try again shortly."
    )


def _unavailable(action: str, name: str, exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"could not {action} {name}: {type(exc).__name__}: {exc}")


def _missing(exc: Exception) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(exc, ClientError) and status == 404  # noqa: PLR2004


def file_save(name: str, data: bytes) -> str:
    """Store ``data`` under ``name`` (or a free name near it); returns the stored name."""
    try:
        return default_storage.save(name, ContentFile(data))
    except STORAGE_ERRORS as exc:
        raise _unavailable("write", name, exc) from exc


def file_replace(name: str, data: bytes) -> str:
    """Write ``data`` under ``name``, replacing what was there (storage would otherwise
    save a renamed copy); returns the stored name. Re-running work leaves one file."""
    try:
        if not getattr(default_storage, "file_overwrite", False):  # a bucket overwrites
            default_storage.delete(name)
        return default_storage.save(name, ContentFile(data))
    except STORAGE_ERRORS as exc:
        raise _unavailable("write", name, exc) from exc


def file_read(name: str) -> bytes:
    """The stored bytes; ``FileNotFoundError`` if there is no such file."""
    try:
        if hasattr(default_storage, "read_bytes"):
            return default_storage.read_bytes(name)
        with default_storage.open(name, "rb") as stored:
            return stored.read()
    except STORAGE_ERRORS as exc:
        if _missing(exc):
            raise FileNotFoundError(name) from exc
        raise _unavailable("read", name, exc) from exc


def file_delete(name: str) -> None:
    """Delete a stored file; one that is already gone is fine, a failure is logged."""
    if not name:
        return
    try:
        default_storage.delete(name)
    except STORAGE_ERRORS as exc:
        if not _missing(exc):
            logger.warning("could not delete %s: %s: %s", name, type(exc).__name__, exc)


def file_response(
    stored: FieldFile, *, filename: str, as_attachment: bool, content_type: str | None = None
):
    """A download of a file the caller has already checked the user may have.

    ``content_type``: what we know the file is (else guessed from ``filename``).

    Streams it from storage (404 if the file is gone); with MEDIA_DOWNLOAD_REDIRECT
    (and a bucket), a redirect to a presigned URL valid MEDIA_DOWNLOAD_EXPIRE seconds.
    """
    if settings.MEDIA_DOWNLOAD_REDIRECT and hasattr(default_storage, "bucket_name"):
        disposition = content_disposition_header(as_attachment, filename)
        parameters = {"ResponseContentDisposition": disposition}
        if content_type:
            parameters["ResponseContentType"] = content_type
        url = _bucket().url(
            stored.name,
            parameters=parameters,
            expire=settings.MEDIA_DOWNLOAD_EXPIRE,
        )
        return HttpResponseRedirect(url)
    try:
        handle = default_storage.open(stored.name or "", "rb")
    except STORAGE_ERRORS as exc:
        if _missing(exc):
            raise Http404("The file is missing.") from exc
        raise _unavailable("read", stored.name or "", exc) from exc
    return FileResponse(
        handle, as_attachment=as_attachment, filename=filename, content_type=content_type
    )


def delete_files_with_rows(model: type[models.Model], *fields: str) -> None:
    """When a ``model`` row is deleted (one, a queryset, or by cascade), delete the
    files in its ``fields`` after the transaction commits: a rollback keeps them."""

    def receiver(sender, instance, using, **kwargs) -> None:
        names = [getattr(instance, field).name for field in fields]
        for name in filter(None, names):
            transaction.on_commit(partial(file_delete, name), using=using)

    post_delete.connect(receiver, sender=model, weak=False, dispatch_uid=f"files:{model._meta}")


def storage_check(*, create_bucket: bool = False) -> str:
    """Write, read back and delete a probe file in the media storage; returns where.

    With ``create_bucket``, a bucket that does not exist yet is created first
    (a deploy's migrate step). Raises ``StorageUnavailable`` with the reason.
    """
    where = _storage_where()
    if create_bucket and hasattr(default_storage, "bucket_name"):
        _bucket_create_if_missing()
    probe = f"storage-check/{uuid.uuid4().hex}.txt"
    data = b"mysite storage check"
    name = file_save(probe, data)
    try:
        if file_read(name) != data:
            raise StorageUnavailable(f"{where}: the probe file read back differently")
    except FileNotFoundError as exc:
        raise StorageUnavailable(f"{where}: the probe file vanished after it was written") from exc
    finally:
        file_delete(name)
    return where


def _bucket() -> S3Storage:
    """The media storage as the bucket it is (callers know it has a ``bucket_name``)."""
    return cast("S3Storage", default_storage)


def _storage_where() -> str:
    if hasattr(default_storage, "bucket_name"):
        bucket = _bucket()
        return f"bucket {bucket.bucket_name} at {bucket.endpoint_url or 'AWS S3'}"
    return f"files under {settings.MEDIA_ROOT}"


def _bucket_create_if_missing() -> None:
    bucket = _bucket()
    client = bucket.connection.meta.client
    try:
        client.head_bucket(Bucket=bucket.bucket_name)
    except ClientError as exc:
        if not _missing(exc):
            raise _unavailable("reach", bucket.bucket_name, exc) from exc
        try:
            client.create_bucket(Bucket=bucket.bucket_name)
        except STORAGE_ERRORS as create_error:
            raise _unavailable("create", bucket.bucket_name, create_error) from exc
        logger.info("created bucket %s", bucket.bucket_name)
    except BotoCoreError as exc:
        raise _unavailable("reach", bucket.bucket_name, exc) from exc
