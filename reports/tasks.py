"""Celery tasks of the reports app: thin, they call services.

Routed to the `reports` queue by CELERY_TASK_ROUTES.
"""
