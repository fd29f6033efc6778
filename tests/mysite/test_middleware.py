import json

import pytest
from django.test import Client
from django.urls import reverse

from mysite.enqueue import BrokerUnavailable
from mysite.middleware import MESSAGE, BrokerUnavailableMiddleware


def never_called(request):
    raise AssertionError("the view should not run")


@pytest.mark.parametrize(
    ("path", "accept"),
    [("/dashboard/", "text/html,application/xhtml+xml"), ("/images/upload/", "*/*")],
)
def test_pages_get_a_503_page_with_the_message(rf, path, accept):
    request = rf.post(path, headers={"accept": accept})

    response = BrokerUnavailableMiddleware(never_called).process_exception(
        request, BrokerUnavailable("down")
    )

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert MESSAGE in response.content.decode()


@pytest.mark.parametrize(
    ("path", "accept"), [("/api/anything/", "text/html"), ("/dashboard/", "application/json")]
)
def test_api_and_json_clients_get_503_json(rf, path, accept):
    request = rf.post(path, headers={"accept": accept})

    response = BrokerUnavailableMiddleware(never_called).process_exception(
        request, BrokerUnavailable("down")
    )

    assert response.status_code == 503
    assert json.loads(response.content)["error"]["message"] == MESSAGE


def test_other_errors_are_left_alone(rf):
    middleware = BrokerUnavailableMiddleware(never_called)

    assert middleware.process_exception(rf.get("/"), ValueError("x")) is None


@pytest.mark.django_db
def test_api_post_without_csrf_token_is_403_json(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(
        reverse("api-v1:task-demo"), {"seconds": 0}, content_type="application/json"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
