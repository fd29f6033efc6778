"""Delivery through the real worker to real servers on loopback."""

from datetime import timedelta

import pytest
from django_celery_results.models import TaskResult

from notifications import services
from notifications.models import Notification
from notifications.tasks import send_notification
from tests.helpers.services import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def wait_final(notification_id: int) -> Notification:
    return wait_for(
        lambda: Notification.objects.filter(
            pk=notification_id, status__in=["sent", "failed"]
        ).first(),
        what=f"notification {notification_id} to be sent or failed",
    )


def test_email_reaches_the_smtp_server_once(reachable_user, celery_worker, smtp_server):
    notification = services.notification_send(
        recipient=reachable_user, channel="email", subject="Hello", body="Your report is ready."
    )

    done = wait_final(notification.pk)

    assert done.status == "sent", done.last_error
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    content = envelope.content.decode()
    assert "Subject: Hello" in content
    assert "Your report is ready." in content
    assert f"notification-{notification.pk}@" in done.provider_message_id


def test_smtp_4xx_is_retried_and_sent_once(reachable_user, celery_worker, smtp_server):
    smtp_server.replies.append("451 4.3.0 Try again later")

    notification = services.notification_send(recipient=reachable_user, channel="email", body="x")

    done = wait_final(notification.pk)
    assert done.status == "sent"
    assert done.attempts == 2
    assert len(smtp_server.messages) == 1


def test_smtp_5xx_fails_without_retry(reachable_user, celery_worker, smtp_server):
    smtp_server.replies.append("554 5.7.1 Rejected")

    notification = services.notification_send(recipient=reachable_user, channel="email", body="x")

    done = wait_final(notification.pk)
    assert done.status == "failed"
    assert done.attempts == 1
    assert done.last_error.startswith("SMTP 554")
    assert smtp_server.messages == []


def test_sms_500_then_200_is_retried_and_sent_once(reachable_user, celery_worker, provider):
    provider.answers.append((500, {}, "upstream broke"))

    notification = services.notification_send(
        recipient=reachable_user, channel="sms", body="Code 1234"
    )

    done = wait_final(notification.pk)
    assert done.status == "sent"
    assert done.provider_message_id == "msg-2"
    assert done.attempts == 2
    assert [r["json"]["to"] for r in provider.requests] == ["+4915112345678", "+4915112345678"]
    keys = {r["headers"]["Idempotency-Key"] for r in provider.requests}
    assert keys == {f"notification-{notification.pk}"}  # the provider can tell it is one message


def test_a_provider_that_keeps_failing_is_given_up_with_the_reason(
    reachable_user, celery_worker, provider, monkeypatch
):
    # given: a provider that answers 500 every time, and one retry allowed
    provider.answers.extend([(500, {}, "upstream broke")] * 2)
    monkeypatch.setattr(send_notification, "max_retries", 1)

    # when
    notification = services.notification_send(recipient=reachable_user, channel="sms", body="x")

    # then: the project task class gave up after its retry and said why
    done = wait_final(notification.pk)
    assert done.status == "failed"
    assert done.attempts == 2
    assert done.last_error.startswith("Gave up after 1 retries: TransientDeliveryError: HTTP 500")
    assert wait_for(
        lambda: TaskResult.objects.filter(task_id=done.task_id, status="FAILURE").exists(),
        what="the task's result to say FAILURE",
    )


def test_429_waits_for_retry_after(reachable_user, celery_worker, provider):
    provider.answers.append((429, {"Retry-After": "2"}, "slow down"))

    notification = services.notification_send(recipient=reachable_user, channel="push", body="Hi")

    done = wait_final(notification.pk)
    assert done.status == "sent"
    assert len(provider.requests) == 2
    assert provider.requests[0]["json"]["to"] == "device-1"
    # the retry came no sooner than the provider asked
    assert done.sent_at - done.created_at >= timedelta(seconds=2)


def test_400_fails_and_is_not_retried(reachable_user, celery_worker, provider):
    provider.answers.append((400, {}, '{"error": "invalid number"}'))

    notification = services.notification_send(recipient=reachable_user, channel="sms", body="Hi")

    done = wait_final(notification.pk)
    assert done.status == "failed"
    assert done.last_error == 'HTTP 400: {"error": "invalid number"}'
    assert len(provider.requests) == 1


def test_in_app_is_sent_without_any_server(reachable_user, celery_worker):
    notification = services.notification_send(recipient=reachable_user, channel="in_app", body="Hi")

    assert wait_final(notification.pk).status == "sent"


def test_delivering_again_never_resends(reachable_user, celery_worker, provider):
    notification = services.notification_send(recipient=reachable_user, channel="sms", body="Once")
    wait_final(notification.pk)

    # a redelivered message (worker crash, late ack) runs the task again
    again = services.notification_deliver(notification_id=notification.pk)

    assert again.status == "sent"
    assert len(provider.requests) == 1
