"""The environment, checked before anything starts.

``settings.py`` reads its core values through these functions, and
``mysite/celery.py`` (imported by every entry point: manage.py, gunicorn,
celery) calls ``environment_check_or_exit()`` first. A missing or malformed
value stops the process with one line naming the variable, e.g.

    mysite: configuration error: SECRET_KEY is not set; it is required when DEBUG is off ...

instead of a traceback from deep inside Django or Celery.
"""

import os
import re
import sys
from collections.abc import Mapping
from typing import NotRequired, TypedDict
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
DATABASE_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}
BROKER_SCHEMES = {"redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem", "memory"}
DATABASE_EXAMPLE = "postgres://user:password@host:5432/name or sqlite:////absolute/path.sqlite3"
BROKER_EXAMPLE = "redis://host:6379/0 or amqp://user:password@host:5672//"
# S3's own rules for a bucket name; a region is letters, digits and dashes.
BUCKET_NAME = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
REGION_NAME = re.compile(r"^[a-z0-9-]{1,32}$")
LOCAL_STORAGE = "django.core.files.storage.FileSystemStorage"
S3_STORAGE = "mysite.storage.BucketStorage"  # django-storages' S3Storage, fewer round trips
RESULTS_KEEP_DEFAULTS = {
    "RESULTS_KEEP_DAYS": 7,
    "RESULTS_KEEP_FAILED_DAYS": 30,
}  # mysite/retention.py
RESULTS_STARTED_AFTER_MS_DEFAULT = 100  # mysite/results.py


class Rendition(TypedDict):
    """One entry of IMAGE_RENDITIONS (images.imaging.Spec checks the values)."""

    name: str
    op: str  # crop, fit or watermark
    size: tuple[int, int]  # the box: width, height
    format: str  # JPEG, PNG, WEBP or GIF


class Watermark(TypedDict):
    """IMAGE_WATERMARK: the text the watermark rendition draws, and where."""

    text: str
    position: str


class Channel(TypedDict):
    """One entry of NOTIFICATION_CHANNELS: the backend's dotted path; the other
    keys are its keyword arguments (notifications.backends.backend_for)."""

    BACKEND: str
    URL: NotRequired[str]
    TIMEOUT: NotRequired[float]


class ConfigError(ImproperlyConfigured):
    """A bad environment variable; the message names it and says what is expected."""


