"""Reports through the pages, the admin, the commands and the real worker."""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from mysite.enqueue import enqueue
from mysite.schedules import project_schedules
from reports.models import Order, Report
from reports.tasks import generate_sales_report
from tests.helpers.services import wait_for

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "sam", password="sam-password-1", is_staff=True, is_superuser=True
    )


def yesterday_noon() -> datetime:
    local = timezone.localtime()
    return (local - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)


def wait_ready(report_id: int) -> Report:
    return wait_for(
        lambda: Report.objects.filter(pk=report_id, status__in=["ready", "failed"]).first(),
        what=f"report {report_id} to finish",
    )


@pytest.mark.django_db
def test_reports_are_for_staff(client, user):
    assert client.get(reverse("reports:list")).status_code == 302
    client.force_login(user)
    assert client.get(reverse("reports:list")).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"period": "yearly"},
            "Select a valid choice. yearly is not one of the available choices.",
        ),
        ({"period": "monthly", "start": "2026-13-01"}, "Enter a valid date."),
        ({"period": "custom", "start": "2026-05-02", "end": "2026-05-01"}, "is after the end date"),
        ({"period": "daily", "start": "2999-01-01"}, "after today"),
        (
            {"period": "custom", "start": "2020-01-01", "end": "2026-01-01"},
            "at most 366 are allowed",
        ),
        ({"period": "custom", "start": "2026-01-01"}, "needs a start date and an end date"),
        ({"period": "weekly", "start": "9999-12-31"}, "9999-12-31 is after today"),
        ({"period": "weekly", "start": "0001-01-01"}, "0001-01-01 is before 1970-01-01"),
    ],
)
def test_generate_form_refuses_bad_input_and_queues_nothing(client, staff, data, message):
    client.force_login(staff)

    response = client.post(reverse("reports:list"), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Report.objects.count() == 0


def a_past(weekday: int) -> date:
    """A day of that weekday (0: Monday) at least two weeks back: its week is complete."""
    day = timezone.localdate() - timedelta(days=14)
    return day - timedelta(days=(day.weekday() - weekday) % 7)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("period", "start", "note"),
    [
        (
            "weekly",
            a_past(2),
            "Wednesday {start} is in the week of Monday {first} to Sunday {last}: "
            "the report covers that week.",
        ),
        (
            "monthly",
            date(2026, 1, 15),
            "2026-01-15 is in January 2026: the report covers {first} to {last}.",
        ),
    ],
)
def test_a_start_inside_the_period_is_said_not_silently_moved(client, staff, period, start, note):
    client.force_login(staff)

    response = client.post(reverse("reports:list"), {"period": period, "start": start}, follow=True)

    report = Report.objects.get()
    assert response.redirect_chain == [(report.get_absolute_url(), 302)]
    assert report.start_date <= start <= report.end_date
    expected = note.format(start=start, first=report.start_date, last=report.end_date)
    assert [str(m) for m in response.context["messages"]] == [expected]


@pytest.mark.django_db
def test_a_start_on_the_periods_first_day_needs_no_note(client, staff):
    client.force_login(staff)

    response = client.post(
        reverse("reports:list"), {"period": "weekly", "start": a_past(0)}, follow=True
    )

    assert Report.objects.get().start_date == a_past(0)
    assert list(response.context["messages"]) == []


