"""The JSON API, ``/api/v1/``: Django Ninja, one router per app (``<app>/api.py``).

- ``mysite.api.v1``: the ``NinjaAPI`` (auth, throttling, error handlers, routers).
- ``mysite.api.errors``: the one error body, ``{"error": {"code", "message", "fields"}}``.
- ``mysite.api.auth``: bearer tokens for programs, the session (with CSRF) for our pages.
- ``mysite.api.pagination``: limit/offset pages with a ``next`` link, bounded in size.
"""
