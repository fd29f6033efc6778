from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from mysite.priorities import Priority

e164 = RegexValidator(
    r"^\+[1-9]\d{6,14}$", "Enter a phone number in E.164 form, e.g. +4915112345678."
)


class Channel(models.TextChoices):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    IN_APP = "in_app", "in-app"


class ContactPoint(models.Model):
    """Where a user can be reached, and which channels they turned off."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact"
    )
    phone = models.CharField(max_length=16, blank=True, validators=[e164])
    push_tokens = models.JSONField(default=list, blank=True)
    email_opt_out = models.BooleanField(default=False)
    sms_opt_out = models.BooleanField(default=False)
    push_opt_out = models.BooleanField(default=False)
    in_app_opt_out = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"Contact points of {self.user}"

    def opted_out(self, channel: str) -> bool:
        return getattr(self, f"{channel}_opt_out")


class Broadcast(models.Model):
    """One message to many users, delivered in chunks; counters show progress."""

    class Audience(models.TextChoices):
        ALL = "all"
        STAFF = "staff"
        LIST = "list"

    audience = models.CharField(max_length=10, choices=Audience.choices)
    usernames = models.JSONField(default=list, blank=True, help_text="For a list audience.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    priority = models.PositiveSmallIntegerField(default=Priority.NORMAL)
    total = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        done = self.sent + self.failed
        return f"Broadcast {self.pk} ({self.channel} to {self.audience}): {done}/{self.total}"


class Notification(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        CANCELLED = "cancelled"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    link = models.CharField(
        max_length=500, blank=True, help_text="A page of this site it is about."
    )
    priority = models.PositiveSmallIntegerField(
        choices=[(level.value, level.name.lower()) for level in Priority], default=Priority.NORMAL
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    dedupe_key = models.CharField(max_length=200)
    broadcast = models.ForeignKey(
        Broadcast, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    task_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When its status last changed: the sweep queues again one in flight too long.
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"], name="one_notification_per_dedupe_key"
            )
        ]
        indexes = [models.Index(fields=["recipient", "channel", "read_at"], name="notif_inbox")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient}: {self.subject or self.body[:40]}"
