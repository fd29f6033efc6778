import pytest
from celery import states
from celery.signals import before_task_publish
from django.conf import settings
from django.db import transaction
from django_celery_results.models import TaskResult

from mysite.celery import app as celery_app
from mysite.enqueue import BrokerUnavailable, enqueue
from mysite.models import UserTask
from mysite.priorities import Priority, broker_priority
from mysite.tasks import demo_task
from tests.helpers.services import wait_for_success


@celery_app.task(name="tests.forgetful", ignore_result=True)
def forgetful_task():
    """A task that stores no result (its outcome would live on a domain row)."""


@pytest.fixture
def published():
    """Every message the app publishes during the test: (task id, properties)."""
    sent = []

    def record(sender=None, headers=None, properties=None, **kwargs):
        sent.append((headers["id"], dict(properties)))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


@pytest.mark.django_db(transaction=True)
def test_publishes_after_commit_and_the_worker_runs_it(celery_worker, user, published):
    # given / when: enqueued inside a transaction
    with transaction.atomic():
        task_id = enqueue(demo_task, kwargs={"seconds": 0}, user=user)
        assert published == []  # nothing leaves before the commit
        assert UserTask.objects.filter(task_id=task_id, user=user).exists()

    # then: published once, with the id we were given, and run by the worker
    assert [sent_id for sent_id, _ in published] == [task_id]
    result = wait_for_success(task_id)
    assert result.task_name == "mysite.tasks.demo_task"
    assert result.worker  # the in-process worker reports its host part only
    assert celery_worker.hostname.endswith(result.worker)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_publishes_nothing(user, published):
    # given: a transaction that enqueues, then fails
    def enqueue_then_fail():
        with transaction.atomic():
            enqueue(demo_task, kwargs={"seconds": 0}, user=user)
            raise RuntimeError("rolled back")

    # when
    with pytest.raises(RuntimeError, match="rolled back"):
        enqueue_then_fail()

    # then

    assert published == []
    assert UserTask.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_priority_is_translated_for_the_broker(published):
    task_id = enqueue(demo_task, kwargs={"seconds": 0}, priority=Priority.URGENT)

    [(sent_id, properties)] = published
    assert sent_id == task_id
    assert properties.get("priority") == broker_priority(Priority.URGENT, settings.BROKER_SCHEME)


@pytest.mark.django_db(transaction=True)
def test_default_priority_is_normal(published):
    enqueue(demo_task, kwargs={"seconds": 0})

    [(_, properties)] = published
    assert properties.get("priority") == broker_priority(Priority.NORMAL, settings.BROKER_SCHEME)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"args": [object()]}, TypeError, "must be JSON values"),
        ({"kwargs": {"when": {1, 2}}}, TypeError, "must be JSON values"),
        ({"priority": 10}, ValueError, "priority must be between 0 and 9"),
        ({"priority": -1}, ValueError, "priority must be between 0 and 9"),
        ({"countdown": -5}, ValueError, "countdown must be between"),
        ({"countdown": settings.TASK_VISIBILITY_TIMEOUT}, ValueError, "visibility timeout"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    options, error, message, user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(error, match=message):
        enqueue(demo_task, user=user, **options)

    assert callbacks == []
    assert published == []
    assert UserTask.objects.count() == 0


@pytest.mark.django_db
def test_a_user_cannot_follow_a_task_that_stores_no_result(user):
    with pytest.raises(ValueError, match="stores no result"):
        enqueue(forgetful_task, user=user)

    assert UserTask.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_broker_down_raises_and_records_the_failure(broker_down, user):
    # when
    with pytest.raises(BrokerUnavailable, match="unreachable"):
        enqueue(demo_task, kwargs={"seconds": 0}, user=user)

    # then: whoever polls the id learns it failed, instead of PENDING forever
    [user_task] = UserTask.objects.all()
    result = TaskResult.objects.get(task_id=user_task.task_id)
    assert result.status == states.FAILURE
    assert "BrokerUnavailable" in result.result
