"""A django-celery-results backend that writes each task state in one statement.

The shipped backend stores a state with ``get_or_create`` and then a full
``save()`` (two or three queries, inside a transaction). This one issues a
single ``INSERT ... ON CONFLICT (task_id) DO UPDATE`` (PostgreSQL and SQLite),
so a task costs two writes: STARTED and its outcome. Rows, admin and reads are
django-celery-results' own.
"""

from celery import states
from django.utils import timezone
from django_celery_results.backends.database import DatabaseBackend
from django_celery_results.models import TaskResult


class UpsertDatabaseBackend(DatabaseBackend):
    def _store_result(  # noqa: PLR0917  (Celery's signature)
        self, task_id, result, status, traceback=None, request=None, using=None
    ):
        content_type, content_encoding, encoded_result = self.encode_content(result)
        meta = {
            **self._get_meta_from_request(request),
            "children": self.current_task_children(request),
        }
        _, _, encoded_meta = self.encode_content(meta)

        fields = {
            "content_encoding": content_encoding,
            "content_type": content_type,
            "meta": encoded_meta,
            "result": encoded_result,
            "status": status,
            **self._get_extended_properties(request, traceback),
            "traceback": traceback,
        }
        if status == states.STARTED:
            fields["date_started"] = timezone.now()
        # date_done is auto_now: set on insert and taken from the new row on
        # conflict; date_created and an earlier date_started are left alone.
        TaskResult.objects.using(using or "default").bulk_create(
            [TaskResult(task_id=task_id, **fields)],
            update_conflicts=True,
            unique_fields=["task_id"],
            update_fields=[*fields, "date_done"],
        )
        return result
