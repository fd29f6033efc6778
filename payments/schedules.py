"""The periodic tasks of the payments app (installed by mysite/schedules.py)."""

SCHEDULES = [
    {
        "name": "Ledger check",
        "task": "payments.tasks.check_ledger",
        "kwargs": {},
        "crontab": {"minute": "30", "hour": "4"},
    },
]
