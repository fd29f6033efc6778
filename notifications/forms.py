"""The staff forms to send one notification and to start a broadcast.

They take what ``manage.py send_notification`` and ``manage.py broadcast``
take; the views pass it to the same services, whose refusals (the commands'
words) become the forms' errors.
"""

import re
import uuid

from django import forms

from mysite.priorities import Priority
from notifications import services
from notifications.api import BROADCAST_USERNAMES_MAX
from notifications.models import Broadcast, Channel, Notification

PRIORITIES = [(level.name.lower(), level.name.lower()) for level in Priority]
USERNAME_SEPARATORS = re.compile(r"[\s,]+")  # no username has a space or a comma


def usernames_parse(text: str) -> list[str]:
    """The usernames typed in a broadcast form (here and in the admin), once each."""
    typed = USERNAME_SEPARATORS.split(text)
    names = list(dict.fromkeys(name for name in typed if name))
    if len(names) > BROADCAST_USERNAMES_MAX:  # as the API's limit
        raise forms.ValidationError(
            f"{len(names)} usernames; at most {BROADCAST_USERNAMES_MAX} in one broadcast."
        )
    return names


class MessageForm(forms.Form):
    """What one message is: channel, subject, body and priority."""

    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.IN_APP)
    subject = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"maxlength": services.max_length(Notification, "subject")}),
    )
    # Not required: the service's "The message body is empty." says it for a blank one too.
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5, "cols": 40}))
    priority = forms.ChoiceField(choices=PRIORITIES, initial=Priority.NORMAL.name.lower())

    def message(self) -> dict:
        """The checked message, as the services take it."""
        names = ("channel", "subject", "body", "priority")
        return {name: self.cleaned_data[name] for name in names}


class NotificationForm(MessageForm):
    """One notification to one user, as ``manage.py send_notification``."""

    user = forms.CharField(
        label="Recipient (username)",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    # Made when the form is shown and sent as the dedupe key: a double click or
    # a resubmitted page sends once, not twice.
    key = forms.CharField(required=False, widget=forms.HiddenInput(attrs={"autocomplete": "off"}))

    field_order = ["user", "channel", "subject", "body", "priority"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("key", uuid.uuid4().hex)

    def dedupe_key(self) -> str | None:
        key = self.cleaned_data["key"]
        return f"staff-page:{key}" if key else None


class BroadcastForm(MessageForm):
    """One message to many users, as ``manage.py broadcast``."""

    audience = forms.ChoiceField(
        choices=[
            (Broadcast.Audience.ALL, "all active users"),
            (Broadcast.Audience.STAFF, "staff"),
            (Broadcast.Audience.LIST, "the users listed below"),
        ]
    )
    usernames = forms.CharField(
        label="Usernames (for a list)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40, "autocomplete": "off"}),
        help_text="Separated by spaces, commas or new lines.",
    )

    field_order = ["audience", "usernames", "channel", "subject", "body", "priority"]

    def clean_usernames(self) -> list[str]:
        return usernames_parse(self.cleaned_data["usernames"])

    def clean(self):
        data = super().clean()
        # Names typed for "all" or "staff" would be ignored: the message would go
        # to far more people than the list says.
        if data.get("usernames") and data.get("audience") != Broadcast.Audience.LIST:
            raise forms.ValidationError(
                "Usernames are only for a list audience: choose “the users listed below”, "
                "or clear the names."
            )
        return data
