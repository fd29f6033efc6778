"""``/api/v1/reports/``: staff generate, list, get and download reports with a token."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from mysite.tokens import token_create
from reports.models import Order, Report
from tests.reports.test_pages_and_commands import wait_ready, yesterday_noon

pytestmark = pytest.mark.usefixtures("media")


def bearer(user) -> dict:
    _, raw = token_create(user=user, name="test")
    return {"Authorization": f"Bearer {raw}"}


def a_report(**fields) -> Report:
    fields.setdefault("period", "daily")
    fields.setdefault("start_date", date(2026, 1, 1))
    fields.setdefault("end_date", fields["start_date"])
    return Report.objects.create(**fields)


@pytest.mark.django_db(transaction=True)
def test_staff_generate_a_report_through_the_worker_and_download_it(
    client, staff_user, celery_worker
):
    # given: yesterday's sales, and a staff member's token
    Order.objects.create(created_at=yesterday_noon(), amount=Decimal("12.50"), channel="web")
    Order.objects.create(created_at=yesterday_noon(), amount=Decimal("7.50"), channel="store")
    headers = bearer(staff_user)
    yesterday = timezone.localdate() - timedelta(days=1)

    # when: they ask for yesterday's daily report (no CSRF: a token)
    response = client.post(
        reverse("api-v1:report-generate"),
        {"period": "daily", "start": yesterday.isoformat()},
        content_type="application/json",
        headers=headers,
    )

    # then: accepted, and the report's address leads to it, made by the worker
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["period"], body["start_date"], body["status"]) == (
        "daily",
        yesterday.isoformat(),
        "pending",
    )
    assert body["task_id"]
    assert (body["summary"], body["csv_url"]) == (None, None)
    report = wait_ready(body["id"])
    assert report.status == "ready", report.error
    assert report.requested_by == staff_user
    ready = client.get(body["url"], headers=headers).json()
    assert ready["status"] == "ready"
    assert ready["summary"]["total_sales"] == "20.00"
    assert ready["row_count"] == 2

    csv = client.get(ready["csv_url"], headers=headers)
    assert csv.status_code == 200
    assert csv["Content-Type"].startswith("text/csv")
    assert csv["Content-Disposition"].startswith("attachment;")
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0] == "date,orders,sales,sales_7d_avg"
    assert lines[1] == f"{yesterday},2,20.00,20.00"

    chart = client.get(ready["chart_url"], headers=headers)
    assert chart["Content-Type"] == "image/png"
    assert chart["Content-Disposition"].startswith("attachment;")
    assert b"".join(chart.streaming_content)[:4] == b"\x89PNG"


@pytest.mark.django_db
def test_reports_are_for_staff_only(client, user):
    report = a_report(status="ready")
    headers = bearer(user)

    for response in (
        client.get(reverse("api-v1:report-list"), headers=headers),
        client.get(reverse("api-v1:report-get", args=[report.pk]), headers=headers),
        client.get(reverse("api-v1:report-csv", args=[report.pk]), headers=headers),
        client.post(
            reverse("api-v1:report-generate"),
            {"period": "daily"},
            content_type="application/json",
            headers=headers,
        ),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "forbidden",
            "message": "Only staff may do this.",
            "fields": {},
        }
    assert Report.objects.count() == 1
    assert client.get(reverse("api-v1:report-list")).status_code == 401


@pytest.mark.django_db
def test_the_list_pages_to_the_end_latest_period_first(client, staff_user):
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(5)]
    for day in days:
        a_report(start_date=day)
    headers = bearer(staff_user)

    seen, url = [], reverse("api-v1:report-list") + "?limit=2"
    while url:
        page = client.get(url, headers=headers).json()
        assert page["count"] == 5
        seen += [item["start_date"] for item in page["items"]]
        url = page["next"]

    assert seen == [day.isoformat() for day in reversed(days)]


@pytest.mark.django_db
def test_a_file_before_the_report_is_ready_is_409(client, staff_user):
    report = a_report(status="running")
    headers = bearer(staff_user)

    response = client.get(reverse("api-v1:report-csv", args=[report.pk]), headers=headers)

    assert response.status_code == 409
    assert response.json()["error"]["message"] == "The report is running: it has no file yet."
    assert (
        client.get(reverse("api-v1:report-get", args=[report.pk]), headers=headers).json()[
            "csv_url"
        ]
        is None
    )


@pytest.mark.django_db
@pytest.mark.parametrize("report_id", ["999999", "99999999999999999999999", "-1"])
def test_unknown_ids_are_json_404(client, staff_user, report_id):
    response = client.get(f"/api/v1/reports/{report_id}", headers=bearer(staff_user))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("report_id", ["²", "٣", "1e3", "x"])
def test_ids_are_ascii_digits(client, staff_user, report_id):
    response = client.get(f"/api/v1/reports/{report_id}/csv", headers=bearer(staff_user))

    assert response.status_code == 400
    assert "valid integer" in response.json()["error"]["fields"]["report_id"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"period": "weekly", "start": "9999-12-31"}, None, "9999-12-31 is after today"),
        ({"period": "weekly", "start": "0001-01-01"}, None, "0001-01-01 is before 1970-01-01"),
        ({"period": "daily", "start": "1969-12-31"}, None, "is before 1970-01-01"),
        ({"period": "custom", "start": "2026-01-01"}, None, "needs a start date and an end"),
        ({"period": "yearly"}, "period", "Input should be"),
        ({"period": "daily", "start": "2026-13-01"}, "start", "Input should be a valid date"),
        ({"period": "daily", "start": "1e400"}, "start", "Input should be a valid date"),
    ],
)
def test_bad_requests_are_400_and_queue_nothing(client, staff_user, data, field, message):
    response = client.post(
        reverse("api-v1:report-generate"),
        data,
        content_type="application/json",
        headers=bearer(staff_user),
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert message in (error["fields"][field][0] if field else error["message"])
    assert Report.objects.count() == 0
