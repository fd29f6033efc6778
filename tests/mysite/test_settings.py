"""The settings with no environment: the embedded defaults a fresh machine runs on."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.db import connection
from mysite.celery import app
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal = cursor.fetchone()[0]
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db": str(settings.DATABASES["default"]["NAME"]),
    "journal": journal,
    "broker": app.conf.broker_url,
    "queue_folder": app.conf.broker_transport_options["data_folder_in"],
    "backend": type(app.backend).__name__,
    "debug": settings.DEBUG,
    "hosts": settings.ALLOWED_HOSTS,
}))
"""


def run_settings(tmp_path, probe=PROBE, **env):
    """Run ``probe`` in a fresh interpreter whose environment sets only ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    clean.update(DJANGO_SETTINGS_MODULE="mysite.settings", VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(  # noqa: S603  (our own interpreter and code)
        [sys.executable, "-c", probe],
        check=False,
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_no_environment_means_sqlite_wal_and_filesystem_broker(tmp_path):
    done = run_settings(tmp_path)

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found == {
        "engine": "django.db.backends.sqlite3",
        "db": str(tmp_path / "var" / "db.sqlite3"),
        "journal": "wal",
        "broker": "filesystem://localhost/",
        "queue_folder": str(tmp_path / "var" / "broker" / "queue"),
        "backend": "UpsertDatabaseBackend",
        "debug": True,
        "hosts": ["localhost", "127.0.0.1", "[::1]"],
    }


def test_debug_off_without_secret_key_refuses_to_start(tmp_path):
    done = run_settings(tmp_path, DEBUG="false", SECRET_KEY="")

    assert done.returncode == 2
    assert done.stderr.startswith("mysite: configuration error: SECRET_KEY is not set;")
    assert len(done.stderr.splitlines()) == 1


def test_database_url_switches_to_postgresql(tmp_path):
    probe = "import django; django.setup(); from django.conf import settings as s; "
    probe += "d = s.DATABASES['default']; print(d['ENGINE'], d['NAME'], d['HOST'], d['PORT'])"

    done = run_settings(tmp_path, probe, DATABASE_URL="postgres://u:p@db.example:5433/shop")

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["django.db.backends.postgresql", "shop", "db.example", "5433"]
