"""Shared by the management commands that wait for work they queued."""

import argparse
import math
import time
from collections.abc import Callable

from django.core.management.base import CommandError

from mysite.enqueue import QUEUE_DOWN_MESSAGE, unpublished

POLL_SECONDS = 0.5
ID_MAX = 2**63 - 1  # the database's bigint
TIMEOUT_MAX = 7 * 24 * 3600


def object_id(value: str) -> int:
    """An argparse ``type``: a row id, ASCII digits only (not ``²`` or ``٣``), in range."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= ID_MAX:
        raise argparse.ArgumentTypeError(f"not an id: {value!r} (a whole number from 1)")
    return int(value)


def timeout_seconds(value: str) -> float:
    """An argparse ``type``: seconds to wait, a positive finite number (not -5, nan, inf)."""
    try:
        seconds = float(value) if value.isascii() else math.nan
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= TIMEOUT_MAX:  # nan compares false
        raise argparse.ArgumentTypeError(
            f"not a timeout: {value!r} (seconds, more than 0 and at most {TIMEOUT_MAX})"
        )
    return seconds


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
