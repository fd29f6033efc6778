"""The production command lines, run outside containers.

Every process of docker/docker-compose.yml (gunicorn, one worker per pool,
beat) starts from the compose file's own command line with production
settings (DEBUG off), against this machine's PostgreSQL and a Redis database
of its own. Through the web API (as a program, with a bearer token made by
``manage.py create_api_token`` in the deployed environment) the test starts work
for every app and sees it done; then SIGTERM stops every process cleanly, and a payment that was in
the middle of its transaction when the payments worker was told to stop is
finished, once.
"""

import http.cookiejar
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from payments import services
from payments.models import LedgerEntry, Payment
from reports.models import Report
from tests.helpers.deploy import ROOT, compose_services
from tests.helpers.factories import picture
from tests.helpers.payments import hold_account, open_funded
from tests.helpers.services import closed_port, database_url, require, wait_for, waiting_for_a_lock
from tests.helpers.users import production_user
from tests.parallel import OWN_REDIS_DBS, redis_url_on

BIN = Path(sys.executable).parent
WORKERS = ("worker-default", "worker-images", "worker-io", "worker-payments")
ROLES = ("web", *WORKERS, "beat")

pytestmark = pytest.mark.django_db(transaction=True)


def smoke_broker(db: int = OWN_REDIS_DBS["smoke"]) -> str:
    """A Redis database of the test's own on the configured Redis (needs PostgreSQL too)."""
    url = settings.CELERY_BROKER_URL
    require(url.startswith("redis://"), "the smoke test needs Redis (CELERY_BROKER_URL)")
    require(connection.vendor == "postgresql", "the smoke test needs PostgreSQL (DATABASE_URL)")
    return redis_url_on(url, db)


class Site:
    """The processes, a logged-in HTTP client of the web one (the pages), and a
    program's client of its API (a bearer token, no cookies)."""

    def __init__(self, tmp_path: Path, broker: str):
        self.tmp, self.port = tmp_path, closed_port()  # free now: gunicorn will listen on it
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_"))},
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback: no TLS proxy here
            "SECURE_COOKIES": "false",
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": broker,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "2",
            "VAR_DIR": str(tmp_path / "var"),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "PAYMENTS_LOCK_TIMEOUT_MS": "60000",  # the held lock below must not time out
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.program = urllib.request.build_opener()  # no cookies: only its token
        self.token: str | None = None

    def start(self, role: str, command: list[str], cwd: Path = ROOT, **env: str) -> None:
        """Run ``command`` as ``role``, in ``cwd``, with ``env`` over the site's variables."""
        metrics = self.tmp / f"metrics-{role}"  # one folder per parent process
        metrics.mkdir(exist_ok=True)
        executable = BIN / command[0]
        log = (self.tmp / f"{role}.log").open("w")
        self.processes[role] = subprocess.Popen(  # noqa: S603  (the compose file's command)
            [str(executable), *command[1:]],
            cwd=cwd,
            env={**self.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a kill reaches its children too
        )

    def healthcheck(self, role: str) -> bool:
        """The compose healthcheck of ``role`` (``$$`` is compose's ``$``) passes."""
        kind, line = compose_services()[role]["healthcheck"]["test"]
        assert kind == "CMD-SHELL"
        done = subprocess.run(  # noqa: S603  (the compose file's healthcheck)
            ["/bin/sh", "-c", line.replace("$$", "$")],
            cwd=ROOT,
            env={
                **self.env,
                "PATH": f"{BIN}:{os.environ['PATH']}",
                "HOSTNAME": socket.gethostname(),
            },
            capture_output=True,
            check=False,
            timeout=60,
        )
        return done.returncode == 0

    def manage(self, *arguments: str) -> str:
        """``manage.py <arguments>`` as the deployment runs it (its variables); its stdout."""
        done = subprocess.run(  # noqa: S603  (our own manage.py)
            [str(BIN / "python"), str(ROOT / "manage.py"), *arguments],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def api_token(self, username: str) -> None:
        """From now on ``api()`` calls send a new token of ``username``'s."""
        self.token = self.manage("create_api_token", username, "--name", "deploy test").strip()

    def log(self, role: str) -> str:
        return (self.tmp / f"{role}.log").read_text()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    # -- HTTP ---------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(
        self,
        path: str,
        data: bytes | None = None,
        headers: dict | None = None,
        *,
        program: bool = False,
    ):
        """(status, body) of a request to the web process: the signed-in browser's,
        or with ``program`` a program's (its token, no cookie, no CSRF token)."""
        if program:
            assert self.token, "call api_token() first"
            sent = {"Authorization": f"Bearer {self.token}"}
        else:
            csrf = next((c.value or "" for c in self.jar if c.name == "csrftoken"), "")
            sent = {"X-CSRFToken": csrf, "Referer": f"http://127.0.0.1:{self.port}/"}
        request = urllib.request.Request(  # noqa: S310  (http://127.0.0.1 only)
            self.url(path), data=data, headers={**sent, **(headers or {})}
        )
        opener = self.program if program else self.opener
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return None, b""

    def json(self, path: str, body: dict | None = None, headers: dict | None = None) -> tuple:
        """(status, decoded body) of a program's request to the API."""
        data = None if body is None else json.dumps(body).encode()
        status, raw = self.request(
            path, data, {"Content-Type": "application/json", **(headers or {})}, program=True
        )
        return status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw

    def form(self, path: str, fields: dict) -> int:
        data = urllib.parse.urlencode(fields).encode()
        status, _ = self.request(path, data, {"Content-Type": "application/x-www-form-urlencoded"})
        return status

    def upload(self, path: str, name: str, content: bytes) -> tuple:
        boundary = uuid.uuid4().hex
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
        status, raw = self.request(
            path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}, program=True
        )
        return status, json.loads(raw)

    def login(self, username: str, password: str) -> None:
        self.request("/accounts/login/")  # the CSRF cookie
        self.form("/accounts/login/", {"username": username, "password": password})
        assert any(cookie.name == "sessionid" for cookie in self.jar), "login failed"


