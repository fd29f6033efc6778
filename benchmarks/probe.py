"""The body every benchmark task runs: note when it ran, in Redis.

Both stacks run exactly this, so the difference between them is the stack.
"""

import os
import time

import redis

_client = None


def record_done(run: str, sent: float) -> None:
    global _client  # noqa: PLW0603  (one connection per worker process)
    if _client is None:
        _client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    _client.rpush(f"bench:done:{run}", time.time() - sent)
