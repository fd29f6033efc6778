from django import forms

from mysite import selectors


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
