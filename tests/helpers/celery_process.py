"""Real Celery processes of our own (workers, beats): to run tasks in parallel,
to watch what they log, and to kill."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from django.conf import settings

from mysite.celery import app as celery_app
from tests.helpers.services import database_url

START_TIMEOUT = 60.0  # a process imports Django and Celery: slow on a busy machine
STOP_TIMEOUT = 30.0


class CeleryProcess:
    """A running ``celery -A mysite <arguments>`` on the test database and broker.

    It has a session (process group) of its own, so a signal reaches a worker's
    pool with its parent; stdout and stderr go to ``log_path``. ``environment``
    is laid over ``inherit`` (this process's environment unless given).
    """

    stop_timeout = STOP_TIMEOUT

    def __init__(
        self,
        log_path: Path,
        *arguments: str,
        name: str,
        environment: Mapping[str, str] | None = None,
        inherit: Mapping[str, str] | None = None,
    ):
        self.log_path = log_path
        self.name = name
        self.env = {
            **(os.environ if inherit is None else inherit),
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "CELERY_BROKER_URL": celery_app.conf.broker_url,
            "PYTHONUNBUFFERED": "1",
            **(environment or {}),
        }
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
                [sys.executable, "-m", "celery", "-A", "mysite", *arguments, "--pidfile="],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self, since: int = 0) -> str:
        return self.log_path.read_bytes()[since:].decode(errors="replace")

    def mark(self) -> int:
        """A position in the log: ``since=`` for lines written after now."""
        return self.log_path.stat().st_size

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(
                f"{self.name} exited with code {self.process.returncode}; its log:\n{self.log()}",
                pytrace=False,
            )

    def poll(self, condition: Callable[[], object], *, timeout: float) -> bool:
        """Whether ``condition()`` came true within ``timeout`` s; fails if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if condition():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def wait_log(
        self, text: str, *, since: int = 0, timeout: float = START_TIMEOUT, what: str = ""
    ) -> None:
        """Wait until ``text`` is in the log (after ``since``); fail if it exits first."""
        if not self.poll(lambda: text in self.log(since), timeout=timeout):
            pytest.fail(
                f"timed out after {timeout}s waiting for {what or repr(text)}; "
                f"{self.name}'s log:\n{self.log()}",
                pytrace=False,
            )

    def send(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` to the process group (a worker's pool too), if it still runs."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig``, wait, SIGKILL it if it lingers; the exit code."""
        self.send(sig)
        return self.stopped()

    def stopped(self) -> int:
        """Wait for it to exit (``stop_timeout`` s), SIGKILL it if it lingers; the exit code."""
        try:
            self.process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the process and its pool at once: nothing gets to clean up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def print_log(self, tail: int | None = None) -> None:
        """The log on stdout: pytest shows it when the test failed."""
        print(f"--- {self.name} ({self.log_path}), exit code {self.process.returncode} ---")
        print(self.log()[-tail:] if tail else self.log())


def stop_all(processes: list[CeleryProcess]) -> None:
    """Stop them together: SIGTERM to every one, then wait for each."""
    for process in processes:
        process.send()
    for process in processes:
        process.stopped()


class WorkerProcess(CeleryProcess):
    """A real ``celery -A mysite worker`` (prefork unless told) on ``queues``."""

    def __init__(
        self,
        log_path: Path,
        *,
        concurrency: int,
        name: str,
        queues: str = "payments",
        pool: str = "prefork",
        options: tuple[str, ...] = ("--prefetch-multiplier", "1"),
        environment: Mapping[str, str] | None = None,
        inherit: Mapping[str, str] | None = None,
    ):
        super().__init__(
            log_path,
            *("worker", "-Q", queues, "--pool", pool, "--concurrency", str(concurrency)),
            *(*options, "-n", f"{name}@%h", "-l", "INFO", "--without-gossip", "--without-mingle"),
            name=name,
            environment=environment,
            inherit=inherit,
        )

    def wait_ready(self) -> None:
        self.wait_log(" ready.", what=f"worker {self.name} to start")

    def children(self) -> list[int]:
        """The pool's processes (prefork children) right now. Each thread lists the
        children it forked: with a threaded pool (a broker without an event loop,
        e.g. the embedded one) the supervisor thread forks the replacements."""
        threads = Path(f"/proc/{self.process.pid}/task").glob("*/children")
        return sorted(int(pid) for path in threads for pid in path.read_text().split())


class BeatProcess(CeleryProcess):
    """A real ``celery -A mysite beat`` checking its schedule every ``max_interval`` s."""

    def __init__(
        self,
        log_path: Path,
        *,
        name: str = "beat",
        max_interval: int = 1,
        options: tuple[str, ...] = (),
        **kwargs,
    ):
        super().__init__(
            log_path,
            *("beat", *options, "--max-interval", str(max_interval), "-l", "INFO"),
            name=name,
            **kwargs,
        )

    def sent(self, task: str, since: int = 0) -> int:
        """How many times beat has sent the schedule ``task`` so far."""
        return self.log(since).count(f"Sending due task {task} (")

    def sent_tasks(self) -> set[str]:
        """The schedules beat has sent at least once."""
        marker = "Sending due task "
        lines = self.log().splitlines()
        return {line.split(marker, 1)[1].rsplit(" (", 1)[0] for line in lines if marker in line}
