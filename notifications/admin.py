"""Admin: notifications and broadcasts are added through the services, never written directly.

An add form asks for what the service takes, runs the service's checks in
``clean()`` (a refusal is a form error, nothing is written) and ``save_model``
calls the service, which stores the rows and queues their delivery. Once
added, every field is read-only: saving the change page sends nothing again.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from mysite.priorities import Priority
from notifications import services
from notifications.forms import usernames_parse
from notifications.models import Broadcast, ContactPoint, Notification

PRIORITY_CHOICES = [(level.value, level.name.lower()) for level in Priority]


class MessageAddForm(forms.ModelForm):
    """An add form whose message the service checks, then whom it goes to.

    A refused message (channel, body, priority, SMS length) is an error at the
    top of the form; a refused recipient or audience one on ``to_field``.
    """

    to_field: str

    def clean(self):
        cleaned = super().clean()
        channel, body, priority = (cleaned.get(name) for name in ("channel", "body", "priority"))
        if None in (channel, body, priority):
            return cleaned  # the field's own error is shown
        try:
            services.message_check(
                channel=channel, body=body, priority=priority, subject=cleaned.get("subject", "")
            )
        except services.NotificationRejected as exc:
            raise ValidationError(str(exc)) from exc
        try:
            self.to_check(cleaned)
        except services.NotificationRejected as exc:
            self.add_error(self.to_field, str(exc))
        return cleaned

    def to_check(self, cleaned: dict) -> None:
        """The service's check of whom the message goes to (raises NotificationRejected)."""
        raise NotImplementedError


class NotificationAddForm(MessageAddForm):
    """The arguments of ``notification_send``, checked by the service's own checks."""

    to_field = "recipient"

    class Meta:
        model = Notification
        fields = ("recipient", "channel", "subject", "body", "link", "priority", "dedupe_key")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dedupe_key"].required = False
        self.fields["dedupe_key"].help_text = "Optional: the same key twice sends once."

    def to_check(self, cleaned: dict) -> None:
        if cleaned.get("recipient") is not None:
            services.recipient_address(channel=cleaned["channel"], user=cleaned["recipient"])


class BroadcastAddForm(MessageAddForm):
    """The arguments of ``broadcast_send``, checked by the service's own checks."""

    to_field = "usernames"
    usernames = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For a list audience: usernames, separated by spaces, commas or lines.",
    )
    priority = forms.TypedChoiceField(choices=PRIORITY_CHOICES, coerce=int, initial=Priority.NORMAL)

    class Meta:
        model = Broadcast
        fields = ("audience", "usernames", "channel", "subject", "body", "priority")

    def clean_usernames(self) -> list[str]:
        return usernames_parse(self.cleaned_data["usernames"])

    def to_check(self, cleaned: dict) -> None:
        if cleaned.get("audience") is not None:
            services.broadcast_recipient_ids(
                audience=cleaned["audience"],
                usernames=cleaned.get("usernames"),
                channel=cleaned["channel"],
            )


class AddedThroughServiceAdmin(admin.ModelAdmin):
    """``add_form`` on the add page; on the change page every field is read-only."""

    add_form: type[forms.ModelForm]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = self.add_form._meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": self.add_form._meta.fields})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [field.name for field in self.model._meta.fields]

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is editable: writing the row back could undo the worker's update
        created = self.create(request, form.cleaned_data)
        for field in obj._meta.concrete_fields:  # the admin shows and links what was created
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False

    def create(self, request, data: dict):
        raise NotImplementedError


@admin.register(Notification)
class NotificationAdmin(AddedThroughServiceAdmin):
    add_form = NotificationAddForm
    raw_id_fields = ("recipient",)
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

    def create(self, request, data: dict) -> Notification:
        return services.notification_send(
            recipient=data["recipient"],
            channel=data["channel"],
            subject=data["subject"],
            body=data["body"],
            link=data["link"],
            priority=data["priority"],
            dedupe_key=data["dedupe_key"] or None,
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
class BroadcastAdmin(AddedThroughServiceAdmin):
    add_form = BroadcastAddForm
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

    def create(self, request, data: dict) -> Broadcast:
        return services.broadcast_send(
            audience=data["audience"],
            usernames=data["usernames"],
            channel=data["channel"],
            subject=data["subject"],
            body=data["body"],
            priority=data["priority"],
            created_by=request.user,
        )
