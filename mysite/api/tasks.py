"""``/api/v1/tasks/``: the tasks I started (staff: any task), the dashboard's demo,
and the operations console's actions (staff): retry, revoke, terminate."""

import uuid
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django_celery_results.models import TaskResult
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from mysite import operations, selectors
from mysite.api.auth import staff_required
from mysite.api.errors import ApiError, responses
from mysite.api.pagination import Page
from mysite.enqueue import enqueue
from mysite.models import UserTask
from mysite.tasks import DEMO_MAX_SECONDS
from mysite.tasks import demo_task as demo_task_task

router = Router(tags=["tasks"])


class TaskOut(Schema):
    id: str
    state: str = Field(description="PENDING, STARTED, RETRY, SUCCESS, FAILURE or REVOKED.")
    result: Any = None
    error: str | None = None
    date_done: datetime | None = None


class TaskListItem(Schema):
    id: str = Field(alias="task_id")
    name: str = Field(alias="task_name")
    state: str
    created_at: datetime
    date_done: datetime | None


class DemoIn(Schema):
    seconds: float = Field(2.0, ge=0, le=DEMO_MAX_SECONDS, allow_inf_nan=False)


class Started(Schema):
    task_id: str
    status_url: str


def task_id_normal(task_id: str) -> str:
    """Our task ids are UUIDs, written lower-case; any other spelling of one finds it."""
    try:
        return str(uuid.UUID(task_id))
    except ValueError:
        raise ApiError(404, "Unknown task.") from None


def status_url(task_id: str) -> str:
    return reverse("api-v1:task-get", args=[task_id])


@router.get("/", response=responses({200: list[TaskListItem]}), url_name="task-list")
@paginate(Page)
def task_list(request):
    """The tasks I started, newest first, with their current state."""
    results = TaskResult.objects.filter(task_id=OuterRef("task_id"))
    return (
        UserTask.objects.filter(user=request.user)
        .annotate(
            state=Coalesce(Subquery(results.values("status")[:1]), Value("PENDING")),
            date_done=Subquery(results.values("date_done")[:1]),
        )
        .order_by("-created_at", "-pk")
    )


@router.post("/demo", response=responses({202: Started}), url_name="task-demo")
def task_demo(request, payload: DemoIn):
    """Start the dashboard's demo task: it sleeps ``seconds`` and reports progress."""
    task_id = enqueue(demo_task_task, kwargs={"seconds": payload.seconds}, user=request.user)
    return Status(202, {"task_id": task_id, "status_url": status_url(task_id)})


@router.get("/{task_id}", response=responses({200: TaskOut}, 404), url_name="task-get")
def task_get(request, task_id: str):
    """A task's state, result or error: mine, or any task for staff."""
    status = selectors.task_status_get(task_id=task_id_normal(task_id), user=request.user)
    if status is None:
        raise ApiError(404, "Unknown task.")
    return status


# The operations console's actions (mysite/operations.py), for staff ---------------------


@router.post(
    "/{task_id}/retry", response=responses({202: Started}, 403, 404, 409), url_name="task-retry"
)
def task_retry(request, task_id: str):
    """Queue a failed or revoked task again (same task and arguments): the new task.

    409 when the task is not failed or revoked, was retried already, or its row is
    gone or final; nothing is queued then."""
    staff_required(request)
    new_id = operations.task_retry(task_id=task_id_normal(task_id), user=request.user)
    return Status(202, {"task_id": new_id, "status_url": status_url(new_id)})


@router.post(
    "/{task_id}/revoke", response=responses({200: TaskOut}, 403, 404, 409), url_name="task-revoke"
)
def task_revoke(request, task_id: str):
    """Revoke a task still waiting (queued, prefetched, or for a retry): it is REVOKED
    at once and no worker will start it. 409 when it runs or has finished."""
    staff_required(request)
    task_id = task_id_normal(task_id)
    operations.task_revoke(task_id=task_id, user=request.user)
    return selectors.task_status_get(task_id=task_id, user=request.user)


@router.post(
    "/{task_id}/terminate",
    response=responses({202: Started}, 403, 404, 409),
    url_name="task-terminate",
)
def task_terminate(request, task_id: str):
    """Ask the worker running a task to stop it (SIGTERM, prefork pools): the task
    records REVOKED once its process has stopped. 409 when it is not running."""
    staff_required(request)
    task_id = task_id_normal(task_id)
    operations.task_terminate(task_id=task_id, user=request.user)
    return Status(202, {"task_id": task_id, "status_url": status_url(task_id)})
