import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse


def original_path(instance: "Image", filename: str) -> str:
    """A generated name: the uploaded name is kept for display only, never as a path."""
    extension = filename.rsplit(".", 1)[-1]
    return f"images/originals/{uuid.uuid4().hex}.{extension}"


class ImageBatch(models.Model):
    """Several images processed together (a Celery chord); the callback records the outcome."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    total = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "image batches"

    def __str__(self) -> str:
        return f"Batch {self.pk}: {self.done + self.failed}/{self.total}"


class Image(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images"
    )
    original = models.FileField(upload_to=original_path, max_length=255)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField()
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    batch = models.ForeignKey(
        ImageBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(width__gt=0, height__gt=0, bytes__gt=0),
                name="image_has_pixels_and_bytes",
            )
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("images:detail", args=[self.pk])


class Rendition(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="renditions")
    spec = models.CharField(max_length=50)
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField()
    file = models.FileField(max_length=255)

    class Meta:
        ordering = ["image", "spec"]
        constraints = [
            models.UniqueConstraint(fields=["image", "spec"], name="one_rendition_per_spec")
        ]

    def __str__(self) -> str:
        return f"{self.image_id}/{self.spec}"

    def get_absolute_url(self) -> str:
        return reverse("images:rendition-file", args=[self.image_id, self.spec])
