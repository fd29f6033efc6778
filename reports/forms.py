from django import forms

from reports import services
from reports.models import Report


class GenerateReportForm(forms.Form):
    period = forms.ChoiceField(choices=Report.Period.choices, initial=Report.Period.MONTHLY)
    start = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=(
            "Empty: the previous complete period. Else any day of the period: a week runs "
            "Monday to Sunday, a month from the 1st. Custom: the first day."
        ),
    )
    end = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Custom reports only: the last day.",
    )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["bounds"] = services.period_bounds(
                period=data["period"], start=data.get("start"), end=data.get("end")
            )
        except services.ReportRejected as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data

    def period_note(self) -> str:
        """What the report covers, when that is not what the start date alone says
        (a Wednesday picked for a weekly report: its Monday-to-Sunday week)."""
        start = self.cleaned_data.get("start")
        first, last = self.cleaned_data["bounds"]
        if start is None or start == first:
            return ""
        if self.cleaned_data["period"] == Report.Period.WEEKLY:
            return (
                f"{start:%A} {start} is in the week of Monday {first} to Sunday {last}: "
                "the report covers that week."
            )
        return f"{start} is in {first:%B %Y}: the report covers {first} to {last}."
