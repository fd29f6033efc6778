"""Real worker processes of our own, to run tasks in parallel and to kill."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from mysite.celery import app as celery_app
from tests.conftest import database_url, wait_for


class WorkerProcess:
    """A real ``celery -A mysite worker`` (prefork) in its own session, on ``queues``."""

    def __init__(
        self,
        log_path: Path,
        *,
        concurrency: int,
        name: str,
        queues: str = "payments",
        environment: dict[str, str] | None = None,
    ):
        self.log_path = log_path
        self.name = name
        env = {
            **os.environ,
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "CELERY_BROKER_URL": celery_app.conf.broker_url,
            "PYTHONUNBUFFERED": "1",
            **(environment or {}),
        }
        command = [
            *(sys.executable, "-m", "celery", "-A", "mysite", "worker", "-Q", queues),
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
