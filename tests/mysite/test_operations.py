"""The operations console: its services, its pages, the admin's Retry, with real workers."""

import re
from datetime import timedelta

import pytest
from celery import states, uuid
from celery.app.task import Context
from celery.signals import task_revoked
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from mysite import operations, selectors
from mysite.celery import app as celery_app
from mysite.enqueue import enqueue
from mysite.models import TaskRetry, UserTask
from mysite.priorities import Priority
from mysite.tasks import demo_task
from notifications.models import Notification
from tests.helpers.celery_process import WorkerProcess
from tests.helpers.services import wait_for, wait_for_success
from tests.mysite.console_tasks import always_busy, deliver_notification

pytestmark = pytest.mark.django_db

DEMO = "mysite.tasks.demo_task"
DELIVER = deliver_notification.name


def failed(name: str, *, args=(), kwargs=None, argsrepr=None, error=None) -> str:
    """A FAILURE as a worker stores it (Celery's ``repr()`` arguments, no meta); its id."""
    task_id = uuid()
    kwargs = kwargs or {}
    request = Context(
        id=task_id,
        task=name,
        args=list(args),
        kwargs=kwargs,
        argsrepr=repr(tuple(args)) if argsrepr is None else argsrepr,
        kwargsrepr=repr(kwargs),
        hostname="celery@test-host",
    )
    celery_app.backend.mark_as_failure(task_id, error or ValueError("nope"), request=request)
    return task_id


