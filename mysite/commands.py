"""Shared by the management commands that wait for work they queued."""

import argparse
import math
import re
import time
from collections.abc import Callable

from django.core.management.base import CommandError

from mysite.enqueue import QUEUE_DOWN_MESSAGE, unpublished
from mysite.models import ID_MAX

POLL_SECONDS = 0.5
TIMEOUT_MAX = 7 * 24 * 60 * 60  # a week: longer is a typo, or "forever"
SECONDS = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")  # ASCII: no "nan", "inf", "1e9", "٣"


def object_id(value: str) -> int:
    """An argparse ``type``: a row id, ASCII digits only (not ``²`` or ``٣``), in range."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= ID_MAX:
        raise argparse.ArgumentTypeError(f"not an id: {value!r} (a whole number from 1)")
    return int(value)


def timeout_seconds(raw) -> float:
    """``--timeout``'s type: a positive, finite number of seconds, at most ``TIMEOUT_MAX``.

    argparse checks it before the command runs, so a bad ``--timeout -5`` or
    ``nan`` is refused (a ``CommandError``) before anything is queued.
    """
    if isinstance(raw, str):
        value = float(raw) if SECONDS.fullmatch(raw.strip()) else math.nan
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw) if abs(raw) < 2 * TIMEOUT_MAX else math.nan
    else:
        value = math.nan
    if not 0 < value <= TIMEOUT_MAX:  # NaN compares false
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a number of seconds above 0 and at most {TIMEOUT_MAX}"
        )
    return value


def timeout_argument(parser, *, help: str = "seconds --wait waits") -> None:
    """``--timeout SECONDS`` (600 unless given), checked by ``timeout_seconds``."""
    parser.add_argument("--timeout", type=timeout_seconds, default=600, help=help)


def wait_with_progress(
    stdout, check: Callable[[], tuple[str | None, bool]], *, timeout: float, what: str
) -> str | None:
    """Call ``check`` until it says done, printing each new progress line.

    ``check`` returns (progress line or None, done). Returns the last line.
    Raises ``CommandError`` after ``timeout`` seconds: the work itself goes on;
    at once if the broker was down (the work is saved, the sweep starts it).
    """
    try:  # call_command(timeout=...) skips argparse: the same rule
        timeout = timeout_seconds(timeout)
    except argparse.ArgumentTypeError as exc:
        raise CommandError(f"--timeout: {exc}") from None
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
