"""Settings for mysite, read from the environment (12-factor).

With no variables set the project runs on embedded defaults: SQLite in WAL mode
and Celery's filesystem transport, both under ``var/``. ``DATABASE_URL`` and
``CELERY_BROKER_URL`` switch to PostgreSQL and Redis (or RabbitMQ); the code is
the same either way.
"""

from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

from mysite import config
from mysite.priorities import MAX_PRIORITY, Priority, broker_priority, broker_transport

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------

DEBUG = config.flag("DEBUG", default=True)
SECRET_KEY = config.secret_key(debug=DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "mysite.views.csrf_failure"

# Production (DEBUG off): HTTPS only, behind a proxy that terminates TLS and
# sets X-Forwarded-Proto (only trust that header behind such a proxy).
# `manage.py check --deploy` passes with these defaults. Probes and metrics
# scrapes come over plain HTTP from inside the cluster: not redirected.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = config.flag("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^readyz/$", r"^metrics/$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = config.flag("SECURE_COOKIES", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 60 * 60)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = config.flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = config.flag("SECURE_HSTS_PRELOAD", default=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_celery_results",
    "ninja",  # serves the API docs page from our own static files
    "mysite",
    "images",
    "reports",
    "notifications",
    "payments",
]

MIDDLEWARE = [
    "mysite.metrics.MetricsMiddleware",  # first: counts and times every request
    "mysite.middleware.InternalEndpointsMiddleware",  # probes by IP, over HTTP
    "mysite.middleware.JsonApiErrorsMiddleware",  # every /api/ error is the JSON body
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mysite.middleware.BrokerUnavailableMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.unread_notifications",
            ],
            "builtins": ["mysite.templatetags.look"],  # money on every page
        },
    },
]

# --- Database ---------------------------------------------------------------

