import json
import uuid
from datetime import timedelta

import pytest
from celery import states
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from mysite.api.errors import ApiError
from mysite.api.tasks import task_id_normal
from mysite.celery import app as celery_app
from mysite.errors import RETRY_AFTER_DEFAULT
from mysite.models import UserTask
from tests.helpers.properties import BOUNDED
from tests.helpers.services import wait_for

pytestmark = pytest.mark.django_db


def status_url(task_id: str) -> str:
    return reverse("api-v1:task-get", args=[task_id])


def started_by(user, *, name="mysite.tasks.demo_task") -> str:
    task_id = str(uuid.uuid4())
    UserTask.objects.create(task_id=task_id, task_name=name, user=user)
    return task_id


def test_anonymous_gets_401_json(client):
    response = client.get(status_url(str(uuid.uuid4())))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("task_id", ["not-a-uuid", "1' OR '1'='1", "x" * 300])
def test_malformed_id_is_404(client, user, task_id):
    client.force_login(user)

    response = client.get(status_url(task_id))

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "Unknown task.",
        "fields": {},
    }


def test_unknown_id_is_404_not_pending(client, staff_user):
    client.force_login(staff_user)

    response = client.get(status_url(str(uuid.uuid4())))

    assert response.status_code == 404


def test_owner_sees_pending_before_the_worker_stores_anything(client, user):
    task_id = started_by(user)
    client.force_login(user)

    response = client.get(status_url(task_id))

    assert response.status_code == 200
    assert response.json() == {
        "id": task_id,
        "state": "PENDING",
        "result": None,
        "error": None,
        "date_done": None,
    }


def test_another_users_task_is_404_but_staff_see_it(client, user, other_user, staff_user):
    task_id = started_by(user)
    celery_app.backend.mark_as_done(task_id, {"ok": True})

    client.force_login(other_user)
    assert client.get(status_url(task_id)).status_code == 404

    client.force_login(staff_user)
    response = client.get(status_url(task_id))
    assert response.status_code == 200
    assert response.json()["result"] == {"ok": True}


def test_staff_see_tasks_nobody_started_from_the_web(client, user, staff_user):
    task_id = str(uuid.uuid4())
    celery_app.backend.mark_as_done(task_id, 7)

    client.force_login(user)
    assert client.get(status_url(task_id)).status_code == 404
    client.force_login(staff_user)
    assert client.get(status_url(task_id)).json()["result"] == 7


def test_success_has_result_and_date_done(client, user):
    task_id = started_by(user)
    celery_app.backend.mark_as_done(task_id, {"slept": 1.0})
    client.force_login(user)

    body = client.get(status_url(task_id)).json()

    assert body["state"] == "SUCCESS"
    assert body["result"] == {"slept": 1.0}
    assert body["date_done"] is not None
    assert body["error"] is None


def test_failure_has_a_readable_error_and_no_traceback(client, user):
    task_id = started_by(user)
    try:
        raise ValueError("image is not a JPEG")
    except ValueError as exc:
        celery_app.backend.mark_as_failure(task_id, exc, traceback="Traceback (most recent...")
    client.force_login(user)

    body = client.get(status_url(task_id)).json()

    assert body["state"] == "FAILURE"
    assert body["error"] == "ValueError: image is not a JPEG"
    assert body["result"] is None
    assert "Traceback" not in str(body)


def test_started_has_no_result_and_no_date_done(client, user):
    task_id = started_by(user)
    celery_app.backend.store_result(task_id, {"pid": 1, "hostname": "w"}, states.STARTED)
    client.force_login(user)

    body = client.get(status_url(task_id)).json()

    assert body == {
        "id": task_id,
        "state": "STARTED",
        "result": None,
        "error": None,
        "date_done": None,
    }


def test_expired_task_is_404_not_pending(client, user):
    task_id = started_by(user)
    UserTask.objects.filter(task_id=task_id).update(created_at=timezone.now() - timedelta(days=30))
    client.force_login(user)

    assert client.get(status_url(task_id)).status_code == 404


