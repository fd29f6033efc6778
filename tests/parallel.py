"""Each pytest-xdist worker on services of its own (loaded with ``-p tests.parallel``).

``make test`` runs the suite in a few worker processes (``-n``, pytest-xdist).
They share the machine's PostgreSQL and Redis, so each one needs its own
namespace in both, or one worker's in-process Celery worker would take
another's tasks and look for rows in the wrong database:

- **PostgreSQL**: pytest-django already gives each worker its own test
  database (``test_<name>_gw0``, ``test_<name>_gw1``...).
- **Redis**: worker ``gw0`` keeps the configured database (CI: 13); worker
  ``gwN`` takes the N-th database below it, skipping the ones that single
  tests keep for themselves (``OWN_REDIS_DBS``). That database is emptied
  first, as ``.ci/run`` empties the configured one.
- **Local files** (SQLite, the filesystem broker, the beat heartbeat): a
  ``VAR_DIR`` of the worker's own under the configured one.

This runs when pytest imports it, before pytest-django reads the settings,
because the settings read the environment once.

Tests marked ``slow`` (seconds of real processes, brokers or browsers) run
first among their kind, each followed by a quick one, and a worker is handed
one test at a time (``OneAhead``): they start early, on different workers,
and the run does not end waiting on one of them while the others are idle.
"""

import itertools
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from xdist.scheduler import LoadScheduling
from xdist.workermanage import WorkerController

# Redis databases (on the configured server) that one test uses for processes
# of its own, apart from every worker's broker: one per test, as two workers
# may run two of them at once. Tests take them from here.
OWN_REDIS_DBS = {"multihost-bucket": 11, "multihost-local": 8, "fuzz": 14, "smoke": 15}
REDIS_DATABASES = 16  # Redis's default "databases"

BASE_DIR = Path(__file__).resolve().parent.parent


def worker_index() -> int:
    """0 for xdist's first worker and for a run without xdist, else N of ``gwN``."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


def redis_db(base: int, index: int) -> int:
    """The Redis database of worker ``index`` when worker 0 has ``base``."""
    if index == 0:
        return base
    kept = set(OWN_REDIS_DBS.values()) | {base}
    free = [(base - step) % REDIS_DATABASES for step in range(1, REDIS_DATABASES)]
    free = [db for db in free if db not in kept]
    if index > len(free):
        raise RuntimeError(f"no Redis database left for xdist worker {index}: use fewer workers")
    return free[index - 1]


def redis_url_on(url: str, db: int) -> str:
    """``url`` (a Redis URL) with database ``db``: the same server and options."""
    return urlsplit(url)._replace(path=f"/{db}").geturl()


def with_redis_db(url: str, index: int) -> str:
    """``url`` (a Redis URL) moved to worker ``index``'s database; other URLs as they are."""
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        return url
    return redis_url_on(url, redis_db(int(parts.path.strip("/") or 0), index))


def _isolate() -> None:
    name = os.environ.get("PYTEST_XDIST_WORKER")
    if name is None:
        return
    index = worker_index()
    var_dir = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")
    os.environ["VAR_DIR"] = str(var_dir / f"xdist-{name}")
    for variable in ("CELERY_BROKER_URL", "RATE_LIMIT_REDIS_URL"):
        if os.environ.get(variable):
            os.environ[variable] = with_redis_db(os.environ[variable], index)
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if index and urlsplit(broker).scheme in {"redis", "rediss"}:
        import redis

        with redis.Redis.from_url(broker) as client:
            client.flushdb()


_isolate()


def _commits(item: pytest.Item) -> bool:
    """Whether the test commits (pytest-django runs those after the rolled-back ones)."""
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    return bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(fixtures)
    )


@pytest.hookimpl(trylast=True)  # after pytest-django's sort, whose groups stay as they are
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within each of pytest-django's groups, slow tests first, each followed by a quick one."""
    ordered: list[pytest.Item] = []
    for _, group in itertools.groupby(items, key=_commits):
        tests = list(group)
        slow = [item for item in tests if item.get_closest_marker("slow")]
        quick = [item for item in tests if not item.get_closest_marker("slow")]
        for pair in itertools.zip_longest(slow, quick[: len(slow)]):
            ordered += [item for item in pair if item is not None]
        ordered += quick[len(slow) :]
    items[:] = ordered


class OneAhead(LoadScheduling):
    """xdist's load scheduling, but each worker holds only the test it runs and
    the next one (xdist's own queues up to a quarter of what is left): a slow
    test never waits behind another slow one on a busy worker while others idle."""

    def check_schedule(self, node: WorkerController, duration: float = 0) -> None:
        if node.shutting_down:
            return
        if not self.pending:
            node.shutdown()
            return
        missing = 2 - len(self.node2pending[node])  # a worker runs a test once it has the next
        if missing > 0:
            self._send_tests(node, missing)


def pytest_xdist_make_scheduler(config: pytest.Config, log) -> OneAhead | None:
    if config.getoption("dist") != "load":
        return None
    scheduler = OneAhead(config, log)
    scheduler.maxschedchunk = 2  # the first hand-out too
    return scheduler
