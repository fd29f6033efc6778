"""Logging helpers: every record says which task, if any, wrote it."""

import logging

from celery import current_task


class TaskContextFilter(logging.Filter):
    """Add ``task`` ("name[id]" or "-"), ``task_name`` and ``task_id`` to records."""

    def filter(self, record: logging.LogRecord) -> bool:
        task_id = current_task.request.id if current_task else None
        if task_id:
            record.task_name, record.task_id = current_task.name, task_id
            record.task = f"{current_task.name}[{task_id}]"
        else:
            record.task_name = record.task_id = record.task = "-"
        return True
