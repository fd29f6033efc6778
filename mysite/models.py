from django.conf import settings
from django.db import models

# The largest primary key (a bigint): a larger number names nothing, and the
# database would refuse it with an error instead of finding no row.
ID_MAX = 2**63 - 1


class UserTask(models.Model):
    """A task started on behalf of a user: who may see its status.

    Written by ``mysite.enqueue.enqueue(..., user=...)`` in the caller's
    transaction, so a task id the status API knows was really enqueued.
    """

    task_id = models.CharField(max_length=255, unique=True)
    task_name = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="started_tasks"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.task_name}[{self.task_id}]"


class BeatLease(models.Model):
    """Which ``celery beat`` process sends the periodic tasks: the holder of this row.

    Written only by ``mysite.beat`` in one conditional statement per tick; every
    time in it is the database's clock (``Now()``), never a beat host's.
    """

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=255, blank=True)  # "<hostname>:<pid>"
    acquired_at = models.DateTimeField()
    renewed_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.holder or '-'} until {self.expires_at}"


class TaskRetry(models.Model):
    """A failed task queued again from the operations console: the two ids, both ways.

    One retry per task (the unique ``original_task_id``): pressing Retry twice,
    or in two tabs, queues one task; retrying the retry makes a chain.
    """

    original_task_id = models.CharField(max_length=255, unique=True)
    retry_task_id = models.CharField(max_length=255, unique=True)
    task_name = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="task_retries",
        help_text="Who pressed Retry.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "task retries"

    def __str__(self) -> str:
        return f"{self.task_name}[{self.original_task_id}] retried as {self.retry_task_id}"


class ApiToken(models.Model):
    """A user's key for programs: ``Authorization: Bearer <token>`` on ``/api/v1/``.

    The token itself is shown once, when it is made (``mysite.tokens``); only its
    SHA-256 is kept, and its first characters (``prefix``) so a person can tell
    their tokens apart. Revoking keeps the row, for the record.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The token's first characters.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
