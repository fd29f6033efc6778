from django.contrib import admin

from mysite.models import UserTask


@admin.register(UserTask)
class UserTaskAdmin(admin.ModelAdmin):
    list_display = ("task_id", "task_name", "user", "created_at")
    list_filter = ("task_name",)
    search_fields = ("task_id", "task_name", "user__username")
    readonly_fields = ("task_id", "task_name", "user", "created_at")
    date_hierarchy = "created_at"
