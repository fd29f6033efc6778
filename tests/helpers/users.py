"""Passwords in the suite: hashed fast in this process, as production hashes them
for a web server in another process."""

from django.conf import global_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils.module_loading import import_string

import mysite.settings as production

# PBKDF2 at Django's 1,000,000 iterations costs 0.2 s per password, about half
# the suite's time. Tests hash with MD5 (as cookiecutter-django's test settings
# do); the site itself never lists it.
TEST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def production_password(password: str) -> str:
    """``password`` hashed with the production settings' first hasher."""
    hashers = getattr(production, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS)
    return make_password(password, hasher=import_string(hashers[0])())


def production_user(username: str, password: str, **fields):
    """A user whose password a process on the production settings (gunicorn) can
    check: that process does not know the suite's fast hasher."""
    return get_user_model().objects.create(
        username=username, password=production_password(password), **fields
    )
