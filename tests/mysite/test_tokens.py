"""API tokens: the settings page, the admin, ``create_api_token``, and what a
token does on ``/api/v1/`` (no CSRF, 401 once revoked, last used, throttled)."""

import hashlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mysite.models import ApiToken
from mysite.tokens import token_create, token_revoke
from tests.helpers.deploy import ROOT
from tests.helpers.services import database_url, require

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks/"
BAD_NAMES = ["", "   ", "x" * 101, "tab\there", "bell\x07"]


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def created_token(response) -> str:
    return response.context["raw_token"]


# The settings page -------------------------------------------------------------------


def test_the_page_needs_a_login(client):
    response = client.get(reverse("api-tokens"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_header_links_the_page(client, user):
    client.force_login(user)

    page = client.get(reverse("dashboard")).content.decode()

    assert f'href="{reverse("api-tokens")}" id="tokens-link"' in page


def test_a_created_token_is_shown_once_stored_hashed_and_works(client, user):
    client.force_login(user)

    # when
    response = client.post(reverse("api-tokens"), {"name": "  backup script "})

    # then: shown in this answer, which no cache keeps, with the warning
    assert response.status_code == 200
    raw = created_token(response)
    page = response.content.decode()
    assert f'<code class="mono" id="new-token">{raw}</code>' in page
    assert "it will not be shown again" in page
    assert "no-store" in response["Cache-Control"]
    # only its hash and prefix are stored
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (user, "backup script")
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(token.prefix)
    assert len(token.prefix) < len(raw)
    assert raw not in json.dumps(list(ApiToken.objects.values()), default=str)
    # never again: the list shows the prefix only
    again = client.get(reverse("api-tokens")).content.decode()
    assert raw not in again
    assert f"{token.prefix}…" in again
    # and it works for a program
    assert Client().get(TASKS, headers=bearer(raw)).status_code == 200


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_name_is_a_form_error_and_makes_nothing(client, user, name):
    client.force_login(user)

    response = client.post(reverse("api-tokens"), {"name": name})

    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert response.context["raw_token"] is None
    assert not ApiToken.objects.exists()


def test_the_list_shows_my_tokens_only_and_which_are_revoked(client, user, other_user):
    mine, _ = token_create(user=user, name="laptop")
    old, _ = token_create(user=user, name="old server")
    token_revoke(token=old)
    token_create(user=other_user, name="bob's")
    client.force_login(user)

    page = client.get(reverse("api-tokens")).content.decode()

    assert "laptop" in page
    assert "old server" in page
    assert "bob&#x27;s" not in page
    assert page.count("state-revoked") == 1
    assert page.count('class="revoke"') == 1  # only the live one can be revoked
    assert f'data-token-id="{mine.pk}"' in page


def test_revoke_asks_first_then_the_token_gets_401(client, user):
    token, raw = token_create(user=user, name="ci")
    client.force_login(user)
    url = reverse("api-token-revoke", args=[token.pk])
    assert Client().get(TASKS, headers=bearer(raw)).status_code == 200

    # when: the first POST asks for a confirmation, and revokes nothing
    asked = client.post(url)
    assert asked.status_code == 200
    assert 'name="confirmed"' in asked.content.decode()
    token.refresh_from_db()
    assert token.is_active

    # when: confirmed
    response = client.post(url, {"confirmed": "1"})

    # then
    assert response.status_code == 302
    assert response.url == reverse("api-tokens")
    token.refresh_from_db()
    assert not token.is_active
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Revoked {token}: programs using it now get 401."
    ]
    refused = Client().get(TASKS, headers=bearer(raw))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("pk", ["other", 10**30])
def test_another_users_or_an_unknown_token_is_404(client, user, other_user, pk):
    theirs, raw = token_create(user=other_user, name="bob's")
    client.force_login(user)
    pk = theirs.pk if pk == "other" else pk

    response = client.post(reverse("api-token-revoke", args=[pk]), {"confirmed": "1"})

    assert response.status_code == 404
    assert Client().get(TASKS, headers=bearer(raw)).status_code == 200


def test_revoke_is_post_only(client, user):
    token, _ = token_create(user=user, name="ci")
    client.force_login(user)

    assert client.get(reverse("api-token-revoke", args=[token.pk])).status_code == 405


# The admin -----------------------------------------------------------------------------


def test_the_admin_lists_and_searches_tokens(admin_client, user, other_user):
    token_create(user=user, name="alice's laptop")
    token_create(user=other_user, name="bob's server")
    url = reverse("admin:mysite_apitoken_changelist")

    listed = admin_client.get(url).content.decode()
    found = admin_client.get(url, {"q": "laptop"}).content.decode()

    assert "alice&#x27;s laptop" in listed
    assert "bob&#x27;s server" in listed
    for column in ("prefix", "created at", "last used at", "revoked at"):
        assert column in listed.lower()
    assert "alice&#x27;s laptop" in found
    assert "bob&#x27;s server" not in found


def test_an_admin_added_token_is_shown_once_in_a_message_and_stored_hashed(admin_client, user):
    add = reverse("admin:mysite_apitoken_add")
    form = admin_client.get(add).content.decode()
    assert 'name="key_hash"' not in form
    assert 'name="prefix"' not in form

    response = admin_client.post(add, {"user": user.pk, "name": "deploy bot"}, follow=True)

    token = ApiToken.objects.get()
    (message,) = [str(m) for m in response.context["messages"] if "new token" in str(m)]
    raw = message.split(": ", 1)[1].split(" ", 1)[0]
    assert message.endswith("copy it now, it will not be shown again.")
    assert (token.user, token.name) == (user, "deploy bot")
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert Client().get(TASKS, headers=bearer(raw)).status_code == 200
    change = admin_client.get(reverse("admin:mysite_apitoken_change", args=[token.pk]))
    assert raw not in change.content.decode()
    assert 'name="key_hash"' not in change.content.decode()


def test_the_admin_refuses_a_bad_name(admin_client, user):
    response = admin_client.post(
        reverse("admin:mysite_apitoken_add"), {"user": user.pk, "name": "bell\x07"}
    )

    assert response.status_code == 200
    assert "control characters" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_admin_revokes_the_selected_tokens(admin_client, user):
    first, first_raw = token_create(user=user, name="one")
    second, second_raw = token_create(user=user, name="two")
    _, kept_raw = token_create(user=user, name="three")

    response = admin_client.post(
        reverse("admin:mysite_apitoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert "Revoked 2 tokens." in [str(m) for m in response.context["messages"]]
    assert Client().get(TASKS, headers=bearer(first_raw)).status_code == 401
    assert Client().get(TASKS, headers=bearer(second_raw)).status_code == 401
    assert Client().get(TASKS, headers=bearer(kept_raw)).status_code == 200


# The command ---------------------------------------------------------------------------


def test_create_api_token_prints_only_the_token(user):
    out = StringIO()

    call_command("create_api_token", "alice", "--name", "nightly export", stdout=out)

    raw = out.getvalue().strip()
    assert out.getvalue() == f"{raw}\n"
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (user, "nightly export")
    assert Client().get(TASKS, headers=bearer(raw)).status_code == 200


def test_create_api_token_has_a_default_name(user):
    call_command("create_api_token", "alice", stdout=StringIO())

    assert ApiToken.objects.get().name == "command line"


@pytest.mark.parametrize("username", ["nobody", "", "a\x00b", "x" * 500, "inactive"])
def test_create_api_token_refuses_an_unknown_user(django_user_model, username):
    django_user_model.objects.create_user("inactive", is_active=False)

    with pytest.raises(CommandError, match="No active user"):
        call_command("create_api_token", username, stdout=StringIO())
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_api_token_refuses_a_bad_name(user, name):
    with pytest.raises(CommandError, match="--name: "):
        call_command("create_api_token", "alice", "--name", name, stdout=StringIO())
    assert not ApiToken.objects.exists()


# What a token does on the API ------------------------------------------------------------


def test_a_bearer_token_needs_no_csrf_but_a_session_does(user):
    _, raw = token_create(user=user, name="script")
    demo = reverse("api-v1:task-demo")
    program = Client(enforce_csrf_checks=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    by_token = program.post(demo, {"seconds": 0}, "application/json", headers=bearer(raw))
    no_csrf = browser.post(demo, {"seconds": 0}, "application/json")
    browser.get(reverse("dashboard"))  # sets the CSRF cookie, as a page would
    csrf = browser.cookies["csrftoken"].value
    with_csrf = browser.post(
        demo, {"seconds": 0}, "application/json", headers={"X-CSRFToken": csrf}
    )

    assert by_token.status_code == 202
    assert no_csrf.status_code == 403
    assert no_csrf.json()["error"]["code"] == "forbidden"
    assert with_csrf.status_code == 202


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer revoked",
        "Bearer mysite_" + "x" * 43,  # well-formed, unknown
        "Bearer not-a-token",
        "Bearer ",
        "Bearer " + "mysite_" * 100,
        "Basic YWxpY2U6YWxpY2U=",
        "mysite_abc",
    ],
)
def test_a_revoked_unknown_or_malformed_token_is_401(client, user, authorization):
    token, raw = token_create(user=user, name="old")
    token_revoke(token=token)
    authorization = authorization.replace("revoked", raw)

    response = client.get(TASKS, headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_a_token_of_an_inactive_user_is_401(client, user):
    _, raw = token_create(user=user, name="script")
    user.is_active = False
    user.save()

    assert client.get(TASKS, headers=bearer(raw)).status_code == 401


def test_last_used_is_written_at_most_once_a_minute(client, user):
    token, raw = token_create(user=user, name="script")
    assert token.last_used_at is None

    client.get(TASKS, headers=bearer(raw))
    token.refresh_from_db()
    first = token.last_used_at
    client.get(TASKS, headers=bearer(raw))
    token.refresh_from_db()
    second = token.last_used_at
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(seconds=61))
    client.get(TASKS, headers=bearer(raw))
    token.refresh_from_db()

    assert first is not None
    assert second == first
    assert token.last_used_at > first - timedelta(seconds=61)
    assert token.last_used_at <= timezone.now()


@pytest.fixture
def small_throttle(settings):
    settings.API_THROTTLE_RATE = 0.001  # one more request every 1000 s: none in a test
    settings.API_THROTTLE_BURST = 3
    return {"API_THROTTLE_RATE": "0.001", "API_THROTTLE_BURST": "3"}


def test_the_request_past_the_burst_is_429_with_retry_after_per_token(client, user, small_throttle):
    _, raw = token_create(user=user, name="busy")
    _, other_raw = token_create(user=user, name="calm")

    answers = [client.get(TASKS, headers=bearer(raw)) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    throttled = answers[-1]
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) >= 1
    assert client.get(TASKS, headers=bearer(other_raw)).status_code == 200


SECOND_PROCESS = """
import sys, django
django.setup()
from django.test import Client
for raw in sys.argv[1:]:
    print(Client().get("/api/v1/tasks/", headers={"Authorization": "Bearer " + raw}).status_code)
"""


@pytest.mark.django_db(transaction=True)
def test_the_throttle_is_shared_by_separate_processes(client, user, settings, small_throttle):
    require(
        settings.RATE_LIMIT_REDIS_URL is not None,
        "shared buckets live in Redis (RATE_LIMIT_REDIS_URL)",
    )
    # given: this process spends a token's burst
    _, raw = token_create(user=user, name="busy")
    _, other_raw = token_create(user=user, name="calm")
    assert [client.get(TASKS, headers=bearer(raw)).status_code for _ in range(3)] == [200] * 3

    # when: another process, another Django, serves the next requests
    done = subprocess.run(  # noqa: S603  (this interpreter, our own script)
        [sys.executable, "-c", SECOND_PROCESS, raw, other_raw],
        cwd=ROOT,
        env={
            **os.environ,
            **small_throttle,
            "DATABASE_URL": database_url(connection.settings_dict),
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
            "ALLOWED_HOSTS": "testserver",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then: the same token is throttled there too; another token is not
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["429", "200"]
