from django import forms

from mysite import selectors, tokens
from mysite.models import ApiToken


class ConsoleFilterForm(forms.Form):
    """The operations console's filters: task, state (failures unless chosen) and days."""

    task = forms.CharField(required=False, max_length=255)
    state = forms.ChoiceField(
        required=False,
        choices=[("", "any state"), *((state, state) for state in selectors.CONSOLE_STATES)],
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, **kwargs):
        data = data.copy()
        data.setdefault("state", selectors.CONSOLE_STATES[0])  # no choice made: failures
        super().__init__(data, **kwargs)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The first day comes after the last.")
        return cleaned


def token_name_clean(name: str) -> str:
    try:
        return tokens.name_check(name)
    except tokens.TokenRejected as exc:
        raise forms.ValidationError(str(exc)) from None


class ApiTokenForm(forms.Form):
    """A new API token: its name (``mysite.tokens`` checks it)."""

    name = forms.CharField(
        max_length=tokens.NAME_MAX,
        error_messages={"required": tokens.NAME_REQUIRED},
        help_text="What will use it, e.g. “backup script” or “Alice's laptop”.",
    )

    def clean_name(self):
        return token_name_clean(self.cleaned_data["name"])


class ApiTokenAdminForm(forms.ModelForm):
    """The admin's token form: the same name rules as the settings page."""

    class Meta:
        model = ApiToken
        fields = ("user", "name")

    def clean_name(self):
        return token_name_clean(self.cleaned_data["name"])
