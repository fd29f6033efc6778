"""Beat's crontabs across the two daylight-saving changes in Europe/Berlin.

The real schedule objects run on a simulated clock: django-celery-beat's
``ModelEntry`` for a ``PeriodicTask`` row, whose ``TzAwareCrontab`` and
"now" read the clock. The loop does what beat's tick does: ask each entry
``is_due()``, send the due ones (``next(entry)`` records the run, and it is
saved as beat's sync saves it), then sleep until the next check, at most
beat's ``max_interval`` (5 s for the DatabaseScheduler). A variant restarts
beat every few minutes, so ``last_run_at`` comes back from the database.

On 2026-03-29 clocks go from 02:00 to 03:00 (02:30 never happens); on
2026-10-25 from 03:00 back to 02:00 (02:30 happens twice). Celery reads a
wall time that does not exist with the offset before the change (PEP 495,
fold=0): 02:30 is sent at 03:30 CEST, 02:00 at 03:00 CEST, once each; a
wall time that happens twice is sent at its first occurrence only.
"""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from mysite.celery import app as celery_app
from mysite.schedules import schedules_install
from reports import services
from reports.models import Report

BERLIN = ZoneInfo("Europe/Berlin")
BEAT_MAX_INTERVAL = 5.0  # seconds: DatabaseScheduler's default


class Clock:
    """The simulated time, in UTC; ``now()`` as beat sees it (the app's zone)."""

    def __init__(self, start: datetime):
        self.utc = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.utc.astimezone(celery_app.timezone)


def entry_class(clock: Clock) -> type[ModelEntry]:
    class SimulatedEntry(ModelEntry):
        def __init__(self, model, app=None):
            super().__init__(model, app=celery_app)
            self.schedule.nowfun = clock.now  # the crontab's "now"

        def _default_now(self):  # the entry's "now": last_run_at of a run
            return clock.now()

    return SimulatedEntry


def beat_run(
    names: list[str], *, start: datetime, end: datetime, restart_every: timedelta | None = None
) -> list[tuple[str, str]]:
    """(name, local time) of every run beat sends from ``start`` to ``end``."""
    clock = Clock(start)
    entry = entry_class(clock)
    models = list(PeriodicTask.objects.filter(name__in=names).order_by("name"))
    assert [model.name for model in models] == sorted(names)
    for model in models:  # a beat that has been running: nothing owed at the start
        model.last_run_at = start
        model.save()
    entries = [entry(model) for model in models]
    sent = []
    restart_at = clock.utc + restart_every if restart_every else None  # UTC: elapsed time
    while clock.utc < end:
        delays = [BEAT_MAX_INTERVAL]
        for index, current in enumerate(entries):
            due, delay = current.is_due()
            if due:
                sent.append((current.name, clock.now().isoformat()))
                entries[index] = next(current)
                entries[index].save()
            delays.append(delay)
        if restart_at and restart_every and clock.utc >= restart_at:
            entries = [entry(PeriodicTask.objects.get(pk=e.model.pk)) for e in entries]
            restart_at += restart_every
        clock.utc += timedelta(seconds=max(min(delays), 0.5))
    return sent


def half_past_two() -> str:
    crontab = CrontabSchedule.objects.create(minute="30", hour="2", timezone="Europe/Berlin")
    PeriodicTask.objects.create(
        name="Half past two", task="mysite.tasks.demo_task", crontab=crontab, kwargs="{}"
    )
    return "Half past two"


@pytest.mark.django_db
@pytest.mark.parametrize("restart_every", [None, timedelta(minutes=10)], ids=["up", "restarts"])
@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # spring forward: 02:30 does not exist; sent once, at 03:30 CEST
        (
            datetime(2026, 3, 28, 12, tzinfo=BERLIN),
            ["2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
        # fall back: 02:30 happens twice; sent once, at the first (CEST)
        (
            datetime(2026, 10, 24, 12, tzinfo=BERLIN),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
@pytest.mark.slow
def test_a_2_30_crontab_fires_once_on_each_dst_night(start, expected, restart_every):
    # given
    name = half_past_two()

    # when: beat runs for two days from noon before the change
    sent = beat_run([name], start=start, end=start + timedelta(days=2), restart_every=restart_every)

    # then: once that night and once the next, at 02:30 the day after
    assert sent == [(name, when) for when in expected]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "expected", "week"),
    [
        (
            datetime(2026, 3, 28, 12, tzinfo=BERLIN),
            [
                ("Daily sales report", "2026-03-29T01:00:00+01:00"),
                ("Weekly sales report", "2026-03-29T03:00:00+02:00"),  # 02:00 does not exist
            ],
            (date(2026, 3, 16), date(2026, 3, 22)),
        ),
        (
            datetime(2026, 10, 24, 12, tzinfo=BERLIN),
            [
                ("Daily sales report", "2026-10-25T01:00:00+02:00"),
                ("Weekly sales report", "2026-10-25T02:00:00+02:00"),  # the first 02:00
            ],
            (date(2026, 10, 12), date(2026, 10, 18)),
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_the_report_schedules_fire_once_each_on_the_dst_nights(start, expected, week):
    # given: the schedules as installed
    schedules_install()
    names = ["Daily sales report", "Weekly sales report", "Monthly sales report"]

    # when: beat runs from noon to noon across the change
    sent = beat_run(names, start=start, end=start + timedelta(days=1))

    # then: the daily and the weekly report once each; the weekly run, which
    # reports the previous complete week of its day, covers the right week
    assert sorted(sent) == expected
    weekly_day = datetime.fromisoformat(expected[1][1]).date()
    kwargs = json.loads(PeriodicTask.objects.get(name="Weekly sales report").kwargs)
    assert services.period_bounds(**kwargs, today=weekly_day) == week


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # spring forward: the 02:00 slot is the instant of the change (03:00
        # CEST); 30 minutes later the catch-up takes the missed week
        (datetime(2026, 3, 29, 3, 29, tzinfo=BERLIN), []),
        (datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN), [(date(2026, 3, 16), date(2026, 3, 22))]),
        # fall back: the slot is the first 02:00 (CEST); in the second 02:xx
        # hour (CET, fold=1) it is well past
        (datetime(2026, 10, 25, 2, 29, tzinfo=BERLIN), []),
        (datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN), [(date(2026, 10, 12), date(2026, 10, 18))]),
        (
            datetime(2026, 10, 25, 2, 5, fold=1, tzinfo=BERLIN),
            [(date(2026, 10, 12), date(2026, 10, 18))],
        ),
    ],
)
def test_a_weekly_report_missed_on_a_dst_sunday_is_caught_up(
    now, expected, django_capture_on_commit_callbacks
):
    # given: beat was down that night; the reports before it exist (the
    # previous week's, the day before's and the month before's)
    schedules_install()
    day = now.date()
    for period, start in [
        ("weekly", day - timedelta(days=20)),
        ("daily", day - timedelta(days=1)),
        ("monthly", (day.replace(day=1) - timedelta(days=1)).replace(day=1)),
    ]:
        first, last = services.period_bounds(period=period, start=start)
        Report.objects.create(period=period, start_date=first, end_date=last, status="ready")

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        queued = services.reports_catch_up(now=now)

    # then: the week that ended the Sunday before, once
    assert [(r.period, r.start_date, r.end_date) for r in queued] == [
        ("weekly", *week) for week in expected
    ]
    assert len(callbacks) == len(expected)
