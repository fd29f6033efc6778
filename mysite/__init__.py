"""The mysite project package. Exports the Celery app so Django loads it."""

from mysite.celery import app as celery_app

__all__ = ("celery_app",)