def test_demo_task_start_needs_login_and_post(client, user):
    url = reverse("api-v1:task-demo")
    assert client.post(url, {}, content_type="application/json").status_code == 401
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("seconds", "message"),
    [("abc", "valid number"), (-1, "greater than or equal to 0"), (11, "less than or equal to 10")],
)
def test_demo_task_start_refuses_bad_seconds(client, user, seconds, message):
    client.force_login(user)

    response = client.post(
        reverse("api-v1:task-demo"), {"seconds": seconds}, content_type="application/json"
    )

    assert response.status_code == 400
    assert message in response.json()["error"]["fields"]["seconds"][0]
    assert UserTask.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_demo_task_moves_pending_started_success(client, user, celery_worker):
    # given
    client.force_login(user)

    # when
    response = client.post(
        reverse("api-v1:task-demo"), {"seconds": 1}, content_type="application/json"
    )

    # then: accepted, and the status URL walks through the states in order
    assert response.status_code == 202
    body = response.json()
    seen = []

    def reached_success():
        state = client.get(body["status_url"]).json()["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == "SUCCESS"

    wait_for(reached_success, what="demo task SUCCESS")
    assert body["status_url"] == status_url(body["task_id"])
    assert seen[-2:] == ["STARTED", "SUCCESS"]
    assert set(seen) <= {"PENDING", "STARTED", "SUCCESS"}
    final = client.get(body["status_url"]).json()
    assert final["result"] == {"slept": 1.0}


@pytest.mark.django_db(transaction=True)
def test_demo_task_start_with_the_broker_down_is_503_json(client, user, broker_down):
    client.force_login(user)

    response = client.post(
        reverse("api-v1:task-demo"), {"seconds": 0}, content_type="application/json"
    )

    assert response.status_code == 503
    assert "task queue is unavailable" in response.json()["error"]["message"]
    assert response["Retry-After"] == str(RETRY_AFTER_DEFAULT)


def test_an_upper_case_spelling_of_my_task_id_finds_it(client, user):
    task_id = started_by(user)
    celery_app.backend.mark_as_done(task_id, 1)
    client.force_login(user)

    response = client.get(status_url(task_id.upper()))

    assert response.status_code == 200
    assert response.json()["id"] == task_id


def test_task_list_is_mine_newest_first_paged_to_the_end(client, user, other_user):
    mine = [started_by(user) for _ in range(5)]
    started_by(other_user)
    celery_app.backend.mark_as_done(mine[0], 1)
    client.force_login(user)

    seen, url, pages = [], reverse("api-v1:task-list") + "?limit=2", 0
    while url:
        body = client.get(url).json()
        assert body["count"] == 5
        seen += body["items"]
        url, pages = body["next"], pages + 1

    assert pages == 3
    assert [item["id"] for item in seen] == mine[::-1]
    states_by_id = {item["id"]: item["state"] for item in seen}
    assert states_by_id[mine[0]] == "SUCCESS"
    assert states_by_id[mine[1]] == "PENDING"
    assert seen[0]["name"] == "mysite.tasks.demo_task"


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "offset=-1", "limit=x", "offset=1e9"])
def test_task_list_refuses_bad_paging_with_the_field_named(client, user, query):
    client.force_login(user)

    response = client.get(reverse("api-v1:task-list") + "?" + query)

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {query.split("=")[0]}


@pytest.mark.parametrize(
    "path", ["/api/tasks/..%2f..%2fetc%2fpasswd/", "/api/v1/nothing-here", "/api/v1/tasks/a/b/c"]
)
def test_every_api_404_is_the_json_error_body(client, user, path):
    client.force_login(user)

    response = client.get(path)

    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Not found.", "fields": {}}


def test_a_wrong_method_is_a_json_405_with_allow(client, user):
    client.force_login(user)

    response = client.delete(reverse("api-v1:task-list"))

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_a_bug_under_api_is_a_json_500(rf):
    from mysite.views import server_error

    response = server_error(rf.get("/api/v1/tasks/"))

    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "server_error"


def test_docs_page_is_served_from_our_own_static_files(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<script src="/static/ninja/swagger-ui-bundle.js">' in page
    assert "cdn" not in page.lower()
    assert "//" not in page.replace("http://www.w3.org", "")  # nothing from another host


def test_schema_documents_every_operation_with_its_errors(client):
    schema = client.get("/api/v1/openapi.json").json()

    assert schema["openapi"].startswith("3.")
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 3
    for path, method, operation in operations:
        assert {"400", "401", "429"} <= set(operation["responses"]), (path, method)
        assert operation.get("security"), (path, method)
    schemes = schema["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} >= {"http", "apiKey"}


def test_a_body_over_the_upload_limit_is_a_json_413(client, user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(user)

    response = client.post(
        reverse("api-v1:task-demo"),
        json.dumps({"seconds": 1, "padding": "x" * 2000}),
        content_type="application/json",
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert UserTask.objects.count() == 0


@BOUNDED
@given(
    st.one_of(
        st.uuids().map(str),
        st.uuids().map(lambda value: str(value).upper()),
        st.uuids().map(lambda value: value.hex),
        st.text(max_size=60),
    )
)
def test_a_task_id_is_one_uuid_in_one_spelling_or_a_404(value):
    try:
        normal = task_id_normal(value)
    except ApiError as exc:
        refusal = exc
    else:
        assert normal == str(uuid.UUID(normal))  # lower case, with hyphens
        assert normal.replace("-", "") == value.replace("-", "").strip("{}").lower()
        return
    assert refusal.status == 404
    assert refusal.message == "Unknown task."