def notification_for(user, **fields) -> Notification:
    return Notification.objects.create(
        recipient=user, channel="email", body="Your report is ready.", dedupe_key=uuid(), **fields
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# Retry ---------------------------------------------------------------------------


def test_retry_queues_the_same_task_and_arguments_under_a_new_id_linked_both_ways(
    staff_user, django_capture_on_commit_callbacks
):
    # given: a failed demo task
    original = failed(DEMO, kwargs={"seconds": 0.5})

    # when
    with django_capture_on_commit_callbacks() as published:
        new_id = operations.task_retry(task_id=original, user=staff_user)

    # then: one task queued on commit, the two ids linked both ways
    assert len(published) == 1
    assert new_id != original
    link = TaskRetry.objects.get()
    assert (link.original_task_id, link.retry_task_id, link.user) == (original, new_id, staff_user)
    assert selectors.task_view_get(task_id=original).retried_as == link
    retry = selectors.task_view_get(task_id=new_id)
    assert retry.retry_of == link
    assert (retry.name, retry.state) == (DEMO, states.PENDING)
    assert UserTask.objects.get(task_id=new_id).user == staff_user


def test_the_retry_goes_to_whoever_started_the_original(
    user, staff_user, django_capture_on_commit_callbacks
):
    # given: alice's task failed
    original = failed(DEMO, kwargs={"seconds": 0.5})
    UserTask.objects.create(task_id=original, task_name=DEMO, user=user)

    # when: staff retry it
    with django_capture_on_commit_callbacks():
        new_id = operations.task_retry(task_id=original, user=staff_user)

    # then: alice follows the retry on her dashboard; staff are recorded as who retried
    assert UserTask.objects.get(task_id=new_id).user == user
    assert TaskRetry.objects.get().user == staff_user


def test_retry_reopens_the_row_and_points_it_at_the_new_task(
    user, staff_user, django_capture_on_commit_callbacks
):
    # given: a notification whose delivery failed
    notification = notification_for(
        user, status="failed", last_error="no address", priority=Priority.HIGH
    )
    original = failed(DELIVER, args=[notification.pk])

    # when
    with django_capture_on_commit_callbacks() as published:
        new_id = operations.task_retry(task_id=original, user=staff_user)

    # then: queued again, its task id the retry's
    notification.refresh_from_db()
    assert (notification.status, notification.last_error) == ("queued", "")
    assert notification.task_id == new_id
    assert len(published) == 1
    assert TaskRetry.objects.get().retry_task_id == new_id


def test_a_task_retried_once_is_not_retried_twice(staff_user, django_capture_on_commit_callbacks):
    original = failed(DEMO)
    with django_capture_on_commit_callbacks():
        first = operations.task_retry(task_id=original, user=staff_user)

    with (
        django_capture_on_commit_callbacks() as published,
        pytest.raises(operations.OperationRefused, match=f"already retried as {first}"),
    ):
        operations.task_retry(task_id=original, user=staff_user)

    assert published == []
    assert TaskRetry.objects.count() == 1


def test_a_task_that_is_no_longer_registered_is_refused_and_nothing_is_queued(
    staff_user, django_capture_on_commit_callbacks
):
    original = failed("images.tasks.retired_long_ago", args=[5])

    with (
        django_capture_on_commit_callbacks() as published,
        pytest.raises(operations.OperationRefused) as refusal,
    ):
        operations.task_retry(task_id=original, user=staff_user)

    assert str(refusal.value) == (
        "images.tasks.retired_long_ago is no longer a registered task: nothing queued."
    )
    assert published == []
    assert not TaskRetry.objects.exists()


def test_a_task_whose_row_is_gone_is_refused_and_nothing_is_queued(
    user, staff_user, django_capture_on_commit_callbacks
):
    # given: the notification the failed task worked on was deleted since
    notification = notification_for(user, status="failed")
    original = failed(DELIVER, args=[notification.pk])
    notification_id = notification.pk
    notification.delete()

    # when
    with (
        django_capture_on_commit_callbacks() as published,
        pytest.raises(operations.OperationRefused) as refusal,
    ):
        operations.task_retry(task_id=original, user=staff_user)

    # then
    assert str(refusal.value) == f"Notification #{notification_id} is gone: nothing queued."
    assert published == []
    assert not TaskRetry.objects.exists()


def test_a_task_whose_row_is_final_is_refused(user, staff_user, django_capture_on_commit_callbacks):
    # given: the notification went out after all (another send)
    notification = notification_for(user, status="sent")
    original = failed(DELIVER, args=[notification.pk])

    with (
        django_capture_on_commit_callbacks() as published,
        pytest.raises(operations.OperationRefused) as refusal,
    ):
        operations.task_retry(task_id=original, user=staff_user)

    assert (
        str(refusal.value) == f"Notification #{notification.pk} is already sent: nothing to retry."
    )
    assert published == []
    notification.refresh_from_db()
    assert notification.status == "sent"


@pytest.mark.parametrize(
    "argsrepr",
    [
        "([1, 2, 3, 4, ...],)",  # cut by Celery's repr at 1,024 characters
        "(<Image: 5>,)",  # an object's repr
        "'not a call'",
    ],
)
def test_arguments_that_cannot_be_read_back_are_refused(
    argsrepr, staff_user, django_capture_on_commit_callbacks
):
    original = failed(DEMO, argsrepr=argsrepr)

    with (
        django_capture_on_commit_callbacks() as published,
        pytest.raises(operations.OperationRefused, match=r"arguments .*Nothing queued"),
    ):
        operations.task_retry(task_id=original, user=staff_user)

    assert published == []


def test_only_a_failed_or_revoked_task_is_retried(staff_user):
    done = uuid()
    celery_app.backend.store_result(done, 1, states.SUCCESS, request=Context(task=DEMO))

    with pytest.raises(operations.OperationRefused, match="is SUCCESS: only a failed or revoked"):
        operations.task_retry(task_id=done, user=staff_user)
    with pytest.raises(operations.TaskUnknown):
        operations.task_retry(task_id=uuid(), user=staff_user)


def test_retry_with_the_broker_down_is_refused_and_nothing_is_queued(
    user, staff_user, broker_down, django_capture_on_commit_callbacks
):
    notification = notification_for(user, status="failed")
    original = failed(DELIVER, args=[notification.pk])

    with (
        django_capture_on_commit_callbacks() as published,
        pytest.raises(operations.OperationRefused, match=r"unreachable .*nothing queued"),
    ):
        operations.task_retry(task_id=original, user=staff_user)

    assert published == []
    assert not TaskRetry.objects.exists()
    notification.refresh_from_db()
    assert notification.status == "failed"


# Revoke and terminate: what they refuse -----------------------------------------------


def test_revoke_refuses_a_running_or_finished_task(staff_user):
    running, finished = uuid(), failed(DEMO)
    celery_app.backend.store_result(running, None, states.STARTED, request=Context(task=DEMO))

    with pytest.raises(operations.OperationRefused, match="is running: terminate it instead"):
        operations.task_revoke(task_id=running, user=staff_user)
    with pytest.raises(operations.OperationRefused, match="is FAILURE: there is nothing to revoke"):
        operations.task_revoke(task_id=finished, user=staff_user)


def test_terminate_refuses_a_task_that_is_not_running(staff_user):
    waiting = uuid()
    UserTask.objects.create(task_id=waiting, task_name=DEMO, user=staff_user)

    with pytest.raises(operations.OperationRefused, match="is not running yet: revoke it instead"):
        operations.task_terminate(task_id=waiting, user=staff_user)
    with pytest.raises(operations.OperationRefused, match="nothing to terminate"):
        operations.task_terminate(task_id=failed(DEMO), user=staff_user)


def test_revoke_with_the_broker_down_is_refused_and_writes_nothing(staff_user, broker_down):
    # given: a task waiting for its retry's countdown
    waiting = uuid()
    celery_app.backend.store_result(waiting, None, states.RETRY, request=Context(task=DEMO))

    # when / then
    with pytest.raises(operations.OperationRefused, match=r"unreachable .*nothing revoked"):
        operations.task_revoke(task_id=waiting, user=staff_user)
    assert TaskResult.objects.get(task_id=waiting).status == states.RETRY


# Pages ------------------------------------------------------------------------------


def test_the_console_needs_a_login(client):
    response = client.get(reverse("operations"))

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse('operations')}"


