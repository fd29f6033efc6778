from django.contrib import admin

from images.models import Image, ImageBatch, Rendition


class RenditionInline(admin.TabularInline):
    model = Rendition
    extra = 0
    fields = ("spec", "format", "width", "height", "bytes", "file")
    readonly_fields = fields
    can_delete = False


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "original_name",
        "owner",
        "status",
        "format",
        "width",
        "height",
        "created_at",
    )
    list_filter = ("status", "format")
    search_fields = ("original_name", "owner__username", "task_id")
    readonly_fields = ("original", "format", "width", "height", "bytes", "task_id", "batch")
    inlines = [RenditionInline]


@admin.register(ImageBatch)
class ImageBatchAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "total", "done", "failed", "created_at", "finished_at")
    readonly_fields = ("total", "done", "failed", "task_id", "finished_at")
