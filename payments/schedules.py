"""The payments app's periodic tasks (installed by ``setup_schedules``, mysite/schedules.py).

Times are in TIME_ZONE.
"""

from mysite.schedules import Crontab, Schedule

SCHEDULES = [
    # Every account's balance against its ledger (payments.services.reconciliation).
    Schedule(
        name="Ledger check",
        task="payments.tasks.check_ledger",
        crontab=Crontab(minute="30", hour="4"),
    ),
]
