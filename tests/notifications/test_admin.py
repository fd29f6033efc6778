"""The admin's add pages send through the services; its change pages never send again."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from mysite.enqueue import QUEUE_DOWN_MESSAGE
from mysite.priorities import Priority
from notifications import services
from notifications.models import Broadcast, ContactPoint, Notification
from tests.helpers.services import wait_for

NOTIFICATION_ADD = reverse("admin:notifications_notification_add")
BROADCAST_ADD = reverse("admin:notifications_broadcast_add")
NOT_A_CHOICE = "Select a valid choice. {} is not one of the available choices."
SMS_TOO_LONG = "The SMS is 481 characters; at most 480."


def notification_form(recipient, **fields) -> dict:
    return {
        "recipient": recipient.pk,
        "channel": "in_app",
        "subject": "",
        "body": "Your report is ready",
        "link": "",
        "priority": Priority.NORMAL.value,
        "dedupe_key": "",
        **fields,
    }


def broadcast_form(**fields) -> dict:
    return {
        "audience": "staff",
        "usernames": "",
        "channel": "in_app",
        "subject": "",
        "body": "Deploy at 17:00",
        "priority": Priority.URGENT.value,
        **fields,
    }


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors


@pytest.mark.django_db(transaction=True)
def test_an_added_notification_is_queued_by_the_service_and_delivered(
    celery_worker, admin_client, user
):
    # when
    response = admin_client.post(NOTIFICATION_ADD, notification_form(user, priority=9))

    # then: one row, made by notification_send (its key, its task), sent by the worker
    notification = Notification.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:notifications_notification_changelist")
    assert notification.recipient == user
    assert notification.priority == Priority.URGENT
    assert notification.dedupe_key.startswith("once:")
    assert notification.task_id != ""
    sent = wait_for(
        lambda: Notification.objects.filter(pk=notification.pk, status="sent").first(),
        what="the notification to be sent",
    )
    assert (sent.attempts, sent.last_error) == (1, "")


@pytest.mark.django_db(transaction=True)
def test_an_added_email_reaches_the_smtp_server(celery_worker, admin_client, user, smtp_server):
    # given
    user.email = "alice@example.com"
    user.save()

    # when
    response = admin_client.post(
        NOTIFICATION_ADD, notification_form(user, channel="email", subject="Hi", body="Hello")
    )

    # then
    assert response.status_code == 302
    wait_for(lambda: Notification.objects.filter(status="sent").exists(), what="the email")
    [message] = smtp_server.messages
    assert message.rcpt_tos == ["alice@example.com"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"body": "   "}, "body", "This field is required."),
        ({"channel": "fax"}, "channel", NOT_A_CHOICE.format("fax")),
        ({"priority": 5}, "priority", NOT_A_CHOICE.format(5)),
        ({"channel": "sms", "body": "x" * 481}, "__all__", SMS_TOO_LONG),
        ({"channel": "email"}, "recipient", "alice has no valid email address."),
        ({"channel": "sms"}, "recipient", "alice has no valid phone number (E.164)."),
        ({"channel": "push"}, "recipient", "alice has no push device."),
    ],
)
def test_a_refused_notification_is_a_form_error_and_nothing_is_written(
    admin_client, user, fields, field, error, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(NOTIFICATION_ADD, notification_form(user, **fields))

    # then
    assert response.status_code == 200
    assert form_errors(response) == {field: [error]}
    assert error.replace("'", "&#x27;") in response.content.decode()
    assert Notification.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_an_opted_out_recipient_is_a_form_error(admin_client, user):
    # given
    ContactPoint.objects.create(user=user, in_app_opt_out=True)

    # when
    response = admin_client.post(NOTIFICATION_ADD, notification_form(user))

    # then
    assert response.status_code == 200
    assert form_errors(response) == {"recipient": ["alice has turned off in_app notifications."]}
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_a_dedupe_key_used_before_is_refused_on_the_form(admin_client, user):
    # given
    first = services.notification_send(
        recipient=user, channel="in_app", body="Hi", dedupe_key="report-7"
    )

    # when
    response = admin_client.post(NOTIFICATION_ADD, notification_form(user, dedupe_key="report-7"))

    # then
    assert response.status_code == 200
    assert form_errors(response) == {
        "__all__": ["Notification with this Recipient and Dedupe key already exists."]
    }
    assert list(Notification.objects.values_list("pk", flat=True)) == [first.pk]


@pytest.mark.django_db(transaction=True)
def test_an_added_broadcast_to_staff_reaches_every_staff_user(
    celery_worker, admin_client, admin_user, staff_user, user
):
    # when
    response = admin_client.post(BROADCAST_ADD, broadcast_form())

    # then: one notification per active staff user (the admin, carol), none for alice
    broadcast = Broadcast.objects.get()
    assert response.status_code == 302
    assert (broadcast.audience, broadcast.total, broadcast.created_by) == ("staff", 2, admin_user)
    assert broadcast.priority == Priority.URGENT
    recipients = Notification.objects.filter(broadcast=broadcast).values_list(
        "recipient__username", flat=True
    )
    assert sorted(recipients) == ["admin", "carol"]
    done = wait_for(
        lambda: Broadcast.objects.filter(pk=broadcast.pk, finished_at__isnull=False).first(),
        what="the broadcast to finish",
    )
    assert (done.sent, done.failed) == (2, 0)


@pytest.mark.django_db
def test_a_list_broadcast_names_the_users_it_sends_to(
    admin_client, user, other_user, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            BROADCAST_ADD, broadcast_form(audience="list", usernames="alice,\nbob")
        )

    # then
    broadcast = Broadcast.objects.get()
    assert response.status_code == 302
    assert (broadcast.usernames, broadcast.total) == (["alice", "bob"], 2)
    assert len(callbacks) == 1  # one chunk task


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"body": ""}, "body", "This field is required."),
        ({"audience": "list"}, "usernames", "A list audience needs at least one username."),
        ({"audience": "list", "usernames": "alice zed"}, "usernames", "No user named 'zed'."),
        ({"channel": "sms", "body": "x" * 481}, "__all__", SMS_TOO_LONG),
    ],
)
def test_a_refused_broadcast_is_a_form_error_and_nothing_is_written(
    admin_client, user, fields, field, error, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(BROADCAST_ADD, broadcast_form(**fields))

    # then
    assert response.status_code == 200
    assert form_errors(response) == {field: [error]}
    assert (Broadcast.objects.count(), Notification.objects.count()) == (0, 0)
    assert callbacks == []


@pytest.mark.django_db
def test_saving_a_notifications_change_page_sends_nothing_again(
    admin_client, user, django_capture_on_commit_callbacks
):
    # given: sent once already
    notification = services.notification_send(recipient=user, channel="in_app", body="Hi")
    Notification.objects.filter(pk=notification.pk).update(status="sent", attempts=1)
    change = reverse("admin:notifications_notification_change", args=[notification.pk])

    # when: the change page is saved, even with other values posted
    page = admin_client.get(change)
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(change, {"body": "Hi again", "status": "queued"})

    # then: every field is read-only, the row is as it was, nothing is queued
    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields) == []
    assert response.status_code == 302
    assert callbacks == []
    [after] = Notification.objects.all()
    assert (after.body, after.status, after.attempts) == ("Hi", "sent", 1)
    assert after.task_id == notification.task_id


@pytest.mark.django_db
def test_saving_a_broadcasts_change_page_sends_nothing_again(
    admin_client, staff_user, django_capture_on_commit_callbacks
):
    # given
    broadcast = services.broadcast_send(audience="staff", channel="in_app", body="Hi")
    change = reverse("admin:notifications_broadcast_change", args=[broadcast.pk])

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(change, {"audience": "all", "body": "Hi again"})

    # then
    assert response.status_code == 302
    assert callbacks == []
    after = Broadcast.objects.get()
    assert (after.audience, after.body, after.total) == ("staff", "Hi", 2)
    assert Notification.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_add_while_the_broker_is_down_is_saved_and_says_so(admin_client, user, broker_down):
    # when
    response = admin_client.post(NOTIFICATION_ADD, notification_form(user))

    # then: the row stays queued (the sweep sends it), and the next page says so
    assert response.status_code == 302
    assert list(Notification.objects.values_list("status", flat=True)) == ["queued"]
    follow = admin_client.get(response["Location"])
    assert QUEUE_DOWN_MESSAGE in [str(message) for message in follow.context["messages"]]


def test_the_add_pages_ask_for_what_the_services_take(admin_client, db):
    notification = admin_client.get(NOTIFICATION_ADD)
    broadcast = admin_client.get(BROADCAST_ADD)

    assert list(notification.context["adminform"].form.fields) == [
        "recipient",
        "channel",
        "subject",
        "body",
        "link",
        "priority",
        "dedupe_key",
    ]
    assert list(broadcast.context["adminform"].form.fields) == [
        "audience",
        "usernames",
        "channel",
        "subject",
        "body",
        "priority",
    ]
    assert get_user_model().objects.count() == 1
