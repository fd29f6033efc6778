"""Celery tasks of the notifications app: thin, they call services.

Routed to the `notifications` queue by CELERY_TASK_ROUTES.
"""
