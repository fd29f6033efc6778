"""The reports app's periodic tasks (installed by ``setup_schedules``, mysite/schedules.py).

Times are in TIME_ZONE. The report tasks take only their period: each run
computes the previous complete period itself.
"""

from mysite.schedules import Crontab, Schedule

SCHEDULES = [
    # Yesterday into the daily rollups, before the reports below read it
    # (reports.rollups); after a change of TIME_ZONE, every day again.
    Schedule(
        name="Roll up daily sales",
        task="reports.tasks.rollup_sales",
        crontab=Crontab(minute="15", hour="0"),
    ),
    Schedule(
        name="Daily sales report",
        task="reports.tasks.generate_sales_report",
        kwargs={"period": "daily"},
        crontab=Crontab(minute="0", hour="1"),
    ),
    Schedule(
        name="Weekly sales report",
        task="reports.tasks.generate_sales_report",
        kwargs={"period": "weekly"},
        crontab=Crontab(minute="0", hour="2", day_of_week="0"),
    ),
    Schedule(
        name="Monthly sales report",
        task="reports.tasks.generate_sales_report",
        kwargs={"period": "monthly"},
        crontab=Crontab(minute="0", hour="3", day_of_month="1"),
    ),
    # Queues what the three above missed (beat down, a DST gap): reports_catch_up.
    Schedule(
        name="Sales report catch-up",
        task="reports.tasks.catch_up_reports",
        crontab=Crontab(minute="45"),
    ),
]
