"""Tasks of the operations console's tests, registered on the project's app.

``deliver_notification`` is real work: it delivers a notification through the
project's service, and declares its row as the project task class has every
task do (mysite/taskbase.py), so a delivery refused for good fails the task
(the console shows why) and Retry puts the notification back in the queue.
The session's in-process worker runs them; a worker process does not know them.
"""

from django.db.models import Q

from mysite.celery import app as celery_app
from mysite.taskbase import ProjectTask, WorkRow
from notifications import services
from notifications.models import Notification


class DeliveryFailed(Exception):
    """The notification could not be delivered (its reason is the message)."""


class ProviderBusy(Exception):
    """A transient failure: the project task class retries it."""


NOTIFICATION_ROW = WorkRow(
    "notifications.Notification",
    arg="notification_id",
    done=Q(status__in=[Notification.Status.SENT, Notification.Status.CANCELLED]),
    reopen={"status": Notification.Status.QUEUED, "last_error": ""},
)


@celery_app.task(
    bind=True, base=ProjectTask, name="tests.console.deliver_notification", row=NOTIFICATION_ROW
)
def deliver_notification(self, notification_id: int) -> dict:
    notification = services.notification_deliver(notification_id=notification_id)
    if notification.status == Notification.Status.FAILED:
        raise DeliveryFailed(notification.last_error)
    return {"notification": notification.pk, "status": notification.status}


@celery_app.task(
    bind=True,
    base=ProjectTask,
    name="tests.console.always_busy",
    transient=(ProviderBusy,),
    max_retries=1,
)
def always_busy(self, ids: list[int], label: str = "") -> None:
    """Fails transiently every time: retried once (the project backoff), then given up."""
    raise ProviderBusy(f"provider busy ({len(ids)} ids, {label})")
