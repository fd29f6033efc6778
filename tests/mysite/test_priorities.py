import uuid

import pytest
from django.conf import settings
from kombu import Connection, Queue

from mysite.priorities import MAX_PRIORITY, Priority, broker_priority, broker_transport
from tests.helpers.services import require
from tests.parallel import with_redis_db, worker_index

# Queues of their own (uuid names), on this worker's Redis database.
REDIS_URL = with_redis_db("redis://127.0.0.1:6379/13", worker_index())
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("redis://127.0.0.1:6379/13", "redis"),
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp"),
        ("filesystem://localhost/", "filesystem"),
    ],
)
def test_broker_transport_reads_the_url_scheme(url, transport):
    assert broker_transport(url) == transport


def test_redis_gets_the_scale_reversed():
    # given / when
    native = {level.name: broker_priority(level, "redis") for level in Priority}

    # then: kombu's Redis transport pops the lowest number first
    assert native == {"LOW": 9, "NORMAL": 6, "HIGH": 3, "URGENT": 0}


def test_rabbitmq_gets_the_scale_as_is():
    native = {level.name: broker_priority(level, "amqp") for level in Priority}

    assert native == {"LOW": 0, "NORMAL": 3, "HIGH": 6, "URGENT": 9}


def test_transports_without_priorities_get_none():
    assert broker_priority(Priority.URGENT, "filesystem") is None


@pytest.mark.parametrize("bad", [-1, MAX_PRIORITY + 1, 42])
def test_priority_outside_the_scale_is_refused(bad):
    with pytest.raises(ValueError, match="priority must be between 0 and 9"):
        broker_priority(bad, "redis")


def test_default_task_priority_is_normal_in_the_brokers_terms():
    normal = broker_priority(Priority.NORMAL, settings.BROKER_SCHEME)

    assert settings.CELERY_TASK_DEFAULT_PRIORITY == normal


def _reachable(url: str) -> bool:
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.mark.parametrize("url", [REDIS_URL, AMQP_URL], ids=["redis", "rabbitmq"])
def test_urgent_is_delivered_before_a_backlog_on_real_brokers(url):
    # given: a backlog published least urgent first, with the project's options
    transport = broker_transport(url)
    require(_reachable(url), f"no {transport} broker at {url}")
    name = f"test-priority-{uuid.uuid4().hex}"
    options = {**settings.BROKER_PRIORITY_OPTIONS} if transport == "redis" else {}
    with Connection(url, transport_options=options) as conn:
        queue = Queue(name, routing_key=name, max_priority=MAX_PRIORITY)(conn.default_channel)
        queue.declare()
        producer = conn.Producer(serializer="json")
        for level in [Priority.LOW, Priority.NORMAL, Priority.LOW, Priority.HIGH, Priority.URGENT]:
            producer.publish(
                {"level": level.name},
                routing_key=name,
                priority=broker_priority(level, transport),
            )

        # when: a consumer takes them one by one
        received = []
        while (message := queue.get(no_ack=True)) is not None:
            received.append(message.payload["level"])
        queue.delete()

    # then: most urgent first, same meaning on either broker
    assert received == ["URGENT", "HIGH", "NORMAL", "LOW", "LOW"]