DATABASES = {"default": config.database(default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Embedded default: WAL lets the web process read while a worker writes;
    # IMMEDIATE transactions and a busy timeout make writers queue, not fail.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so the in-process test worker's threads share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="Europe/Berlin")
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["mysite.formats"]  # ISO dates everywhere (mysite/formats/en)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# --- Media storage ----------------------------------------------------------
# Originals, renditions and report files go through default_storage only, so
# web and workers need not share a disk. With AWS_STORAGE_BUCKET_NAME set they
# live in that S3-compatible bucket (AWS_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_S3_REGION_NAME: django-storages' names), else
# under MEDIA_ROOT. Downloads are owner-checked by our views, which stream the
# file or, with MEDIA_DOWNLOAD_REDIRECT on, redirect to a presigned URL valid
# MEDIA_DOWNLOAD_EXPIRE seconds (the browser must reach the bucket's endpoint).
MEDIA_DOWNLOAD_EXPIRE = env.int("MEDIA_DOWNLOAD_EXPIRE", default=300)
MEDIA_DOWNLOAD_REDIRECT = config.flag("MEDIA_DOWNLOAD_REDIRECT", default=False)
STORAGES = {
    "default": config.media_storage(download_expire=MEDIA_DOWNLOAD_EXPIRE),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Images -----------------------------------------------------------------
# What an upload may be (checked from the content), and the renditions a worker
# makes of it. op: crop (fill the box), fit (inside the box, never upscaled),
# watermark (fit, then the text below). format: JPEG, PNG, WEBP or GIF.

IMAGE_MAX_UPLOAD_BYTES = env.int("IMAGE_MAX_UPLOAD_BYTES", default=25 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=50_000_000)
IMAGE_MAX_FILES = env.int("IMAGE_MAX_FILES", default=20)  # files in one upload
IMAGE_ALLOWED_FORMATS = ["JPEG", "PNG", "WEBP", "GIF"]
IMAGE_WATERMARK: config.Watermark = {
    "text": env("IMAGE_WATERMARK_TEXT", default="\u00a9 mysite"),
    "position": env("IMAGE_WATERMARK_POSITION", default="bottom-right"),
}
# The thumbnail fits inside 150x150 rather than cropping to it: a wide picture's
# tile shows all of it. Renditions stored before keep their shape until reprocessed.
IMAGE_RENDITIONS: list[config.Rendition] = [
    {"name": "thumbnail", "op": "fit", "size": (150, 150), "format": "JPEG"},
    {"name": "display", "op": "fit", "size": (800, 600), "format": "JPEG"},
    {"name": "watermarked", "op": "watermark", "size": (800, 600), "format": "JPEG"},
    {"name": "webp", "op": "fit", "size": (1600, 1600), "format": "WEBP"},
]

# A run processing an image holds it this long at most (the task's hard time
# limit); a claim older than this is a dead run's, and another run takes over.
IMAGES_CLAIM_SECONDS = env.int("IMAGES_CLAIM_SECONDS", default=5 * 60)

# --- Reports ----------------------------------------------------------------

REPORTS_MAX_DAYS = env.int("REPORTS_MAX_DAYS", default=366)  # longest range one report covers
REPORTS_CURRENCY = env("REPORTS_CURRENCY", default="EUR")  # orders' amounts carry none of their own

# --- Notifications ----------------------------------------------------------
# One backend per channel, like EMAIL_BACKEND. Email goes through Django's
# email framework (EMAIL_BACKEND: console locally, SMTP in production); SMS and
# push POST JSON to a provider URL when one is set, else they are logged.

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="mysite <noreply@localhost>")
NOTIFICATION_CHANNELS: dict[str, config.Channel] = {
    "email": {"BACKEND": "notifications.backends.EmailBackend"},
    "sms": {
        "BACKEND": "notifications.backends.HttpBackend"
        if env("NOTIFICATION_SMS_URL", default="")
        else "notifications.backends.ConsoleBackend",
        "URL": env("NOTIFICATION_SMS_URL", default=""),
        "TIMEOUT": 5,
    },
    "push": {
        "BACKEND": "notifications.backends.HttpBackend"
        if env("NOTIFICATION_PUSH_URL", default="")
        else "notifications.backends.ConsoleBackend",
        "URL": env("NOTIFICATION_PUSH_URL", default=""),
        "TIMEOUT": 5,
    },
    "in_app": {"BACKEND": "notifications.backends.InAppBackend"},
}
NOTIFICATION_SMS_MAX_CHARS = env.int("NOTIFICATION_SMS_MAX_CHARS", default=480)  # 3 segments
NOTIFICATION_BROADCAST_CHUNK = 500  # notifications per task when broadcasting
# Messages per second a channel sends (providers throttle), for the whole
# deployment: every process, thread and host takes its turn from one token
# bucket per channel in Redis (mysite/ratelimit.py), single sends and
# broadcasts alike. Without Redis (filesystem broker) each process has its own.
# A channel not listed is not limited.
NOTIFICATION_RATE_LIMITS = {"sms": 20.0, "push": 100.0, "email": 50.0}
# How many messages a channel may send at once after a quiet spell (the
# bucket's size); a channel not listed here: one second's worth.
NOTIFICATION_RATE_BURSTS: dict[str, float] = {}
# A send waits in its thread at most this many seconds for its turn; a longer
# wait re-schedules the task (a broadcast chunk: the rest of it) for later,
# without using up its retries.
NOTIFICATION_RATE_MAX_WAIT = 1.0

# --- Payments ---------------------------------------------------------------
# A payment waits this long for a row lock, then its task retries (backoff).
PAYMENTS_LOCK_TIMEOUT_MS = env.int("PAYMENTS_LOCK_TIMEOUT_MS", default=5000)

# --- Nothing stuck: the sweep ------------------------------------------------
# Beat's "Re-queue stuck work" (every 5 minutes, mysite/sweep.py) queues again
# each domain row in flight longer than its app's limit: since it was queued,
# or since it last moved (an image claimed, a report started, a notification
# sending). Each limit is above its task's hard time limit and longest retry
# wait, so a row that is merely slow is not queued twice; all tasks are
# idempotent, so one that is costs a no-op. See each app's sweeps.py.
IMAGES_SWEEP_AFTER = timedelta(seconds=env.int("IMAGES_SWEEP_AFTER_SECONDS", default=15 * 60))
REPORTS_SWEEP_AFTER = timedelta(seconds=env.int("REPORTS_SWEEP_AFTER_SECONDS", default=30 * 60))
NOTIFICATIONS_SWEEP_AFTER = timedelta(
    seconds=env.int("NOTIFICATIONS_SWEEP_AFTER_SECONDS", default=15 * 60)
)
PAYMENTS_SWEEP_AFTER = timedelta(seconds=env.int("PAYMENTS_SWEEP_AFTER_SECONDS", default=5 * 60))
SWEEP_BATCH = 1000  # rows of one kind per run; the next run takes the rest
# The largest CSV `manage.py import_payments` reads (it holds the file's text).
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=50 * 1024 * 1024)

# --- Metrics ----------------------------------------------------------------
# Prometheus: the web at /metrics/, each worker on CELERY_METRICS_PORT when set
# (see mysite/metrics.py; PROMETHEUS_MULTIPROC_DIR is read by prometheus_client
# itself). With METRICS_TOKEN set both require "Authorization: Bearer <token>";
# unset, they answer anyone who can reach them: keep them off public networks.

METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_WORKER_PORT = env.int("CELERY_METRICS_PORT", default=None)
METRICS_WORKER_ADDR = env("CELERY_METRICS_ADDR", default="0.0.0.0")  # noqa: S104  (a container's port)

# --- Logging ----------------------------------------------------------------
# Every line names the task it was written in ("images.tasks.x[<id>]", or "-"
# outside a task), whichever logger wrote it. Celery leaves the root logger to
# this configuration (CELERY_WORKER_HIJACK_ROOT_LOGGER below).

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"task_context": {"()": "mysite.log.TaskContextFilter"}},
    "formatters": {
        "standard": {
            "format": "%(asctime)s %(levelname)s [%(processName)s] %(task)s %(name)s: %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["task_context"],
            "formatter": "standard",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}

# --- Celery -----------------------------------------------------------------
# Every Celery option, in one place. The app reads these with the CELERY_
# prefix (mysite/celery.py).

# Broker. Embedded default: the filesystem transport under var/broker/, which
# needs nothing installed; set redis://... or amqp://... for real work.
CELERY_BROKER_URL = config.broker_url(default="filesystem://localhost/")
# Provider rate limits (NOTIFICATION_RATE_LIMITS): RATE_LIMIT_REDIS_URL, else
# the broker when it is Redis; None: per process.
RATE_LIMIT_REDIS_URL = config.rate_limit_redis_url(broker=CELERY_BROKER_URL)
BROKER_SCHEME = broker_transport(CELERY_BROKER_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True  # a worker waits for the broker
CELERY_BROKER_CONNECTION_TIMEOUT = 4

# Hard limit for any task (seconds). A task may set a shorter one; a longer
# one fails the system check `mysite.E001` unless TASK_VISIBILITY_TIMEOUT grows.
CELERY_TASK_TIME_LIMIT = 10 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 9 * 60  # SoftTimeLimitExceeded: time to clean up
# The longest a worker may hold a message: every hard time limit (mysite.E001),
# countdown (enqueue refuses longer ones) and retry wait stays below it.
TASK_VISIBILITY_TIMEOUT = 2 * 60 * 60
# Redis hands a message out again once no worker has re-stamped it for this
# many seconds. Each worker re-stamps what it holds every tenth of it
# (mysite/kombu_fixes.py), so a live worker keeps what it holds however long,
# and a dead worker's messages come back within this plus one sweep (a fifth
# of it): 6 minutes by default, not 2 hours.
BROKER_VISIBILITY_TIMEOUT = config.positive_int("BROKER_VISIBILITY_TIMEOUT", 5 * 60)

# Redis: one list per priority, all ten kept apart (see priorities.py).
BROKER_PRIORITY_OPTIONS = {
    "priority_steps": list(range(MAX_PRIORITY + 1)),
    "queue_order_strategy": "priority",
}
if BROKER_SCHEME == "filesystem":
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "polling_interval": 0.2,
    }
else:
    _sweep_every = BROKER_VISIBILITY_TIMEOUT / 5
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
        # Each worker sweeps the unacked index for messages past it this often;
        # the sweep's lock outlives a killed sweeper by no more than that.
        "unacked_restore_interval": _sweep_every,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": max(1, round(_sweep_every)),
        **BROKER_PRIORITY_OPTIONS,
    }

