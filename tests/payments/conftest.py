"""Accounts with money on them, made through the services (so the ledger adds up)."""

import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.db import connection

from mysite.celery import app as celery_app
from mysite.priorities import broker_transport
from payments import services
from payments.models import Account
from tests.conftest import database_url, require, wait_for


def open_funded(owner, *, name="Main", currency="EUR", deposit="100.00"):
    """An open account of ``owner`` with ``deposit`` on it (a real, ledgered deposit)."""
    account = services.account_open(owner=owner, name=name, currency=currency)
    if Decimal(deposit):
        services.account_deposit(
            account=account, amount=deposit, idempotency_key=f"deposit-{uuid.uuid4().hex}"
        )
        account.refresh_from_db()
    return account


@pytest.fixture
def alice_account(user):
    return open_funded(user, name="Alice main")


@pytest.fixture
def bob_account(other_user):
    return open_funded(other_user, name="Bob main", deposit="0")


# -- worker processes of our own, to run payments in parallel and to kill -------


class WorkerProcess:
    """A real ``celery -A mysite worker -Q payments`` (prefork) in its own session."""

    def __init__(self, log_path: Path, *, concurrency: int, name: str):
        self.log_path = log_path
        self.name = name
        env = {
            **os.environ,
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "CELERY_BROKER_URL": celery_app.conf.broker_url,
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            *(sys.executable, "-m", "celery", "-A", "mysite", "worker", "-Q", "payments"),
            *("--pool", "prefork", "--concurrency", str(concurrency)),
            *("--prefetch-multiplier", "1", "-n", f"{name}@%h", "-l", "INFO"),
            *("--without-gossip", "--without-mingle", "--pidfile="),
        ]
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group: kill the pool with its parent
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        wait_for(
            lambda: self.process.poll() is not None or " ready." in self.log(),
            timeout=WORKER_START_TIMEOUT,
            what=f"worker {self.name} to start",
        )
        if self.process.poll() is not None:
            pytest.fail(f"worker {self.name} exited:\n{self.log()}", pytrace=False)

    def children(self) -> list[int]:
        """The pool's processes (prefork children) right now."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill(self) -> None:
        """SIGKILL the worker and its pool at once: nothing gets to clean up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


WORKER_START_TIMEOUT = 60.0


@pytest.fixture
def payment_workers(transactional_db, celery_worker, tmp_path):
    """Start payment workers as processes; the session's in-process worker lets go
    of the payments queue meanwhile, so these processes do all the work.

    Needs PostgreSQL (row locks; SQLite has none) and a broker with remote control.
    """
    require(connection.vendor == "postgresql", "payment concurrency needs PostgreSQL")
    require(
        broker_transport(celery_app.conf.broker_url) != "filesystem",
        "payment workers in processes need a network broker (Redis or RabbitMQ)",
    )
    me = [celery_worker.hostname]
    celery_app.control.cancel_consumer("payments", destination=me, reply=True)
    started: list[WorkerProcess] = []

    def start(*, concurrency: int = 2) -> WorkerProcess:
        name = f"payments-test-{len(started)}"
        worker = WorkerProcess(tmp_path / f"{name}.log", concurrency=concurrency, name=name)
        started.append(worker)
        worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
        for worker in started:
            print(f"--- {worker.name} log, exit code {worker.process.returncode} ---")
            print(worker.log())
        celery_app.control.add_consumer("payments", destination=me, reply=True)


def hold_account(account: Account):
    """Another transaction that holds ``account``'s row (an admin editing it, say:
    an UPDATE takes the same FOR NO KEY UPDATE lock as payment processing).
    Returns its connection: ``rollback()`` releases the lock."""
    db = connection.settings_dict
    holder = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432
    )
    with holder.cursor() as cursor:
        cursor.execute("UPDATE payments_account SET name = name WHERE id = %s", [account.pk])
    return holder