def test_a_user_who_is_not_staff_gets_403_and_nothing_is_queued(
    client, user, django_capture_on_commit_callbacks
):
    # given: a failed task, and a logged-in user who is not staff
    original = failed(DEMO)
    client.force_login(user)

    # when
    with django_capture_on_commit_callbacks() as published:
        responses = [
            client.get(reverse("operations")),
            client.get(reverse("operations-task", args=[original])),
            client.post(reverse("operations-task-action", args=[original, "retry"])),
            client.post(reverse("operations-task-action", args=[original, "revoke"])),
            client.post(reverse("operations-task-action", args=[original, "terminate"])),
            client.post(reverse("operations-actions"), {"action": "retry", "task_id": [original]}),
        ]

    # then
    assert [response.status_code for response in responses] == [403] * 6
    assert published == []
    assert not TaskRetry.objects.exists()


UNKNOWN_TASK_ID = "6c1d3b9e-2f4a-4e8b-9a7d-0b5e8f1c2a3d"  # well formed; no task has it


@pytest.mark.parametrize("task_id", ["not-a-task-id", "0" * 36, UNKNOWN_TASK_ID])
def test_a_malformed_or_unknown_task_id_is_404(
    task_id, client, staff_user, django_capture_on_commit_callbacks
):
    client.force_login(staff_user)
    known = failed(DEMO)

    with django_capture_on_commit_callbacks() as published:
        responses = [
            client.get(reverse("operations-task", args=[task_id])),
            client.post(reverse("operations-task-action", args=[task_id, "retry"])),
            client.post(reverse("operations-task-action", args=[task_id, "revoke"])),
            client.get(reverse("operations-task-action", args=[task_id, "terminate"])),
            # one bad id among good ones: nothing is done to any
            client.post(
                reverse("operations-actions"), {"action": "retry", "task_id": [known, task_id]}
            ),
        ]

    assert [response.status_code for response in responses] == [404] * 5
    assert published == []
    assert not TaskRetry.objects.exists()


def test_an_unknown_action_is_refused(client, staff_user):
    client.force_login(staff_user)
    known = failed(DEMO)

    one = client.post(reverse("operations-task-action", args=[known, "explode"]))
    selected = client.post(reverse("operations-actions"), {"action": "explode", "task_id": known})

    assert (one.status_code, selected.status_code) == (404, 400)
    assert b"Unknown action" in selected.content