def flag(name: str, default: bool) -> bool:
    """A yes/no variable; a value that is neither is an error, not silently False."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a yes/no value: use true or false.")


def positive_int(name: str, default: int) -> int:
    """A whole number of at least 1 (days, seconds): ``7``, not ``7d``, ``0`` or ``-1``."""
    return _int_at_least(name, default, least=1, kind="a positive whole number")


def whole_number(name: str, default: int) -> int:
    """A whole number of at least 0 (milliseconds): ``100``, not ``0.1`` or ``-1``."""
    return _int_at_least(name, default, least=0, kind="a whole number of at least 0")


def _int_at_least(name: str, default: int, *, least: int, kind: str) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = least - 1
    if value < least:
        raise ConfigError(f"{name}={raw!r} is not {kind}, e.g. {default}.")
    return value


def secret_key(*, debug: bool) -> str:
    value = os.environ.get("SECRET_KEY", "")
    if value:
        return value
    if not debug:
        raise ConfigError(
            "SECRET_KEY is not set; it is required when DEBUG is off "
            "(make one: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    return "django-insecure-local-development-only"


def database(default: str) -> dict:
    """``DATABASES["default"]`` from DATABASE_URL, which must name an engine we run on."""
    url = os.environ.get("DATABASE_URL") or default
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in DATABASE_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL is malformed ({_shown(url)}): expected {DATABASE_EXAMPLE}."
        )
    try:
        config = environ.Env.db_url_config(url)
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is malformed ({_shown(url)}): {exc}.") from None
    if not config.get("NAME"):
        raise ConfigError(
            f"DATABASE_URL names no database ({_shown(url)}): expected {DATABASE_EXAMPLE}."
        )
    return config


def broker_url(default: str) -> str:
    """CELERY_BROKER_URL: a transport we support, with a host where one is needed."""
    url = os.environ.get("CELERY_BROKER_URL") or default
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ConfigError(f"CELERY_BROKER_URL is malformed ({_shown(url)}): {exc}.") from None
    scheme = parts.scheme.lower()
    if "://" not in url or scheme not in BROKER_SCHEMES:
        raise ConfigError(
            f"CELERY_BROKER_URL is malformed ({_shown(url)}): expected {BROKER_EXAMPLE}."
        )
    if scheme.startswith(("redis", "amqp", "pyamqp")) and not parts.hostname:
        raise ConfigError(f"CELERY_BROKER_URL names no host ({_shown(url)}).")
    if scheme.startswith("redis") and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise ConfigError(
            f"CELERY_BROKER_URL has a bad Redis database {parts.path!r} ({_shown(url)}): "
            "use a number, e.g. redis://host:6379/0."
        )
    return url


def media_storage(*, download_expire: int = 300, environ: Mapping[str, str] | None = None) -> dict:
    """``STORAGES["default"]``: an S3-compatible bucket when AWS_STORAGE_BUCKET_NAME
    is set (django-storages' own variable names), else files under MEDIA_ROOT.

    The bucket stays private: objects are written without an ACL and any URL to
    one is presigned, valid ``download_expire`` seconds. With no keys set, boto3
    finds credentials itself (an instance or pod role). ``environ``: the
    variables to read, the process's own by default (tests and benchmarks
    build storages for other buckets).
    """
    environ = os.environ if environ is None else environ
    bucket = environ.get("AWS_STORAGE_BUCKET_NAME", "")
    if not bucket:
        for name in ("AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME"):
            if environ.get(name):
                raise ConfigError(f"{name} is set but AWS_STORAGE_BUCKET_NAME is not.")
        return {"BACKEND": LOCAL_STORAGE}
    if not BUCKET_NAME.match(bucket):
        raise ConfigError(
            f"AWS_STORAGE_BUCKET_NAME={bucket!r} is not a bucket name: 3-63 lower-case "
            "letters, digits, dots and dashes, starting and ending with a letter or digit."
        )
    endpoint = environ.get("AWS_S3_ENDPOINT_URL", "")
    if endpoint:
        try:
            parts = urlsplit(endpoint)
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError as exc:
            raise ConfigError(f"AWS_S3_ENDPOINT_URL is malformed ({endpoint!r}): {exc}.") from None
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(
                f"AWS_S3_ENDPOINT_URL is malformed ({endpoint!r}): "
                "expected http(s)://host[:port], e.g. http://seaweedfs:8333."
            )
    region = environ.get("AWS_S3_REGION_NAME", "")
    if region and not REGION_NAME.match(region):
        raise ConfigError(f"AWS_S3_REGION_NAME={region!r} is not a region name, e.g. eu-central-1.")
    access_key = environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY", "")
    if bool(access_key) != bool(secret_key):
        missing = "AWS_SECRET_ACCESS_KEY" if access_key else "AWS_ACCESS_KEY_ID"
        raise ConfigError(f"{missing} is not set; set both keys or neither (a role).")
    from botocore.config import Config

    return {
        "BACKEND": S3_STORAGE,
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint or None,
            "region_name": region or None,
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            "default_acl": None,  # private: the bucket's own policy, never public-read
            "querystring_auth": True,
            "querystring_expire": download_expire,
            "file_overwrite": True,  # our names are generated; a re-run replaces
            # A bucket that does not answer fails a request in seconds, not minutes.
            "client_config": Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                signature_version="s3v4",
                s3={"addressing_style": "path"} if endpoint else {},
            ),
        },
    }


def rate_limit_redis_url(*, broker: str) -> str | None:
    """Where the provider rate limits live: RATE_LIMIT_REDIS_URL, else a Redis broker.

    None (no Redis anywhere, e.g. the filesystem broker): each process keeps
    its own buckets (mysite/ratelimit.py).
    """
    url = os.environ.get("RATE_LIMIT_REDIS_URL", "")
    if not url:
        return broker if urlsplit(broker).scheme.lower() in {"redis", "rediss"} else None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ConfigError(f"RATE_LIMIT_REDIS_URL is malformed ({_shown(url)}): {exc}.") from None
    if "://" not in url or parts.scheme.lower() not in {"redis", "rediss"} or not parts.hostname:
        raise ConfigError(
            f"RATE_LIMIT_REDIS_URL is malformed ({_shown(url)}): expected redis://host:6379/0."
        )
    if parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise ConfigError(
            f"RATE_LIMIT_REDIS_URL has a bad Redis database {parts.path!r} ({_shown(url)}): "
            "use a number, e.g. redis://host:6379/0."
        )
    return url


def _shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            return parts._replace(netloc=netloc).geturl()
    except ValueError:
        pass
    return url or repr(url)


def environment_check_or_exit() -> None:
    """Read the variables the settings read; on a bad one, one line and exit 2."""
    try:
        debug = flag("DEBUG", default=True)
        secret_key(debug=debug)
        database(default="sqlite:///db.sqlite3")
        broker_url(default="filesystem://localhost/")
        media_storage()
        rate_limit_redis_url(broker=broker_url(default="filesystem://localhost/"))
        for name, default in RESULTS_KEEP_DEFAULTS.items():
            positive_int(name, default)
        whole_number("RESULTS_STARTED_AFTER_MS", RESULTS_STARTED_AFTER_MS_DEFAULT)
    except ConfigError as exc:
        sys.stderr.write(f"mysite: configuration error: {exc}\n")
        raise SystemExit(2) from None
