"""Celery tasks of the images app: thin, they call services.

Routed to the `images` queue by CELERY_TASK_ROUTES.
"""
