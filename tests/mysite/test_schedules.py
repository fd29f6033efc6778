"""Each app's schedules, found through the app registry (mysite/schedules.py)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from mysite import schedules
from mysite.schedules import Crontab, Schedule, project_schedules, schedule_from
from mysite.selectors import registered_task
from reports.schedules import SCHEDULES as REPORT_SCHEDULES


def test_every_apps_schedules_are_found_once_each_naming_a_registered_task():
    found = project_schedules()

    names = [schedule.name for schedule in found]
    assert set(names) >= {s.name for s in [*schedules.SCHEDULES, *REPORT_SCHEDULES]}
    assert "Ledger check" in names  # payments'
    assert len(names) == len(set(names))
    assert [s.task for s in found if registered_task(s.task) is None] == []


def test_a_name_declared_twice_is_a_configuration_error(monkeypatch):
    monkeypatch.setattr(schedules, "SCHEDULES", [*schedules.SCHEDULES, REPORT_SCHEDULES[0]])

    with pytest.raises(ImproperlyConfigured, match="declared twice: Roll up daily sales"):
        project_schedules()


def test_a_dict_entry_becomes_the_same_schedule():
    entry = {
        "name": "Ledger check",
        "task": "payments.tasks.check_ledger",
        "kwargs": {"x": 1},
        "crontab": {"minute": "30", "hour": "4"},
    }

    assert schedule_from(entry) == Schedule(
        name="Ledger check",
        task="payments.tasks.check_ledger",
        crontab=Crontab(minute="30", hour="4", day_of_week="*"),
        kwargs={"x": 1},
    )