# Queues by workload, routed by app: the task name starts with the app label.
TASK_QUEUE_NAMES = ("default", "images", "reports", "notifications", "payments")
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in TASK_QUEUE_NAMES)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    f"{name}.*": {"queue": name} for name in TASK_QUEUE_NAMES if name != "default"
}

# One priority scale (mysite.priorities.Priority): RabbitMQ queues accept 0..9,
# and a message sent without a priority gets NORMAL in the broker's own terms
# (on Redis an unset priority would otherwise be the most urgent).
CELERY_TASK_QUEUE_MAX_PRIORITY = MAX_PRIORITY
CELERY_TASK_DEFAULT_PRIORITY = broker_priority(Priority.NORMAL, BROKER_SCHEME)

# JSON only: task arguments are ids and JSON values, never pickles.
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]

# Results in the Django database (django-celery-results), written by our
# backend in one statement per state. Extended results keep the task name,
# arguments and worker; STARTED is stored so pages can show it.
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default="mysite.results.UpsertDatabaseBackend")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TRACK_STARTED = True
# A task's STARTED is written once it has run this long (a task done sooner
# goes straight to its outcome: one write instead of two); 0 writes it at once.
RESULTS_STARTED_AFTER_MS = config.whole_number(
    "RESULTS_STARTED_AFTER_MS", config.RESULTS_STARTED_AFTER_MS_DEFAULT
)
# Retention (mysite/retention.py): beat's daily mysite.tasks.prune_results
# deletes a SUCCESS older than RESULTS_KEEP_DAYS, a FAILURE or REVOKED older
# than RESULTS_KEEP_FAILED_DAYS (by its last state write, date_done), and a row
# still in flight only past twice the longer of the two; a UserTask goes with
# its result. No Celery expiry: with one set, beat would add its own
# celery.backend_cleanup (one unbatched DELETE) next to ours.
CELERY_RESULT_EXPIRES = None
RESULTS_KEEP_DAYS, RESULTS_KEEP_FAILED_DAYS = (  # defaults 7 and 30
    config.positive_int(name, default) for name, default in config.RESULTS_KEEP_DEFAULTS.items()
)
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True  # reconnect after a dropped DB connection
CELERY_RESULT_BACKEND_MAX_RETRIES = 5

