import pytest
from django.db import connection
from django.urls import reverse

from tests.helpers.services import closed_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_services(client, broker_down):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_database_and_broker_answer(client):
    response = client.get(reverse("readyz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_readyz_names_the_broker_when_it_is_down(client, broker_down):
    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["broker"]
    assert body["database"] == "ok"
    assert "refused" in body["broker"].lower() or "connect" in body["broker"].lower()


@pytest.mark.django_db(transaction=True)  # no test transaction to hold the connection open
def test_readyz_names_the_database_when_it_is_down(client, monkeypatch):
    # given: the database connection points where no database is
    connection.close()
    if connection.vendor == "sqlite":
        monkeypatch.setitem(connection.settings_dict, "NAME", "/nonexistent/dir/db.sqlite3")
    else:
        monkeypatch.setitem(connection.settings_dict, "PORT", str(closed_port()))

    # when
    try:
        response = client.get(reverse("readyz"))
    finally:
        connection.close()
        monkeypatch.undo()

    # then
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