@pytest.mark.django_db(transaction=True)
def test_generate_from_the_page_through_the_worker(client, staff, celery_worker):
    # given: yesterday's sales
    Order.objects.create(created_at=yesterday_noon(), amount=Decimal("12.50"), channel="web")
    Order.objects.create(created_at=yesterday_noon(), amount=Decimal("7.50"), channel="store")
    client.force_login(staff)

    # when
    response = client.post(reverse("reports:list"), {"period": "daily"})

    # then: the detail page, and the report made by the worker
    report = Report.objects.get()
    assert response.status_code == 302
    assert response.url == report.get_absolute_url()
    report = wait_ready(report.pk)
    assert report.status == "ready", report.error
    assert report.summary["total_sales"] == "20.00"
    assert report.summary["orders"] == 2
    page = client.get(response.url).content.decode()  # it polls the API with the session
    status_url = reverse("api-v1:report-get", args=[report.pk])
    assert f'data-status-url="{status_url}"' in page
    status = client.get(status_url).json()
    assert status["status"] == "ready"
    csv_response = client.get(reverse("reports:csv", args=[report.pk]))
    assert csv_response["Content-Disposition"].startswith("attachment; ")
    csv = b"".join(csv_response.streaming_content)
    assert csv.decode().splitlines()[1].endswith(",2,20.00,20.00")
    chart = client.get(reverse("reports:chart", args=[report.pk]))
    assert chart["Content-Disposition"].startswith("inline; ")  # the page's <img>
    assert b"".join(chart.streaming_content)[:4] == b"\x89PNG"
    chart_download = client.get(reverse("reports:chart", args=[report.pk]) + "?download")
    assert chart_download["Content-Disposition"].startswith("attachment; ")  # its download link
    assert f'href="{chart_download.request["PATH_INFO"]}?download"' in page

    # the summary: totals, then each channel under its own heading
    assert '<h3>Totals</h3>\n    <table id="totals">' in page
    assert "<h3>By channel</h3>" in page
    assert page.index('id="totals"') < page.index('id="by-channel"')
    assert '<tr data-channel="store"><th scope="row">store</th>' in page


@pytest.mark.django_db(transaction=True)
def test_beat_style_call_without_dates_reports_the_previous_period(celery_worker):
    Order.objects.create(created_at=yesterday_noon(), amount=Decimal("3.00"), channel="web")

    enqueue(generate_sales_report, kwargs={"period": "daily"})

    report = wait_for(lambda: Report.objects.filter(status="ready").first(), what="report")
    yesterday = timezone.localdate() - timedelta(days=1)
    assert (report.period, report.start_date, report.end_date) == ("daily", yesterday, yesterday)
    assert report.summary["total_sales"] == "3.00"


@pytest.mark.django_db(transaction=True)
def test_generate_report_command_waits_and_prints_the_summary(celery_worker, capsys):
    Order.objects.create(created_at=yesterday_noon(), amount=Decimal("5.00"), channel="web")

    call_command("generate_report", "--period", "daily", "--wait")

    out = capsys.readouterr().out
    assert "queued" in out
    assert "ready: 1 orders, 5.00 in sales." in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "hourly"], "Unknown period 'hourly'"),
        (["--period", "monthly", "--start", "01/10/2026"], "'01/10/2026' is not a date"),
        (["--period", "custom", "--start", "2026-05-02", "--end", "2026-05-01"], "after the end"),
        (["--period", "daily", "--start", "2999-01-01"], "after today"),
        (["--period", "custom", "--start", "2020-01-01", "--end", "2026-01-01"], "at most 366"),
        # Regressions: an OverflowError traceback; queued, then failed in matplotlib.
        (["--period", "weekly", "--start", "9999-12-31"], "9999-12-31 is after today"),
        (["--period", "weekly", "--start", "0001-01-01"], "0001-01-01 is before 1970-01-01"),
        (["--period", "monthly", "--start", "9999-12-01"], "is after today"),
        (["--period", "custom", "--start", "2026-01-01", "--end", "9999-12-31"], "after today"),
        (["--period", "daily", "--start", "20260101"], "'20260101' is not a date"),
        (
            ["--period", "daily", "--start", "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661"],
            "is not a date",
        ),
        (["--period", "daily", "--start", ""], "'' is not a date"),
    ],
)
def test_generate_report_command_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_report", *args)

    assert Report.objects.count() == 0


@pytest.mark.django_db
def test_the_list_page_is_paginated(client, staff):
    for n in range(60):
        Report.objects.create(
            period="daily",
            start_date=date(2026, 1, 1) + timedelta(days=n),
            end_date=date(2026, 1, 1) + timedelta(days=n),
        )
    client.force_login(staff)

    first = client.get(reverse("reports:list"))
    second = client.get(reverse("reports:list"), {"page": "2"})

    assert [r.start_date for r in first.context["page"]][:1] == [date(2026, 3, 1)]
    assert len(first.context["page"]) == 50
    assert 'href="?page=2"' in first.content.decode()
    assert [r.start_date for r in second.context["page"]][-1:] == [date(2026, 1, 1)]
    assert len(second.context["page"]) == 10