# Delivery. Late ack: a message is acknowledged after its task ran, so a
# worker that dies mid-task does not lose it, and a pool process that dies
# (SIGKILL, the OOM killer) puts its task back on the queue: every task is
# safe to run twice (its row's status, claims and locks decide).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# If the broker connection drops, cancel running late-ack tasks: their messages
# go back to the queue and would otherwise run twice in parallel. What a worker
# held then (those, prefetched ones, countdowns) goes back as soon as it is
# connected again, and the worker itself survives the reconnect
# (mysite/kombu_fixes.py: kombu 5.7.0 crashed there, celery/celery#9250).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# A cold shutdown (SIGQUIT) first gives running tasks this long, then cancels
# what still runs: rolled back, its message back on the queue (late ack). Under
# `make run` SIGTERM is one (the Procfile's REMAP_SIGTERM=SIGQUIT), so a worker
# is gone within honcho's 5 s; elsewhere SIGTERM stays a warm shutdown, which
# waits for every task (compose's and Kubernetes' grace outlasts the longest).
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 1.5

# Workers. Prefetch 4 suits short tasks; the pools for long or money-moving
# tasks run with --prefetch-multiplier=1 on their command line.
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_WORKER_MAX_TASKS_PER_CHILD = 1000  # recycle processes: bounds leaks
CELERY_WORKER_MAX_MEMORY_PER_CHILD = 512 * 1024  # KiB
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # LOGGING above formats worker lines
# Task events on by default, so `celery events` and Flower see tasks (sent,
# started, done) without enabling them remotely on every worker.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
# Celery's consumer, publishing those events in batches (mysite/worker.py).
CELERY_WORKER_CONSUMER = "mysite.worker:Consumer"
# Celery's Django fixup closes the database connection around every task (a new
# PostgreSQL connection each time) unless this is set; mysite/celery.py applies
# Django's own rule instead (reuse up to CONN_MAX_AGE, drop broken ones).
CELERY_DB_REUSE_MAX = 1000

# Schedules live in the database and are edited in the admin. Any number of
# beats may run: the one holding the lease (a database row, mysite/beat.py)
# sends, the others stand by and take over within BEAT_LEASE_SECONDS (plus one
# tick, at most a third of it) of the leader dying; SIGTERM hands over at once.
# The probe (manage.py beat_status) reads what this host's beat writes to
# BEAT_HEARTBEAT_FILE each tick.
CELERY_BEAT_SCHEDULER = "mysite.beat:LeaseScheduler"
BEAT_LEASE_SECONDS = env.int("BEAT_LEASE_SECONDS", default=30)
if BEAT_LEASE_SECONDS < 3:  # noqa: PLR2004  (a tick a second at least, three per lease)
    raise config.ConfigError("BEAT_LEASE_SECONDS must be at least 3")
BEAT_HEARTBEAT_FILE = Path(env("BEAT_HEARTBEAT_FILE", default=str(VAR_DIR / "beat.heartbeat")))
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True

# --- API (/api/v1/) ----------------------------------------------------------
# Requests per second per API token (or per signed-in user, or per client
# address), with bursts of up to API_THROTTLE_BURST; the buckets live where
# the provider limits do (RATE_LIMIT_REDIS_URL), shared by every web process.
API_THROTTLE_RATE = env.float("API_THROTTLE_RATE", default=20.0)
API_THROTTLE_BURST = env.float("API_THROTTLE_BURST", default=40.0)
API_PAGE_SIZE = 50  # items per page of every list, unless ?limit= asks for fewer
API_PAGE_SIZE_MAX = 200
# A token's last-used time is written at most this often (a write per request
# would make every API call a database write).
API_TOKEN_TOUCH_SECONDS = 60
