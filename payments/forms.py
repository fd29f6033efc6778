"""The payment and refund forms: they shape the input, the services judge it.

Each form carries a hidden idempotency key, made when the form is shown, so
a double click or a resubmitted page makes one payment, not two.
"""

import uuid

from django import forms

from mysite.templatetags.look import money
from payments import selectors, services


def key_new() -> str:
    return uuid.uuid4().hex


class KeyedForm(forms.Form):
    # autocomplete off: a browser must not restore an old key into a fresh page.
    idempotency_key = forms.CharField(
        required=False, widget=forms.HiddenInput(attrs={"autocomplete": "off"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", key_new())

    def key_renew(self) -> None:
        """A fresh key, keeping what was typed: the next submit is a new payment."""
        data = self.data.copy()  # type: ignore[attr-defined]  # a QueryDict (or a dict)
        data[self.add_prefix("idempotency_key")] = key_new()
        self.data = data


def parsed(parse, value, **kwargs):
    """``parse(value)`` (a services parser), its refusal a field error."""
    try:
        return parse(value, **kwargs)
    except services.PaymentRejected as exc:
        raise forms.ValidationError(str(exc)) from None


class PaymentForm(KeyedForm):
    payer = forms.TypedChoiceField(label="From", coerce=int)
    # Text, read by the services' parser: IntegerField would take "٣" for 3.
    payee = forms.CharField(
        label="To account number",
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    amount = forms.CharField(
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "12.50"}
        )
    )
    description = forms.CharField(required=False, widget=forms.TextInput(attrs={"maxlength": 200}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.accounts = {account.pk: account for account in selectors.account_list_open(user=user)}
        self.fields["payer"].choices = [
            (
                account.pk,
                f"#{account.pk} {account.name} · {money(account.balance, account.currency)}",
            )
            for account in self.accounts.values()
        ]

    def clean_payee(self):
        return parsed(services.account_number, self.cleaned_data["payee"], role="payee")

    def clean_amount(self):
        return parsed(services.amount_parse, self.cleaned_data["amount"])

    def clean(self):
        """Refuse at once what the balance the From list shows already refuses; the
        task's check under lock stays the final word (the balance may change)."""
        data = super().clean()
        payer = self.accounts.get(data.get("payer"))
        amount = data.get("amount")
        if payer is not None and amount is not None and amount > payer.balance:
            self.add_error(
                "amount",
                f"Insufficient funds: account #{payer.pk} holds {payer.balance} "
                f"{payer.currency}, the payment needs {amount}.",
            )
        return data


class RefundForm(KeyedForm):
    amount = forms.CharField(
        required=False,  # empty: all that is left to refund
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        return parsed(services.amount_parse, amount) if amount else None
