"""Helpers for files in the default storage."""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def file_replace(name: str, data: bytes) -> str:
    """Write ``data`` under ``name``, replacing what was there (storage would otherwise
    save a renamed copy); returns the stored name. Re-running work leaves one file."""
    default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))
