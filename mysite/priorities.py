"""One priority scale for the whole project, whatever the broker.

Project scale: 0..9, **higher is more urgent**, with four named levels spaced
so that they stay distinct even on a broker that groups priorities in steps
of three (kombu's Redis default is [0, 3, 6, 9]).

Brokers read the number differently, so the enqueue helper translates:

    project level   RabbitMQ (x-max-priority 9)   Redis (kombu lists)   filesystem
    URGENT = 9      9  (higher first)             0  (lower first)      ignored
    HIGH   = 6      6                             3                     ignored
    NORMAL = 3      3                             6                     ignored
    LOW    = 0      0                             9                     ignored

Only ``mysite.enqueue`` and the settings (for ``task_default_priority``) call
``broker_priority``; everything else speaks ``Priority``. A retried task keeps
the broker-native number Celery read from its own message, so it is never
translated twice.
"""

from enum import IntEnum

MAX_PRIORITY = 9

# Transports whose priority 0 is the most urgent (kombu's Redis transport
# keeps one list per priority and pops the lowest number first).
_LOWEST_FIRST = frozenset({"redis", "rediss", "sentinel", "redis+socket"})
# Transports that follow AMQP: the highest number is delivered first.
_HIGHEST_FIRST = frozenset({"amqp", "amqps", "pyamqp", "librabbitmq"})


class Priority(IntEnum):
    LOW = 0
    NORMAL = 3
    HIGH = 6
    URGENT = 9


def broker_transport(broker_url: str) -> str:
    """The transport name of a broker URL: ``redis://h/0`` -> ``redis``."""
    return broker_url.split("://", 1)[0].lower()


def broker_priority(priority: int, transport: str) -> int | None:
    """Translate a project priority to the number ``transport`` understands.

    Returns None for transports without priorities (filesystem, memory).
    """
    if not 0 <= int(priority) <= MAX_PRIORITY:
        raise ValueError(f"priority must be between 0 and {MAX_PRIORITY}, got {priority!r}")
    if transport in _LOWEST_FIRST:
        return MAX_PRIORITY - int(priority)
    if transport in _HIGHEST_FIRST:
        return int(priority)
    return None
