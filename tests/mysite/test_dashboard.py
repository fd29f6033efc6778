import pytest
from celery import states
from django.urls import reverse

from mysite.celery import app as celery_app
from mysite.models import UserTask

pytestmark = pytest.mark.django_db


def test_dashboard_needs_login(client):
    response = client.get(reverse("dashboard"))

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse('dashboard')}"


def test_panel_needs_login(client):
    response = client.get(reverse("dashboard-panel"))

    assert response.status_code == 302


def test_dashboard_shows_results_counts_queues(client, staff_user):
    # given
    backend = celery_app.backend
    backend.store_result("r-ok", None, states.STARTED)
    backend.store_result("r-ok", 1, states.SUCCESS)
    backend.mark_as_failure("r-bad", ValueError("nope"))
    backend.store_result("r-run", None, states.STARTED)
    client.force_login(staff_user)

    # when
    response = client.get(reverse("dashboard"))

    # then
    assert response.status_code == 200
    assert response.context["counts"] == {"FAILURE": 1, "STARTED": 1, "SUCCESS": 1}
    assert [r.task_id for r in response.context["recent"]] == ["r-run", "r-bad", "r-ok"]
    ok = next(r for r in response.context["recent"] if r.task_id == "r-ok")
    assert ok.runtime is not None
    assert ok.runtime.total_seconds() >= 0
    assert set(response.context["queues"]) == {
        "default",
        "images",
        "reports",
        "notifications",
        "payments",
    }
    assert all(depth == 0 for depth in response.context["queues"].values())
    html = response.content.decode()
    assert "Run a demo task" in html
    assert 'id="recent"' in html


def test_a_user_who_is_not_staff_sees_only_the_tasks_they_started(client, user, other_user):
    # given: one task each, and one nobody started from the site (a beat run)
    backend = celery_app.backend
    for task_id, owner in (("mine", user), ("theirs", other_user), ("beat", None)):
        backend.store_result(task_id, 1, states.SUCCESS)
        if owner is not None:
            UserTask.objects.create(task_id=task_id, task_name="mysite.tasks.demo_task", user=owner)
    client.force_login(user)

    # when
    page = client.get(reverse("dashboard"))
    panel = client.get(reverse("dashboard-panel"))

    # then
    for response in (page, panel):
        assert [r.task_id for r in response.context["recent"]] == ["mine"]
        assert response.context["counts"] == {"SUCCESS": 1}
        assert "theirs" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_panel_lists_the_worker_that_answers_a_ping(client, user, celery_worker):
    client.force_login(user)

    response = client.get(reverse("dashboard-panel"))

    assert response.status_code == 200
    assert celery_worker.hostname in response.context["workers"]
    assert celery_worker.hostname in response.content.decode()


def test_panel_says_when_the_broker_is_unreachable(client, user, broker_down):
    client.force_login(user)

    response = client.get(reverse("dashboard-panel"))

    assert response.status_code == 200
    assert response.context["workers"] is None
    assert response.context["queues"] is None
    assert "Broker unreachable." in response.content.decode()


def test_queue_depth_counts_waiting_messages(client, user, django_capture_on_commit_callbacks):
    # given: no worker runs in this test, so messages wait in the queue
    from mysite.enqueue import enqueue
    from mysite.tasks import demo_task

    celery_app.control.purge()
    with django_capture_on_commit_callbacks(execute=True):
        enqueue(demo_task, kwargs={"seconds": 0})
        enqueue(demo_task, kwargs={"seconds": 0})
    client.force_login(user)

    # when
    response = client.get(reverse("dashboard-panel"))
    celery_app.control.purge()

    # then
    assert response.context["queues"]["default"] == 2


def test_the_demo_box_shows_the_last_demo_task_i_started(client, user, other_user):
    # given: two demo tasks of mine (the older failed), one of someone else's, later,
    # and a later task of mine that is not a demo
    backend = celery_app.backend
    rows = [
        ("old-demo", user, "mysite.tasks.demo_task"),
        ("my-demo", user, "mysite.tasks.demo_task"),
        ("their-demo", other_user, "mysite.tasks.demo_task"),
        ("my-report", user, "reports.tasks.generate_sales_report"),
    ]
    for task_id, owner, name in rows:
        UserTask.objects.create(task_id=task_id, task_name=name, user=owner)
    backend.mark_as_failure("old-demo", ValueError("nope"))
    backend.store_result("my-demo", {"slept": 2.0}, states.SUCCESS)
    client.force_login(user)

    # when: the dashboard is loaded again
    html = client.get(reverse("dashboard")).content.decode()

    # then: the box says how my last demo task stands, and where to follow it
    assert (
        '<strong id="demo-state" class="state state-success" data-state="SUCCESS" '
        'data-status-url="/api/v1/tasks/my-demo">SUCCESS</strong>'
    ) in html
    assert '<span id="demo-id" class="muted">my-demo</span>' in html
    assert "not started" not in html


def test_the_demo_box_says_not_started_before_any_demo_task(client, user):
    client.force_login(user)

    html = client.get(reverse("dashboard")).content.decode()

    assert '<strong id="demo-state" data-state="">not started</strong>' in html
