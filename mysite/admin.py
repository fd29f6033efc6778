"""Admin: who started which task; Retry on task results (the console's service);
each periodic task's last result; API tokens (made and revoked by ``mysite.tokens``)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from django_celery_results.admin import TaskResultAdmin as ResultsTaskResultAdmin
from django_celery_results.models import TaskResult

from mysite import operations, tokens
from mysite.forms import ApiTokenAdminForm
from mysite.models import ApiToken, TaskRetry, UserTask


@admin.register(UserTask)
class UserTaskAdmin(admin.ModelAdmin):
    list_display = ("task_id", "task_name", "user", "created_at")
    list_filter = ("task_name",)
    search_fields = ("task_id", "task_name", "user__username")
    readonly_fields = ("task_id", "task_name", "user", "created_at")
    date_hierarchy = "created_at"


@admin.register(TaskRetry)
class TaskRetryAdmin(admin.ModelAdmin):
    list_display = ("task_name", "original_task_id", "retry_task_id", "user", "created_at")
    list_filter = ("task_name",)
    search_fields = ("original_task_id", "retry_task_id", "task_name", "user__username")
    readonly_fields = ("original_task_id", "retry_task_id", "task_name", "user", "created_at")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False  # written by a retry only


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are added here by user and name; the token itself is shown once, in a
    message after saving. Only its hash is stored (``key_hash`` is never shown)."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    autocomplete_fields = ("user",)
    actions = ("revoke_tokens",)
    form = ApiTokenAdminForm

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name")
        return ("user", "name", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else ("user", *self.readonly_fields)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        raw = tokens.token_issue(obj)
        self.message_user(
            request,
            f"The new token for {obj.user}: {raw} — copy it now, it will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request, queryset) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            tokens.token_revoke(token=token)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}.")


admin.site.unregister(TaskResult)


@admin.register(TaskResult)
class TaskResultAdmin(ResultsTaskResultAdmin):
    """django-celery-results' admin, with the console's Retry and a link to the console."""

    list_display = (*ResultsTaskResultAdmin.list_display, "console")
    actions = ("retry_tasks",)

    @admin.action(description="Retry the selected tasks (same task and arguments, a new id)")
    def retry_tasks(self, request, queryset) -> None:
        for task_id in queryset.values_list("task_id", flat=True):
            try:
                new_id = operations.task_retry(task_id=task_id, user=request.user)
            except (operations.OperationRefused, operations.TaskUnknown) as exc:
                self.message_user(request, str(exc) or f"{task_id} is unknown.", messages.ERROR)
            else:
                self.message_user(request, f"Retried {task_id} as {new_id}.", messages.SUCCESS)

    @admin.display(description="console")
    def console(self, result: TaskResult) -> str:
        url = reverse("operations-task", args=[result.task_id])
        return format_html('<a href="{}">open</a>', url)


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's admin, with each schedule's last result.

    The last result is the newest one beat sent under the schedule's name
    (``periodic_task_name``, a header the worker stores): a run queued some
    other way (the catch-up, ``celery call``) is not the schedule's.
    """

    list_display = (*BeatPeriodicTaskAdmin.list_display, "last_result")

    def get_queryset(self, request):
        latest = TaskResult.objects.filter(periodic_task_name=OuterRef("name")).order_by(
            "-date_done", "-id"
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_result_pk=Subquery(latest.values("pk")[:1]),
                last_result_status=Subquery(latest.values("status")[:1]),
                last_result_done=Subquery(latest.values("date_done")[:1]),
            )
        )

    @admin.display(description="last result", ordering="last_result_done")
    def last_result(self, task: Any) -> str:  # a PeriodicTask with get_queryset's last_result_*
        if getattr(task, "last_result_pk", None) is None:
            return "—"
        url = reverse("admin:django_celery_results_taskresult_change", args=[task.last_result_pk])
        done = task.last_result_done
        done = date_format(timezone.localtime(done), "Y-m-d H:i") if done else ""
        return format_html('<a href="{}">{} {}</a>', url, task.last_result_status, done)
