"""`make run` stops cleanly (issue 16): the real honcho, the real Procfile.

honcho starts each Procfile process in a session of its own, so a terminal's
Ctrl-C (SIGINT to the foreground group) reaches honcho alone; honcho then sends
SIGTERM to every process group, and SIGKILL to what is left 5 s later. Each
process must be gone by then, by itself, and a payment whose task is running
when Ctrl-C comes must end applied exactly once: completed during the stop, or
put back on the queue and completed at the next start. Never lost, never half.
"""

import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from payments import services
from payments.models import Account, LedgerEntry, Payment
from tests.helpers.deploy import ROOT
from tests.helpers.services import closed_port, database_url, require, wait_for, waiting_for_a_lock

pytestmark = pytest.mark.django_db(transaction=True)

HONCHO = Path(sys.executable).parent / "honcho"
START_TIMEOUT = 180.0  # four Django processes starting on a busy 2-core machine
STOPPED = re.compile(r"\| (\S+)\.1 stopped \(rc=(-?\d+)\)")
# runserver has no SIGTERM handler: it ends by the signal, at once (its normal stop).
EXPECTED_CODES = {"web": -signal.SIGTERM, "worker": 0, "payments": 0, "beat": 0}
# What each process prints once it serves (honcho's lines: "HH:MM:SS name.1 | ...").
READY = {
    "web": "Quit the server with",
    "worker": " ready.",
    "payments": " ready.",
    "beat": "Beat lease:",
}


class Honcho:
    """``honcho start`` in ROOT as ``make run`` runs it, in a session of its own
    (as a terminal's foreground job is); its output in ``log_path``."""

    def __init__(self, log_path: Path, redis_url: str, *processes: str):
        self.log_path = log_path
        environment = {
            **os.environ,
            # The Makefile's PATH: the Procfile's "python" and "celery" are this venv's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "CELERY_BROKER_URL": redis_url,
            "WEB_PORT": str(closed_port()),
            "PYTHONUNBUFFERED": "1",
            # The payment task waits on the row lock this test holds, not giving up.
            "PAYMENTS_LOCK_TIMEOUT_MS": "600000",
        }
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  (honcho of this venv, our Procfile)
                [str(HONCHO), "start", *processes],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, names: set[str]) -> None:
        def ready() -> bool:
            log = self.log()
            if self.process.poll() is not None:
                pytest.fail(f"honcho exited while starting:\n{log}", pytrace=False)
            lines = log.splitlines()
            return all(
                any(line.startswith(f"{name}.1 ", 9) and READY[name] in line for line in lines)
                for name in names
            )

        wait_for(ready, timeout=START_TIMEOUT, what=f"{sorted(names)} to start")

    def ctrl_c(self) -> None:
        """As a terminal's Ctrl-C: SIGINT to the foreground group (honcho's)."""
        os.killpg(self.process.pid, signal.SIGINT)

    def kill(self) -> None:
        """After a failed test: honcho stops its processes (SIGKILL 5 s on), or dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def assert_stopped_cleanly(log: str, names: set[str]) -> None:
    """Every process exited by itself before honcho's SIGKILL, with its expected
    code, and nothing printed a traceback on the way out."""
    assert "SIGKILL" not in log, log
    for bad in ("Traceback", "KeyboardInterrupt", "WorkerLostError", "exited with 'signal"):
        assert bad not in log, f"{bad!r} in the output:\n{log}"
    codes = {name: int(code) for name, code in STOPPED.findall(log)}
    assert codes == {name: EXPECTED_CODES[name] for name in names}, log


@pytest.fixture
def accounts():
    """Two EUR accounts of one user, the payer funded (100.00)."""
    owner = get_user_model().objects.create_user("runner")
    payer = services.account_open(owner=owner, name="Main", currency="EUR")
    payee = services.account_open(owner=owner, name="Savings", currency="EUR")
    services.account_deposit(account=payer, amount="100.00", idempotency_key="fund")
    return payer, payee


@pytest.mark.slow
def test_ctrl_c_stops_make_run_by_itself_and_the_running_payment_is_applied_once(
    own_redis,
    accounts,
    tmp_path,
):
    require(connection.vendor == "postgresql", "needs PostgreSQL (row locks hold the payment task)")
    payer, payee = accounts
    everything = set(EXPECTED_CODES)
    # given `make run` up, and a payment whose task is running: waiting for a row
    # lock this test holds (as it would behind another transfer)
    honcho = Honcho(tmp_path / "run.log", own_redis.url)
    holder = psycopg2.connect(**connection.get_connection_params())
    try:
        honcho.wait_ready(everything)
        with holder.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM payments_account WHERE id = %s FOR NO KEY UPDATE", [payee.pk]
            )
        payment, _ = services.payment_create(
            payer_id=payer.pk, payee_id=payee.pk, amount="12.34", idempotency_key="run-1"
        )
        wait_for(waiting_for_a_lock, timeout=60, what="the payment task to wait for the lock")

        # when Ctrl-C comes, and the lock stays past the worker's soft shutdown (the
        # task is cancelled meanwhile; it notices once its query returns)
        honcho.ctrl_c()
        wait_for(
            lambda: "Initiating Soft Shutdown" in honcho.log(),
            timeout=20,
            what="the payments worker to begin its soft shutdown",
        )
        time.sleep(settings.CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT + 0.25)
        holder.commit()
        code = honcho.process.wait(60)
    finally:
        holder.close()
        honcho.kill()

    # then every process stopped by itself, without a traceback
    log = honcho.log()
    assert code == 130, log  # honcho's own code after SIGINT
    assert_stopped_cleanly(log, everything)

    # and the payment was applied then, or not at all and its message went back to
    # the queue (a busy machine decides which): then the next start applies it,
    # and SIGTERM to honcho alone stops that one cleanly too
    payment.refresh_from_db()
    path = "applied during the stop"
    if payment.status == Payment.Status.PENDING:
        path = "put back on the queue, applied at the next start"
        assert "Restoring 1 unacknowledged message(s)" in log
        assert Account.objects.get(pk=payee.pk).balance == 0  # nothing half-applied
        assert not LedgerEntry.objects.filter(payment=payment).exists()
        again = Honcho(tmp_path / "again.log", own_redis.url, "payments")
        try:
            again.wait_ready({"payments"})
            wait_for(
                lambda: Payment.objects.get(pk=payment.pk).status != Payment.Status.PENDING,
                timeout=60,
                what="the payment put back on the queue to be applied",
            )
            again.process.send_signal(signal.SIGTERM)
            assert again.process.wait(60) == 143  # honcho's own code after SIGTERM
        finally:
            again.kill()
        assert_stopped_cleanly(again.log(), {"payments"})
        payment.refresh_from_db()
    print(f"\nCtrl-C with a payment running: {path} ({tmp_path})")
    # once: the money moved one time, two ledger lines
    assert payment.status == Payment.Status.COMPLETED
    assert Account.objects.get(pk=payer.pk).balance == Decimal("87.66")
    assert Account.objects.get(pk=payee.pk).balance == Decimal("12.34")
    assert LedgerEntry.objects.filter(payment=payment).count() == 2
