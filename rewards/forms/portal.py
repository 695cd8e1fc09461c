"""Forms of the member portal's rewards pages: redeem (with the key that makes a
double submit give one voucher) and the waitlist of a full event."""

from __future__ import annotations

import secrets

from django import forms
from django.utils.translation import gettext_lazy as _

KEY_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


def redeem_key_new() -> str:
    """A fresh idempotency key for one confirmation form (rendered into it, so a
    second submit of the same form finds the voucher of the first)."""
    return secrets.token_urlsafe(18)


class RedeemForm(forms.Form):
    key = forms.RegexField(
        regex=KEY_PATTERN, widget=forms.HiddenInput,
        error_messages={
            "required": _("This form is out of date. Check the details and confirm again."),
            "invalid": _("This form is out of date. Check the details and confirm again."),
        },
    )

    def idempotency_key(self) -> str:
        """The key the redemption service gets: the form's, in the portal's own namespace."""
        return f"portal:{self.cleaned_data['key']}"


class WaitlistForm(forms.Form):
    JOIN, LEAVE = "join", "leave"

    waitlist = forms.ChoiceField(
        choices=[(JOIN, _("Join the waitlist")), (LEAVE, _("Leave the waitlist"))], widget=forms.HiddenInput,
    )