def test_the_console_lists_failures_with_their_reason_newest_first_by_pages(client, staff_user):
    # given: 30 failed demo tasks, one failed delivery, one success
    demo_ids = [failed(DEMO, kwargs={"seconds": n}) for n in range(30)]
    other = failed(DELIVER, args=[7], error=RuntimeError("provider said no"))
    celery_app.backend.store_result(uuid(), 1, states.SUCCESS, request=Context(task=DEMO))
    client.force_login(staff_user)

    # when
    first = client.get(reverse("operations"))
    second = client.get(reverse("operations"), {"page": 2})
    junk_page = client.get(reverse("operations"), {"page": "many"})

    # then: failures only, 25 a page, newest first, with what they were called with and why
    assert first.status_code == 200
    assert first.context["page"].paginator.count == 31
    rows = first.context["tasks"]
    assert [row.task_id for row in rows] == [other, *reversed(demo_ids[-24:])]
    assert rows[0].error == "RuntimeError: provider said no"
    assert (rows[0].args, rows[0].kwargs) == ([7], {})
    assert rows[0].domain_gone == "Notification #7 is gone."
    assert rows[1].kwargs == {"seconds": 29}
    assert rows[1].result.worker == "celery@test-host"
    assert rows[1].queue == "default"  # no meta: where the task is routed
    assert [row.task_id for row in second.context["tasks"]] == list(reversed(demo_ids[:6]))
    assert junk_page.context["page"].number == 1
    html = first.content.decode()
    assert "RuntimeError: provider said no" in html
    assert f'href="{reverse("operations-task", args=[other])}"' in html
    assert 'class="pages"' in html


def test_the_console_filters_by_task_state_and_day(client, staff_user):
    # given: two failures of different tasks, one of them three days old, and a success
    old = failed(DEMO)
    TaskResult.objects.filter(task_id=old).update(date_done=timezone.now() - timedelta(days=3))
    recent = failed(DELIVER, args=[1])
    success = uuid()
    celery_app.backend.store_result(success, 1, states.SUCCESS, request=Context(task=DEMO))
    client.force_login(staff_user)
    today = timezone.localdate()

    def listed(**filters) -> list[str]:
        response = client.get(reverse("operations"), filters)
        assert response.status_code == 200, response.context["form"].errors
        return [row.task_id for row in response.context["tasks"]]

    # when / then
    assert listed(task=DEMO) == [old]
    assert listed(state="SUCCESS") == [success]
    assert listed(state="") == [success, recent, old]
    assert listed(since=today.isoformat()) == [recent]
    assert listed(until=(today - timedelta(days=1)).isoformat()) == [old]
    assert listed(task=DEMO, state="", since=today.isoformat()) == [success]


def test_bad_filters_are_form_errors(client, staff_user):
    client.force_login(staff_user)
    today = timezone.localdate()

    bad_day = client.get(reverse("operations"), {"since": "yesterday"})
    backwards = client.get(
        reverse("operations"),
        {"since": today.isoformat(), "until": (today - timedelta(days=1)).isoformat()},
    )
    bad_state = client.get(reverse("operations"), {"state": "EXPLODED"})

    assert [r.status_code for r in (bad_day, backwards, bad_state)] == [400, 400, 400]
    assert "Enter a valid date." in bad_day.content.decode()
    assert "The first day comes after the last." in backwards.content.decode()
    assert "Select a valid choice." in bad_state.content.decode()


def test_a_task_page_shows_the_traceback_on_demand_and_its_row(client, user, staff_user):
    # given: a failed delivery with a traceback
    notification = notification_for(user, status="failed")
    try:
        raise RuntimeError("provider said no")
    except RuntimeError as exc:
        task_id = uuid()
        request = Context(id=task_id, task=DELIVER, args=[notification.pk], kwargs={})
        request.argsrepr, request.kwargsrepr = repr((notification.pk,)), "{}"
        celery_app.backend.mark_as_failure(
            task_id, exc, traceback="Traceback: line 1", request=request
        )
    client.force_login(staff_user)

    # when
    response = client.get(reverse("operations-task", args=[task_id]))

    # then: the traceback folded away, the notification linked, Retry offered
    html = response.content.decode()
    assert response.status_code == 200
    assert '<details class="card" id="traceback"><summary>Traceback</summary>' in html
    assert "Traceback: line 1" in html
    admin_url = reverse("admin:notifications_notification_change", args=[notification.pk])
    assert f'href="{admin_url}" class="domain-link">Notification #{notification.pk}</a>' in html
    assert "(failed)" in html
    assert 'id="retry-button"' in html
    assert 'id="terminate-link"' not in html


