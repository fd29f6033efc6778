"""The settings every benchmark runs the project with: as in production, quiet.

Called by each script after it has chosen its own database and broker, before
``django.setup()``; a variable already set in the environment wins.
"""

import os


def production_like() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "false")  # as in production: no query log
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
