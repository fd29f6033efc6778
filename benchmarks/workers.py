"""A real Celery worker for a benchmark: started once, answering a ping, logged to var/."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker_start(
    app, *options: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, Path]:
    """``celery -A mysite worker <options>`` with a unique node name; waits for its pong.

    ``app``: the Celery app that pings it; ``env``: variables over this process's.
    Returns the process and its log file.
    """
    node = f"bench-{uuid.uuid4().hex[:8]}@localhost"
    command = [
        *(sys.executable, "-m", "celery", "-A", "mysite", "worker", "-n", node, *options),
        *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"),
    ]
    log = (ROOT / "var").joinpath(f"bench-{node.split('@', maxsplit=1)[0]}.log")
    log.parent.mkdir(exist_ok=True)
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and code)
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[node], timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"The worker did not start; see {log}")
    return process, log
