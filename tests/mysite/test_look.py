"""The one look's pieces that need no browser: formats, money, the badge mapping."""

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery import states
from django.conf import settings
from django.template import Context, Template

from images.models import Image
from mysite.templatetags.look import money, when
from notifications.models import Notification
from payments.models import Payment
from reports.models import Report

SITE_CSS = Path(settings.BASE_DIR) / "mysite" / "static" / "mysite" / "site.css"


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("67176.32"), "EUR", "67,176.32 EUR"),
        ("1234.5", "USD", "1,234.50 USD"),
        (Decimal("-12.50"), "EUR", "-12.50 EUR"),
        ("0", "", "0.00"),
        (None, "EUR", "—"),
        ("", "EUR", "—"),
        ("n/a", "EUR", "n/a"),
    ],
)
def test_money_has_separators_two_decimals_and_the_currency(amount, currency, shown):
    assert money(amount, currency) == shown


def test_dates_are_iso_on_pages_in_the_site_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    moment = datetime(2026, 11, 1, 13, 5, 9, tzinfo=ZoneInfo("UTC"))

    page = Template(
        "{{ day }}|{{ day|date }}|{{ moment|date:'DATETIME_FORMAT' }}|{{ moment|when }}"
        "|{{ moment|when:'seconds' }}|{{ none|when|default:'never' }}"
    ).render(Context({"day": date(2026, 11, 1), "moment": moment, "none": None}))

    assert page.split("|") == [
        "2026-11-01",
        "2026-11-01",
        "2026-11-01 14:05",
        '<time datetime="2026-11-01T14:05:09+01:00">2026-11-01 14:05</time>',
        '<time datetime="2026-11-01T14:05:09+01:00">2026-11-01 14:05:09</time>',
        "never",
    ]


def test_when_shows_a_plain_date_too():
    assert when(date(2026, 3, 9)) == '<time datetime="2026-03-09">2026-03-09</time>'


def badge_groups() -> dict[str, str]:
    """Each ``.state-<status>`` class of site.css and the meaning its rule gives it."""
    groups = {}
    for rule in re.findall(r"^(\.state-[^{]+)\{([^}]*)\}", SITE_CSS.read_text(), re.M):
        selectors, body = rule
        found = re.search(r"background: var\(--(\w+)-bg\)", body)
        assert found, f"{selectors} has no background role"
        meaning = found.group(1)
        for selector in selectors.split(","):
            status = selector.strip().removeprefix(".state-")
            assert status not in groups, f"{status} is in two badge rules"
            groups[status] = meaning
    return groups


def test_every_status_has_a_badge_colour_by_its_meaning():
    groups = badge_groups()
    every = {
        *Image.Status.values,
        *Payment.Status.values,
        *Report.Status.values,
        *Notification.Status.values,
        *(state.lower() for state in states.ALL_STATES),
        "active",  # an API token's
        "error",  # the dashboard's, when the demo could not start
    }

    assert sorted(every - groups.keys()) == []
    assert {status: groups[status] for status in ("completed", "ready", "sent", "success")} == {
        "completed": "done",
        "ready": "done",
        "sent": "done",
        "success": "done",
    }
    assert {groups[status] for status in ("processing", "started", "running")} == {"running"}
    assert {groups[status] for status in ("failed", "failure", "revoked")} == {"failed"}
    assert {groups[status] for status in ("queued", "pending", "received")} == {"waiting"}
