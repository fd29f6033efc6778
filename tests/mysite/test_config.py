"""A bad environment stops every entry point with one line naming the variable;
production settings pass Django's deployment checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from mysite import config
from tests.helpers.services import closed_port

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "shop.example.com",
}


def run(command: list[str], tmp_path, timeout: float = 60, **env) -> subprocess.CompletedProcess:
    """``command`` in a fresh process with only ``env`` on top of a clean environment."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY"}
        and not key.startswith("AWS_")  # CI's bucket
        # nor what other tests set for themselves (the browser tests' async escape hatch)
        and not key.startswith("DJANGO_")
    }
    clean.update(VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(  # noqa: S603  (our own interpreter and code)
        command, check=False, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=timeout
    )


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


BAD = [
    ({"DEBUG": "false"}, "SECRET_KEY is not set; it is required when DEBUG is off"),
    ({"DEBUG": "flase"}, "DEBUG='flase' is not a yes/no value"),
    ({"DATABASE_URL": "postgres//db/shop"}, "DATABASE_URL is malformed (postgres//db/shop)"),
    ({"DATABASE_URL": "mysql://u@db/shop"}, "DATABASE_URL is malformed (mysql://u@db/shop)"),
    (
        {"DATABASE_URL": "postgres://u:hunter2@db:port/shop"},
        "DATABASE_URL is malformed (postgres://u:***@db:port/shop)",
    ),
    ({"DATABASE_URL": "postgres://db:5432/"}, "DATABASE_URL names no database"),
    ({"CELERY_BROKER_URL": "redis//cache"}, "CELERY_BROKER_URL is malformed (redis//cache)"),
    ({"CELERY_BROKER_URL": "kafka://cache"}, "CELERY_BROKER_URL is malformed (kafka://cache)"),
    ({"CELERY_BROKER_URL": "redis:///0"}, "CELERY_BROKER_URL names no host"),
    ({"CELERY_BROKER_URL": "redis://cache/one"}, "CELERY_BROKER_URL has a bad Redis database"),
    (
        {"CELERY_BROKER_URL": "amqp://u:pw@mq:56x2//"},
        "CELERY_BROKER_URL is malformed (amqp://u:***@",
    ),
    ({"AWS_STORAGE_BUCKET_NAME": "My_Media"}, "AWS_STORAGE_BUCKET_NAME='My_Media' is not a bucket"),
    ({"AWS_STORAGE_BUCKET_NAME": "m"}, "AWS_STORAGE_BUCKET_NAME='m' is not a bucket name"),
    (
        {"AWS_STORAGE_BUCKET_NAME": "media", "AWS_S3_ENDPOINT_URL": "seaweedfs:8333"},
        "AWS_S3_ENDPOINT_URL is malformed ('seaweedfs:8333')",
    ),
    (
        {"AWS_STORAGE_BUCKET_NAME": "media", "AWS_S3_ENDPOINT_URL": "http://s3:83x3"},
        "AWS_S3_ENDPOINT_URL is malformed ('http://s3:83x3')",
    ),
    (
        {"AWS_STORAGE_BUCKET_NAME": "media", "AWS_S3_REGION_NAME": "EU Central"},
        "AWS_S3_REGION_NAME='EU Central' is not a region name",
    ),
    (
        {"AWS_STORAGE_BUCKET_NAME": "media", "AWS_ACCESS_KEY_ID": "key"},
        "AWS_SECRET_ACCESS_KEY is not set; set both keys or neither",
    ),
    (
        {"AWS_S3_ENDPOINT_URL": "http://s3:8333"},
        "AWS_S3_ENDPOINT_URL is set but AWS_STORAGE_BUCKET",
    ),
    ({"RATE_LIMIT_REDIS_URL": "redis//cache"}, "RATE_LIMIT_REDIS_URL is malformed (redis//cache)"),
    ({"RATE_LIMIT_REDIS_URL": "amqp://mq//"}, "RATE_LIMIT_REDIS_URL is malformed (amqp://mq//)"),
    (
        {"RATE_LIMIT_REDIS_URL": "redis://:hunter2@cache:63x9/0"},
        "RATE_LIMIT_REDIS_URL is malformed (redis://:***@cache:63x9/0)",
    ),
    (
        {"RATE_LIMIT_REDIS_URL": "redis://cache/one"},
        "RATE_LIMIT_REDIS_URL has a bad Redis database",
    ),
]


@pytest.mark.parametrize(("env", "message"), BAD)
@pytest.mark.slow
def test_a_bad_variable_stops_manage_py_with_one_line(tmp_path, env, message):
    done = run(manage("check"), tmp_path, **env)

    assert done.returncode == 2
    assert done.stderr.startswith(f"mysite: configuration error: {message}"), done.stderr
    assert len(done.stderr.splitlines()) == 1  # no traceback
    assert "hunter2" not in done.stderr


@pytest.mark.parametrize("command", [["worker", "-Q", "default"], ["beat"]])
def test_celery_stops_with_the_same_line(tmp_path, command):
    done = run([CELERY, "-A", "mysite", *command], tmp_path, DEBUG="false")

    assert done.returncode == 2
    assert done.stderr.startswith("mysite: configuration error: SECRET_KEY is not set")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [
        ["worker", "-Q", "default", "-P", "solo"],
        # a file scheduler: the hook is the same, and the test database stays untouched
        ["beat", "-S", "celery.beat:PersistentScheduler", "-s", "{tmp}/schedule"],
    ],
)
@pytest.mark.slow
def test_an_unreachable_broker_stops_celery_at_start_with_one_line(tmp_path, command):
    command = [part.replace("{tmp}", str(tmp_path)) for part in command]
    broker = f"redis://:secret@127.0.0.1:{closed_port()}/0"

    done = run(
        [CELERY, "-A", "mysite", *command, "--loglevel", "WARNING"],
        tmp_path,
        CELERY_BROKER_URL=broker,
        CELERY_BROKER_STARTUP_TIMEOUT="1",
    )

    assert done.returncode == 1
    [line] = [line for line in done.stderr.splitlines() if line.startswith("mysite:")]
    assert line.startswith(
        f"mysite: cannot reach the broker at redis://:**@127.0.0.1:{broker.rsplit(':', 1)[1]}"
    )
    assert "(CELERY_BROKER_URL)" in line
    assert "Traceback" not in done.stderr
    assert "secret" not in done.stderr


