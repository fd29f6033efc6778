from django import forms

from reports import services
from reports.models import Report


class GenerateReportForm(forms.Form):
    period = forms.ChoiceField(choices=Report.Period.choices, initial=Report.Period.MONTHLY)
    start = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: the previous complete period. Custom: the first day.",
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
