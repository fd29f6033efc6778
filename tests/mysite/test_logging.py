import io
import logging
import os
import shutil
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mysite.enqueue import enqueue
from mysite.log import TaskContextFilter
from mysite.tasks import demo_task
from tests.helpers.services import require, wait_for_success


@pytest.fixture
def console_lines():
    """What the configured console handler would print, captured."""
    console = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, TaskContextFilter) for f in handler.filters)
    )
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(console.formatter)
    for log_filter in console.filters:
        capture.addFilter(log_filter)
    logging.getLogger().addHandler(capture)
    yield stream
    logging.getLogger().removeHandler(capture)


@pytest.mark.django_db(transaction=True)
def test_worker_lines_carry_task_name_and_id(celery_worker, console_lines):
    # when
    task_id = enqueue(demo_task, kwargs={"seconds": 0})
    wait_for_success(task_id)

    # then: the app's own logger line names the task, though it never mentions it
    # (this task's line: the session's worker may run a demo task an earlier test left)
    lines = console_lines.getvalue().splitlines()
    [line] = [line for line in lines if "demo task running" in line and task_id in line]
    assert f" mysite.tasks.demo_task[{task_id}] mysite.tasks: demo task running for 0.0 s" in line


def test_lines_outside_a_task_say_so(console_lines):
    logging.getLogger("mysite.views").warning("no task here")

    [line] = console_lines.getvalue().splitlines()
    assert line.endswith(" - mysite.views: no task here")


ROOT = Path(__file__).resolve().parents[2]


def test_make_run_stamps_honchos_lines_in_the_apps_time_zone(tmp_path):
    # given: a TIME_ZONE far from UTC (Tokyo: UTC+9, no daylight saving)
    env = {**os.environ, "TIME_ZONE": "Asia/Tokyo"}
    env.pop("TZ", None)

    # when: `make -n run` prints what it would run
    make = shutil.which("make")
    require(make is not None, "no make found (apt-get install make)")
    dry_run = subprocess.run(  # noqa: S603  (make, on our own Makefile)
        [make, "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    # then: honcho runs in that zone, the one Django sets for the app's processes
    [honcho] = [line for line in dry_run.stdout.splitlines() if "honcho start" in line]
    assert honcho.startswith("TZ=Asia/Tokyo ")

    # and honcho, so started, stamps its lines in Tokyo time, not UTC
    (tmp_path / "Procfile").write_text("clock: echo tick\n")
    honcho_bin = Path(sys.executable).with_name("honcho")
    run = subprocess.run(  # noqa: S603  (the venv's honcho, our own Procfile)
        [str(honcho_bin), "start", "-f", str(tmp_path / "Procfile")],
        cwd=tmp_path,
        env={**env, "TZ": "Asia/Tokyo"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    [line] = [line for line in run.stdout.splitlines() if line.endswith("| tick")]
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    stamped = time.fromisoformat(line.split()[0])  # honcho's HH:MM:SS prefix
    stamped_at = datetime.combine(now.date(), stamped, tzinfo=now.tzinfo)
    gap = abs((now - stamped_at + timedelta(hours=12)) % timedelta(days=1) - timedelta(hours=12))
    assert gap < timedelta(minutes=1), (line, now)