def test_retry_from_a_task_page_and_from_a_selection(
    client, staff_user, django_capture_on_commit_callbacks
):
    # given: two failures and a success
    one, two = failed(DEMO), failed(DEMO)
    success = uuid()
    celery_app.backend.store_result(success, 1, states.SUCCESS, request=Context(task=DEMO))
    client.force_login(staff_user)

    # when: one retried from its page, then the other with the success selected in the list
    with django_capture_on_commit_callbacks() as published:
        single = client.post(reverse("operations-task-action", args=[one, "retry"]), follow=True)
        selected = client.post(
            reverse("operations-actions"),
            {"action": "retry", "task_id": [two, success], "next": "/operations/?state=FAILURE"},
            follow=True,
        )

    # then: two queued; the success refused with its reason; each back where it came from
    assert len(published) == 2
    retries = dict(TaskRetry.objects.values_list("original_task_id", "retry_task_id"))
    assert set(retries) == {one, two}
    assert single.redirect_chain == [(reverse("operations-task", args=[one]), 302)]
    assert messages_of(single) == [f"Retried {DEMO}[{one}] as {retries[one]}."]
    assert f'id="retried-as" href="{reverse("operations-task", args=[retries[one]])}"' in (
        single.content.decode()
    )
    assert selected.redirect_chain == [("/operations/?state=FAILURE", 302)]
    assert messages_of(selected) == [
        f"Retried {DEMO}[{two}] as {retries[two]}.",
        f"{DEMO}[{success}] is SUCCESS: only a failed or revoked task can be retried.",
    ]


def test_a_refused_retry_says_why_on_the_page(
    client, staff_user, django_capture_on_commit_callbacks
):
    original = failed("images.tasks.retired_long_ago", args=[5])
    client.force_login(staff_user)

    with django_capture_on_commit_callbacks() as published:
        response = client.post(
            reverse("operations-task-action", args=[original, "retry"]), follow=True
        )

    assert response.status_code == 200
    assert messages_of(response) == [
        "images.tasks.retired_long_ago is no longer a registered task: nothing queued."
    ]
    assert published == []


def test_an_action_on_no_selected_task_says_so(client, staff_user):
    client.force_login(staff_user)

    response = client.post(reverse("operations-actions"), {"action": "retry"}, follow=True)

    assert messages_of(response) == ["Select at least one task."]


def test_an_offsite_next_is_not_followed(client, staff_user, django_capture_on_commit_callbacks):
    client.force_login(staff_user)

    with django_capture_on_commit_callbacks():
        response = client.post(
            reverse("operations-actions"),
            {"action": "retry", "task_id": failed(DEMO), "next": "https://evil.example/"},
        )

    assert response.url == reverse("operations")


def test_terminate_asks_for_a_confirmation_first(client, staff_user, monkeypatch):
    # given: a running task
    running = uuid()
    celery_app.backend.store_result(
        running, None, states.STARTED, request=Context(task=DEMO, hostname="celery@busy")
    )
    client.force_login(staff_user)

    # when: Terminate is pressed, on the task's page and on a selection
    page = client.get(reverse("operations-task", args=[running]))
    one = client.get(reverse("operations-task-action", args=[running, "terminate"]))
    selected = client.post(
        reverse("operations-actions"), {"action": "terminate", "task_id": [running]}
    )

    # then: a page asks first; the task still runs
    assert 'id="terminate-link"' in page.content.decode()
    for response in (one, selected):
        assert response.status_code == 200
        html = response.content.decode()
        assert "Terminate 1 running task?" in html
        assert "celery@busy" in html
        assert 'name="confirmed" value="1"' in html
    assert TaskResult.objects.get(task_id=running).status == states.STARTED


def test_the_dashboard_links_staff_to_the_console(client, user, staff_user):
    client.force_login(staff_user)
    staff_page = client.get(reverse("dashboard")).content.decode()
    client.force_login(user)
    user_page = client.get(reverse("dashboard")).content.decode()

    assert f'href="{reverse("operations")}" id="operations-link"' in staff_page
    assert 'id="operations-link"' not in user_page


