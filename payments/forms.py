"""The payment and refund forms: they shape the input, the services judge it.

Each form carries a hidden idempotency key, made when the form is shown, so
a double click or a resubmitted page makes one payment, not two.
"""

import uuid

from django import forms

from payments import selectors


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
        self.data = self.data.copy()
        self.data[self.add_prefix("idempotency_key")] = key_new()


class PaymentForm(KeyedForm):
    payer = forms.TypedChoiceField(label="From", coerce=int)
    payee = forms.IntegerField(
        label="To account number",
        widget=forms.NumberInput(attrs={"min": 1, "autocomplete": "off"}),
    )
    amount = forms.CharField(
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "12.50"}
        )
    )
    description = forms.CharField(required=False, widget=forms.TextInput(attrs={"maxlength": 200}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payer"].choices = [
            (account.pk, f"#{account.pk} {account.name} · {account.balance} {account.currency}")
            for account in selectors.account_list_open(user=user)
        ]


class RefundForm(KeyedForm):
    amount = forms.CharField(
        required=False,  # empty: all that is left to refund
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
