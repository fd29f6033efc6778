"""Fixtures of the deploy tests: a Redis of the test's own, which a test may restart or kill."""

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from mysite.celery import app as celery_app
from tests.helpers.broker import broker_pools_forget
from tests.helpers.services import closed_port, require, wait_for

REDIS_SERVER = shutil.which("redis-server")


class PersistentRedis:
    """A ``redis-server`` of the test's own that keeps its data across restarts.

    Append-only, as in docker/docker-compose.yml: SIGTERM makes Redis write the
    file out and exit; the next start on the same port and folder loads it.
    """

    def __init__(self, port: int, folder: Path):
        self.port, self.folder = port, folder
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{port}/0"
        self.restarts = 0
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  (the system's redis-server)
                [
                    *(str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
                    *("--dir", str(self.folder)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.answers, timeout=20, what=f"redis-server on port {self.port}")

    def answers(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=1).ping()
        except redis.RedisError:  # refused, or still loading its file
            return False

    def stop(self) -> None:
        """SIGTERM: Redis closes every connection, writes its file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)

    def restart(self, *, down: float) -> None:
        self.stop()
        time.sleep(down)  # the workers notice and retry meanwhile
        self.start()
        self.restarts += 1

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


@pytest.fixture
def own_redis(tmp_path):
    """A persistent Redis of the test's own, and this process's app pointed at it
    (``enqueue`` and ``control.ping`` go there); killed at the end."""
    require(REDIS_SERVER is not None, "needs redis-server (apt install redis-server)")
    server = PersistentRedis(closed_port(), tmp_path / "redis")
    server.start()
    conf = celery_app.conf
    saved = {key: conf.get(key) for key in ("broker_read_url", "broker_write_url")}
    conf.broker_read_url = conf.broker_write_url = server.url
    broker_pools_forget()
    try:
        yield server
    finally:
        conf.update(saved)
        broker_pools_forget()
        server.kill()
