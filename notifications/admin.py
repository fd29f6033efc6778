from django.contrib import admin

from notifications.models import Broadcast, ContactPoint, Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "recipient",
        "channel",
        "priority",
        "status",
        "attempts",
        "created_at",
        "sent_at",
    )
    list_filter = ("channel", "status", "priority")
    search_fields = ("recipient__username", "subject", "dedupe_key", "provider_message_id")
    readonly_fields = (
        "attempts",
        "last_error",
        "provider_message_id",
        "task_id",
        "sent_at",
        "read_at",
    )


@admin.register(ContactPoint)
class ContactPointAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "phone",
        "email_opt_out",
        "sms_opt_out",
        "push_opt_out",
        "in_app_opt_out",
    )
    search_fields = ("user__username", "phone")


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "channel",
        "audience",
        "total",
        "sent",
        "failed",
        "created_at",
        "finished_at",
    )
    list_filter = ("channel", "audience")
    readonly_fields = ("total", "sent", "failed", "finished_at", "created_by")