def test_production_settings_pass_the_deployment_checks(tmp_path):
    done = run(manage("check", "--deploy", "--fail-level", "WARNING"), tmp_path, **PRODUCTION)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_the_deployment_checks_do_fail_with_debug_on(tmp_path):
    done = run(
        manage("check", "--deploy", "--fail-level", "WARNING"),
        tmp_path,
        **PRODUCTION | {"DEBUG": "true"},
    )

    assert done.returncode == 1
    assert "security.W018" in done.stderr  # DEBUG in deployment


def test_production_redirects_to_https_but_answers_probes_by_ip(tmp_path):
    probe = (
        "import django; django.setup(); from django.test import Client; c = Client(); "
        "https = {'X-Forwarded-Proto': 'https'}; "
        "print(c.get('/healthz/').status_code, c.get('/accounts/login/').status_code, "
        "c.get('/accounts/login/', headers=https).status_code, "
        # a probe by pod IP over plain HTTP is answered; a page by IP is not
        "c.get('/healthz/', HTTP_HOST='10.1.2.3:8000').status_code, "
        "c.get('/metrics/', HTTP_HOST='10.1.2.3:8000').status_code, "
        "c.get('/accounts/login/', HTTP_HOST='10.1.2.3:8000', headers=https).status_code)"
    )
    done = run(
        [sys.executable, "-c", probe],
        tmp_path,
        **PRODUCTION | {"ALLOWED_HOSTS": "testserver"},
        DJANGO_SETTINGS_MODULE="mysite.settings",
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "301", "200", "200", "200", "400"]


@pytest.mark.parametrize(
    ("raw", "value"), [("true", True), ("ON", True), ("0", False), ("no", False)]
)
def test_flags_read_the_usual_spellings(monkeypatch, raw, value):
    monkeypatch.setenv("SECURE_COOKIES", raw)

    assert config.flag("SECURE_COOKIES", default=not value) is value
