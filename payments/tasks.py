"""Celery tasks of the payments app: thin, they call services.

Routed to the `payments` queue by CELERY_TASK_ROUTES.
"""