@pytest.fixture
def site(tmp_path):
    broker = smoke_broker()
    queues = redis.Redis.from_url(broker)
    queues.flushdb()
    site = Site(tmp_path, broker)
    services_ = compose_services()
    try:
        for role in ROLES:
            site.start(role, services_[role]["command"])
        wait_for(lambda: site.request("/readyz/")[0] == 200, timeout=90, what="gunicorn's /readyz/")
        for role in (*WORKERS, "beat"):  # each one's own healthcheck, as Docker runs it
            wait_for(lambda role=role: site.healthcheck(role), timeout=90, what=f"{role} to ping")
        yield site
    finally:
        site.stop_all()
        queues.flushdb()
        queues.close()


@pytest.mark.slow
def test_the_production_processes_run_every_app_and_stop_cleanly(site, tmp_path):
    # given: a staff user with two funded accounts
    user = production_user("ops", "smoke-test-pw", is_staff=True)  # gunicorn checks it
    main = open_funded(user, name="Main", deposit="100.00")
    savings = open_funded(user, name="Savings", deposit="0")
    site.login("ops", "smoke-test-pw")  # the report is asked for on its page
    site.api_token("ops")  # the rest through the API, as a program

    # when: one piece of work per app, through the web
    demo = site.json("/api/v1/tasks/demo", {"seconds": 1})
    image = site.upload("/api/v1/images/", "smoke.jpg", picture())
    report_made = site.form("/reports/", {"period": "monthly"})
    payment = site.json(
        "/api/v1/payments/",
        {"from": main.pk, "to": savings.pk, "amount": "12.50"},
        {"Idempotency-Key": "smoke-1"},
    )

    # then: each is done by the worker of its pool
    assert demo[0] == 202, demo
    assert image[0] == 202, image
    assert report_made == 200  # redirected to the report's page
    report = Report.objects.get(requested_by=user)
    assert payment[0] == 202, payment
    wait_for(
        lambda: site.json(demo[1]["status_url"])[1]["state"] == "SUCCESS", what="the demo task"
    )
    image_url = image[1]["images"][0]["status_url"]
    wait_for(lambda: site.json(image_url)[1]["status"] == "ready", what="the image")
    wait_for(
        lambda: site.json(f"/api/v1/reports/{report.pk}")[1]["status"] == "ready",
        what="the report",
    )
    wait_for(  # a finished report tells its requester: in-app, on the io worker
        lambda: site.json("/api/v1/notifications/unread-count")[1]["unread"] == 1,
        what="the report's notification",
    )
    wait_for(
        lambda: site.json(f"/api/v1/payments/{payment[1]['id']}")[1]["status"] == "completed",
        what="the payment",
    )
    for role, text in {
        "worker-default": "mysite.tasks.demo_task",
        "worker-images": "images.tasks.process_image",
        "worker-io": "notifications.tasks.send_notification",
        "worker-payments": "payments.tasks.process_payment",
    }.items():
        assert f"Task {text}[" in site.log(role), f"{role} did not run {text}"

    # when: a payment is in the middle of its transaction (it waits for a row
    # another transaction holds) and every process gets SIGTERM
    with hold_account(main):  # released at the end of the block: the payment goes on
        slow = site.json(
            "/api/v1/payments/",
            {"from": main.pk, "to": savings.pk, "amount": "7.50"},
            {"Idempotency-Key": "smoke-2"},
        )
        assert slow[0] == 202, slow
        wait_for(lambda: waiting_for_a_lock() >= 1, what="the payment to wait in its transaction")
        for process in site.processes.values():
            process.send_signal(signal.SIGTERM)
        wait_for(lambda: site.processes["web"].poll() is not None, what="gunicorn to stop")
        assert site.processes["worker-payments"].poll() is None  # waits for its task

    # then: every process exits by itself, with 0, and the payment was applied once
    for role, process in site.processes.items():
        code = process.wait(60)
        assert code == 0, f"{role} exited with {code}:\n{site.log(role)[-3000:]}"
    done = Payment.objects.get(pk=slow[1]["id"])
    assert done.status == "completed"
    assert LedgerEntry.objects.filter(payment=done).count() == 2
    main.refresh_from_db()
    assert main.balance == Decimal("80.00")
    assert services.ledger_check() == []
