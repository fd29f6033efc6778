"""Shared by the management commands that wait for work they queued."""

import time
from collections.abc import Callable

from django.core.management.base import CommandError

from mysite.enqueue import QUEUE_DOWN_MESSAGE, unpublished

POLL_SECONDS = 0.5


def wait_with_progress(
    stdout, check: Callable[[], tuple[str | None, bool]], *, timeout: float, what: str
) -> str | None:
    """Call ``check`` until it says done, printing each new progress line.

    ``check`` returns (progress line or None, done). Returns the last line.
    Raises ``CommandError`` after ``timeout`` seconds: the work itself goes on;
    at once if the broker was down (the work is saved, the sweep starts it).
    """
    if unpublished():
        raise CommandError(f"{QUEUE_DOWN_MESSAGE} Not waiting for it.")
    deadline = time.monotonic() + timeout
    shown = None
    while True:
        line, done = check()
        if line is not None and line != shown:
            stdout.write(line)
            shown = line
        if done:
            return shown
        if time.monotonic() > deadline:
            raise CommandError(f"Still running after {timeout:.0f} s; the {what} goes on.")
        time.sleep(POLL_SECONDS)
