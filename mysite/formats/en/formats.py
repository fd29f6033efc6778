"""One date format on every page and in the admin: ISO (2026-11-01, 2026-11-01 14:05).

Django's own English formats ("Nov. 1, 2026") win over settings.DATE_FORMAT, so
the project's are a format module (settings.FORMAT_MODULE_PATH); whatever is not
set here comes from Django's.
"""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "m-d"
YEAR_MONTH_FORMAT = "Y-m"
