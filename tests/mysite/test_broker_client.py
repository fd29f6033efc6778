"""The Redis channel keeps one client for its commands, and the filesystem
transport hands out only whole messages (mysite/kombu_fixes.py, fixes 3 and 4)."""

from queue import Empty

from django.conf import settings
from kombu import Connection

from mysite.celery import app as celery_app
from tests.helpers.services import require


def test_a_channel_keeps_one_redis_client_and_another_for_a_new_pool():
    require(
        settings.BROKER_SCHEME == "redis", "needs the Redis broker (CELERY_BROKER_URL=redis://...)"
    )
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()

        # when: the channel's pools are dropped (as closing it or a reconnect does)
        channel._disconnect_pools()

        # then
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
            assert third.ping()
        with channel.conn_or_acquire(first) as given:
            assert given is first


def test_a_message_published_through_the_kept_client_is_consumed():
    require(
        settings.BROKER_SCHEME == "redis", "needs the Redis broker (CELERY_BROKER_URL=redis://...)"
    )
    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue("broker-client-test")
        try:
            for number in range(3):
                queue.put({"n": number})
            received = [queue.get(timeout=5) for _ in range(3)]
            for message in received:
                message.ack()
        finally:
            queue.queue.delete()
            queue.close()
    assert [message.payload for message in received] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_the_filesystem_broker_never_hands_out_a_message_being_written(tmp_path):
    # given: a filesystem broker's folder, and a consumer of its queue
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    taken: list[object] = []

    with (
        Connection("filesystem://", transport_options=options) as producer,
        Connection("filesystem://", transport_options=options) as consumer,
    ):
        inbox = consumer.default_channel

        class PollsWhileEncoded:
            """A value whose encoding has the consumer poll the queue meanwhile."""

            def __json__(self) -> str:
                try:
                    taken.append(inbox._get("whole"))
                except Empty:
                    taken.append("nothing yet")
                return "encoded"

        # when: a message is published, the consumer polling while it is written
        producer.default_channel._put("whole", {"n": 1, "value": PollsWhileEncoded()})

        # then: meanwhile there was nothing to take; afterwards the whole message
        assert taken == ["nothing yet"]
        assert inbox._get("whole") == {"n": 1, "value": "encoded"}
