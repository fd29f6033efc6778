"""The operations console's actions through the API: POST /api/v1/tasks/{id}/retry,
/revoke and /terminate, for staff, through the console's own services."""

import pytest
from celery import states, uuid
from celery.app.task import Context
from django.urls import reverse
from django_celery_results.models import TaskResult

from mysite.celery import app as celery_app
from mysite.models import TaskRetry, UserTask
from mysite.tokens import token_create
from tests.mysite.test_operations import DEMO, failed

pytestmark = pytest.mark.django_db

ACTIONS = ("retry", "revoke", "terminate")


def bearer(user) -> dict:
    _, raw = token_create(user=user, name="ops script")
    return {"Authorization": f"Bearer {raw}"}


def act(client, headers, action: str, task_id: str):
    return client.post(reverse(f"api-v1:task-{action}", args=[task_id]), headers=headers)


def test_retry_queues_the_failed_task_again_and_answers_the_new_one(
    client, staff_user, django_capture_on_commit_callbacks
):
    original = failed(DEMO, kwargs={"seconds": 0.5})

    with django_capture_on_commit_callbacks() as published:
        response = act(client, bearer(staff_user), "retry", original)

    assert response.status_code == 202
    body = response.json()
    link = TaskRetry.objects.get()
    assert (link.original_task_id, link.retry_task_id, link.user) == (
        original,
        body["task_id"],
        staff_user,
    )
    assert body["status_url"] == reverse("api-v1:task-get", args=[body["task_id"]])
    assert len(published) == 1


def test_a_second_retry_is_409_and_queues_nothing(
    client, staff_user, django_capture_on_commit_callbacks
):
    original = failed(DEMO, kwargs={"seconds": 0})
    headers = bearer(staff_user)
    assert act(client, headers, "retry", original).status_code == 202

    with django_capture_on_commit_callbacks() as published:
        response = act(client, headers, "retry", original.upper())  # any spelling of the id

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "operation_refused"
    assert "was already retried as" in error["message"]
    assert published == []
    assert TaskRetry.objects.count() == 1


def test_revoke_marks_a_waiting_task_revoked_at_once(client, staff_user):
    waiting = uuid()
    celery_app.backend.store_result(waiting, None, states.RETRY, request=Context(task=DEMO))

    response = act(client, bearer(staff_user), "revoke", waiting)

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["state"]) == (waiting, "REVOKED")
    assert body["error"] == "TaskRevokedError: Revoked by carol"
    assert TaskResult.objects.get(task_id=waiting).status == states.REVOKED


def test_revoke_of_a_finished_task_is_409_and_changes_nothing(client, staff_user):
    finished = failed(DEMO)

    response = act(client, bearer(staff_user), "revoke", finished)

    assert response.status_code == 409
    assert "is FAILURE: there is nothing to revoke" in response.json()["error"]["message"]
    assert TaskResult.objects.get(task_id=finished).status == states.FAILURE


def test_terminate_asks_the_worker_and_answers_the_task_to_follow(client, staff_user):
    running = uuid()
    celery_app.backend.store_result(
        running, {"pid": 1, "hostname": "w"}, states.STARTED, request=Context(task=DEMO)
    )

    response = act(client, bearer(staff_user), "terminate", running)

    assert response.status_code == 202
    assert response.json() == {
        "task_id": running,
        "status_url": reverse("api-v1:task-get", args=[running]),
    }


def test_terminate_of_a_task_not_running_yet_is_409(client, staff_user):
    waiting = uuid()
    UserTask.objects.create(task_id=waiting, task_name=DEMO, user=staff_user)

    response = act(client, bearer(staff_user), "terminate", waiting)

    assert response.status_code == 409
    assert "is not running yet: revoke it instead" in response.json()["error"]["message"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("task_id", ["not-a-uuid", "²", "x" * 300, "unknown"])
def test_an_unknown_or_malformed_task_is_404(client, staff_user, action, task_id):
    task_id = uuid() if task_id == "unknown" else task_id

    response = act(client, bearer(staff_user), action, task_id)

    assert response.status_code == 404
    assert response.json()["error"]["code"] in {"not_found", "task_unknown"}


@pytest.mark.parametrize("action", ACTIONS)
def test_a_user_who_is_not_staff_gets_403_and_nothing_happens(
    client, user, action, django_capture_on_commit_callbacks
):
    original = failed(DEMO)
    UserTask.objects.create(task_id=original, task_name=DEMO, user=user)  # even their own

    with django_capture_on_commit_callbacks() as published:
        response = act(client, bearer(user), action, original)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert published == []
    assert not TaskRetry.objects.exists()
    assert TaskResult.objects.get(task_id=original).status == states.FAILURE


@pytest.mark.parametrize("action", ACTIONS)
def test_anonymous_gets_401(client, action):
    assert act(client, {}, action, failed(DEMO)).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_retry_with_the_broker_down_is_409_and_queues_nothing(client, staff_user, broker_down):
    original = failed(DEMO)

    response = act(client, bearer(staff_user), "retry", original)

    assert response.status_code == 409
    assert "nothing queued" in response.json()["error"]["message"]
    assert not TaskRetry.objects.exists()