@pytest.mark.django_db
def test_seed_orders_loads_the_count_with_progress(capsys):
    call_command("seed_orders", "--count", "2500", "--days", "30", "--batch", "1000", "--seed", "3")

    out = capsys.readouterr().out
    assert Order.objects.count() == 2500
    assert "1,000/2,500" in out
    assert "2,500 orders added over 30 days." in out
    oldest = Order.objects.earliest("created_at").created_at
    assert oldest >= timezone.now() - timedelta(days=30, minutes=1)


@pytest.mark.django_db
def test_seed_orders_if_empty_adds_nothing_to_existing_orders(capsys):
    call_command("seed_orders", "--count", "10")

    call_command("seed_orders", "--count", "10", "--if-empty")

    assert Order.objects.count() == 10
    assert "There are orders already; nothing added." in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "--count must be between 1 and"),
        (["--count", "10000001"], "--count must be between 1 and 10,000,000"),
        (["--days", "0"], "--days must be between"),
        # Regressions: numpy's ValueError traceback; Unicode digits taken as numbers.
        (["--seed", "-1"], "'-1' is not a whole number"),
        (["--count", "٣"], "'٣' is not a whole number"),
        (["--days", "²"], "'²' is not a whole number"),
        (["--batch", "1e3"], "'1e3' is not a whole number"),
    ],
)
def test_seed_orders_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_orders", *args)


@pytest.mark.django_db
def test_setup_schedules_is_idempotent_and_keeps_staff_edits(capsys, settings):
    call_command("setup_schedules")
    daily = PeriodicTask.objects.get(name="Daily sales report")
    daily.enabled = False
    daily.save()

    call_command("setup_schedules")

    out = capsys.readouterr().out
    assert out.count("created") == len(project_schedules()) == 8
    assert out.count("exists") == len(project_schedules())
    assert PeriodicTask.objects.filter(name__endswith="report").count() == 3
    daily.refresh_from_db()
    assert daily.enabled is False
    assert json.loads(daily.kwargs) == {"period": "daily"}
    assert daily.args == "[]"
    crontab = daily.crontab
    assert (crontab.minute, crontab.hour, str(crontab.timezone)) == ("0", "1", settings.TIME_ZONE)
    weekly = PeriodicTask.objects.get(name="Weekly sales report").crontab
    monthly = PeriodicTask.objects.get(name="Monthly sales report").crontab
    assert (weekly.hour, weekly.day_of_week) == ("2", "0")
    assert (monthly.hour, monthly.day_of_month) == ("3", "1")
    cleanup = PeriodicTask.objects.get(name="Prune task results")
    assert (cleanup.task, cleanup.crontab.hour) == ("mysite.tasks.prune_results", "4")
    assert not PeriodicTask.objects.filter(task="celery.backend_cleanup").exists()


@pytest.mark.django_db
def test_admin_refuses_an_invalid_crontab(client, staff):
    client.force_login(staff)

    response = client.post(
        reverse("admin:django_celery_beat_crontabschedule_add"),
        {
            "minute": "99",
            "hour": "1",
            "day_of_week": "*",
            "day_of_month": "*",
            "month_of_year": "*",
            "timezone": "Europe/Berlin",
        },
    )

    assert response.status_code == 200  # the form again, with its error
    assert "errornote" in response.content.decode()
    assert CrontabSchedule.objects.filter(minute="99").count() == 0


@pytest.mark.django_db
def test_admin_regenerate_action_queues_the_reports(
    client, staff, django_capture_on_commit_callbacks
):
    report = Report.objects.create(
        period="monthly", start_date=date(2026, 9, 1), end_date=date(2026, 9, 30), status="ready"
    )
    client.force_login(staff)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("admin:reports_report_changelist"),
            {"action": "regenerate", "_selected_action": [report.pk]},
        )

    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == "pending"
    assert report.task_id
    assert len(callbacks) == 1
