"""Rate limits shared by the whole deployment: a token bucket per key, kept in Redis.

``acquire(key, rate=, burst=)`` takes one token of the bucket ``key``, which
refills at ``rate`` tokens per second up to ``burst`` tokens, if it holds one:
it returns 0.0 (go now). Otherwise it takes nothing and returns how many
seconds until a token will be there (ask again then; others may be faster).
A token is only ever taken by a caller about to go, never reserved for later,
so no more than ``burst + rate * t`` callers go in any ``t`` seconds, across
every process, thread and host that uses the same Redis, however late a
waiting caller comes back.

The bucket is a GCRA ("theoretical arrival time") in one Lua script, run with
EVALSHA: atomic, and timed by Redis's own clock (``TIME``), never the hosts'.
The Redis is ``settings.RATE_LIMIT_REDIS_URL`` (RATE_LIMIT_REDIS_URL, else the
broker when it is Redis). Without one (the filesystem broker) the buckets live
in this process's memory: the same interface, but each process has its own.

If the limiter's Redis does not answer, ``acquire`` raises
``RateLimiterUnavailable``: nothing was taken, the caller must not go.
"""

import logging
import threading
import time
from functools import cache

import redis
from django.conf import settings

from mysite.errors import Unavailable

logger = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit:"
SOCKET_TIMEOUT = 2.0  # seconds: a Redis that hangs is a Redis that is down
# Errors that mean "no answer now" (a bug in the script is not one of them).
DOWN = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)
MICRO = 1_000_000

# KEYS[1]: the bucket. ARGV: interval (microseconds per token), burst (tokens).
# The bucket stores its theoretical arrival time (TAT): when it would be full
# again. A token is there when TAT + interval - burst * interval <= now; taking
# it moves the TAT one interval on. Returns 0, or the microseconds to wait.
GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait > 0 then
  return math.ceil(wait)
end
local ttl = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', ttl)
return 0
"""


class RateLimiterUnavailable(Unavailable):
    """The limiter's Redis did not answer; no token was taken."""


def _checked(rate: float, burst: float) -> None:
    if not rate > 0:
        raise ValueError(f"rate must be above 0 tokens per second, got {rate!r}")
    if not burst >= 1:
        raise ValueError(f"burst must be at least 1 token, got {burst!r}")


class RedisBuckets:
    """Buckets in Redis, shared by every process that uses the same server and database."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )
        self.script = self.client.register_script(GCRA)

    def acquire(self, key: str, *, rate: float, burst: float) -> float:
        _checked(rate, burst)
        try:
            wait = self.script(keys=[KEY_PREFIX + key], args=[MICRO / rate, burst])
        except DOWN as exc:
            raise RateLimiterUnavailable(f"rate limiter unavailable: {exc}") from exc
        return wait / MICRO

    def reset(self, key: str) -> None:
        """Forget ``key``'s bucket: full again."""
        self.client.delete(KEY_PREFIX + key)


class MemoryBuckets:
    """The same buckets in this process's memory (no Redis): each process has its own."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tats: dict[str, float] = {}

    def acquire(self, key: str, *, rate: float, burst: float) -> float:
        _checked(rate, burst)
        interval = 1 / rate
        with self.lock:
            now = time.monotonic()
            tat = max(self.tats.get(key, now), now) + interval
            wait = tat - burst * interval - now
            if wait > 0:
                return wait
            self.tats[key] = tat
            return 0.0

    def reset(self, key: str) -> None:
        with self.lock:
            self.tats.pop(key, None)


@cache
def buckets_for(url: str | None) -> RedisBuckets | MemoryBuckets:
    """The buckets at ``url`` (one client per URL and process); None: this process's."""
    if url is None:
        return MemoryBuckets()
    return RedisBuckets(url)


def buckets() -> RedisBuckets | MemoryBuckets:
    """The configured buckets (``settings.RATE_LIMIT_REDIS_URL``, read at each call)."""
    return buckets_for(settings.RATE_LIMIT_REDIS_URL)


def acquire(key: str, *, rate: float, burst: float) -> float:
    """Take a token of ``key``'s bucket (0.0), or the seconds until one is there."""
    return buckets().acquire(key, rate=rate, burst=burst)