# The admin ------------------------------------------------------------------------------


def test_the_admin_retries_selected_task_results_through_the_same_service(
    admin_client, django_capture_on_commit_callbacks
):
    # given: a failed task and one that is no longer registered
    retried, gone = failed(DEMO), failed("images.tasks.retired_long_ago")
    pks = TaskResult.objects.filter(task_id__in=[retried, gone]).values_list("pk", flat=True)

    # when
    with django_capture_on_commit_callbacks() as published:
        response = admin_client.post(
            reverse("admin:django_celery_results_taskresult_changelist"),
            {"action": "retry_tasks", "_selected_action": list(pks)},
            follow=True,
        )

    # then
    assert len(published) == 1
    new_id = TaskRetry.objects.get(original_task_id=retried).retry_task_id
    assert sorted(messages_of(response)) == sorted(
        [
            f"Retried {retried} as {new_id}.",
            "images.tasks.retired_long_ago is no longer a registered task: nothing queued.",
        ]
    )


def test_each_periodic_task_in_the_admin_links_its_last_result(admin_client):
    # given: a schedule with two runs (the newest failed) and one never run
    every_hour = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(name="Demo hourly", task=DEMO, interval=every_hour)
    PeriodicTask.objects.create(name="Never run", task=DEMO, interval=every_hour)
    for status in (states.SUCCESS, states.FAILURE):
        celery_app.backend.store_result(
            uuid(), None, status, request=Context(task=DEMO, periodic_task_name="Demo hourly")
        )
    newest = TaskResult.objects.filter(periodic_task_name="Demo hourly").latest("date_done")

    # when
    response = admin_client.get(reverse("admin:django_celery_beat_periodictask_changelist"))

    # then
    html = response.content.decode()
    url = reverse("admin:django_celery_results_taskresult_change", args=[newest.pk])
    assert newest.status == states.FAILURE
    assert f'<a href="{url}">FAILURE ' in html
    assert len(re.findall(r"/django_celery_results/taskresult/\d+/change/", html)) == 1


# With real workers ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failed_delivery_retried_from_the_console_is_sent_and_both_link(
    client, user, staff_user, celery_worker
):
    # given: alice has no email address, so her notification's delivery fails for good
    notification = notification_for(user)
    original = deliver_notification.apply_async([notification.pk]).id
    wait_for(
        lambda: TaskResult.objects.filter(task_id=original, status=states.FAILURE).exists(),
        what="the delivery to fail",
    )
    client.force_login(staff_user)
    listed = client.get(reverse("operations"), {"task": DELIVER})
    [row] = listed.context["tasks"]
    assert row.error == f"DeliveryFailed: {user} has no valid email address."
    assert row.domain.label == f"Notification #{notification.pk}"
    assert (row.queue, row.retries) == ("default", 0)
    assert row.result.worker  # the in-process worker names its host only

    # when: she gets an address, and staff press Retry
    user.email = "alice@example.com"
    user.save()
    client.post(reverse("operations-task-action", args=[original, "retry"]))

    # then: a new task delivers it, and each task's page links the other
    retry_id = TaskRetry.objects.get(original_task_id=original).retry_task_id
    wait_for_success(retry_id)
    notification.refresh_from_db()
    assert (notification.status, notification.task_id) == ("sent", retry_id)
    assert [message.to for message in mail.outbox] == [["alice@example.com"]]
    original_page = client.get(reverse("operations-task", args=[original])).content.decode()
    retry_page = client.get(reverse("operations-task", args=[retry_id])).content.decode()
    assert f'id="retried-as" href="{reverse("operations-task", args=[retry_id])}"' in original_page
    assert f'id="retry-of" href="{reverse("operations-task", args=[original])}"' in retry_page
    assert 'id="retry-button"' not in original_page  # retried once, not again


@pytest.mark.django_db(transaction=True)
def test_the_worker_records_the_queue_the_retries_and_the_exact_arguments(celery_worker):
    # given: a call whose arguments Celery's repr cuts (1,024 characters)
    ids = list(range(100_000, 100_400))

    # when: it fails transiently, is retried once by the task class, and gives up
    task_id = always_busy.apply_async([ids], {"label": "chunk"}).id
    result = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status=states.FAILURE).first(),
        what="the task to give up",
    )

    # then
    view = selectors.task_view_get(task_id=task_id)
    assert (view.queue, view.retries) == ("default", 1)
    assert (view.args, view.kwargs) == ([ids], {"label": "chunk"})
    assert "..." in celery_app.backend.decode_content(result, result.task_args)
    assert view.error == "ProviderBusy: provider busy (400 ids, chunk)"
    assert celery_app.AsyncResult(task_id).queue == "default"


@pytest.mark.django_db(transaction=True)
def test_revoke_stops_a_waiting_task_from_running(client, staff_user, celery_worker):
    # given: a task waiting for its countdown in the worker
    discarded = []

    def on_revoked(request=None, **kwargs):
        discarded.append(request.id)

    task_revoked.connect(on_revoked)
    try:
        task_id = enqueue(demo_task, kwargs={"seconds": 0}, user=staff_user, countdown=3)
        client.force_login(staff_user)
        page = client.get(reverse("operations-task", args=[task_id])).content.decode()
        assert 'id="revoke-button"' in page

        # when
        response = client.post(
            reverse("operations-task-action", args=[task_id, "revoke"]), follow=True
        )
        # (the worker handles control commands in order: once it answers, it has the revoke)
        assert celery_app.control.ping(destination=[celery_worker.hostname], timeout=5)

        # then: REVOKED at once, with the task's name and who revoked it ...
        assert messages_of(response) == [f"Revoked {DEMO}[{task_id}]: no worker will start it."]
        view = selectors.task_view_get(task_id=task_id)
        assert (view.state, view.name) == (states.REVOKED, DEMO)
        assert view.error == "TaskRevokedError: Revoked by carol"
        # ... and the worker drops the message when its time comes
        wait_for(lambda: task_id in discarded, what="the worker to discard the revoked task")
    finally:
        task_revoked.disconnect(on_revoked)
    # ... and the worker's own REVOKED ("revoked") as it drops it leaves who revoked it
    stored = TaskResult.objects.get(task_id=task_id)
    assert (stored.status, stored.task_name, stored.date_started) == (states.REVOKED, DEMO, None)
    assert selectors.task_view_get(task_id=task_id).error == "TaskRevokedError: Revoked by carol"


@pytest.fixture
def default_queue_worker(transactional_db, celery_worker, tmp_path):
    """A prefork worker process on ``default`` (only prefork can stop a running task);
    the session's in-process worker lets go of the queue meanwhile."""
    me = [celery_worker.hostname]
    celery_app.control.cancel_consumer("default", destination=me, reply=True)
    worker = WorkerProcess(
        tmp_path / "default.log", concurrency=1, name="console-test", queues="default"
    )
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
        print(f"--- worker log, exit code {worker.process.returncode} ---\n{worker.log()}")
        celery_app.control.add_consumer("default", destination=me, reply=True)


@pytest.mark.django_db(transaction=True)
def test_terminate_stops_a_running_task_on_a_prefork_worker(
    client, staff_user, default_queue_worker
):
    # given: a demo task running for 10 s in the worker's one pool process
    task_id = demo_task.apply_async(kwargs={"seconds": 10}).id
    wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status=states.STARTED).exists(),
        what="the task to start",
    )
    [pool_process] = default_queue_worker.children()
    client.force_login(staff_user)

    # when: Terminate, confirmed
    response = client.post(
        reverse("operations-actions"),
        {"action": "terminate", "task_id": [task_id], "confirmed": "1"},
        follow=True,
    )

    # then: the process is stopped and replaced, the task recorded REVOKED (terminated)
    assert messages_of(response)[0].startswith(f"Asked the worker running {DEMO}[{task_id}]")
    stored = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status=states.REVOKED).first(),
        what="the task to be recorded REVOKED",
    )
    assert selectors.task_view_get(task_id=task_id).error == "TaskRevokedError: terminated"
    assert stored.task_name == DEMO
    wait_for(
        lambda: default_queue_worker.children() not in ([], [pool_process]),
        what="a new pool process",
    )
    assert f"Terminating {task_id}" in default_queue_worker.log()
