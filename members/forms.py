"""Forms of the member pages, and the helper every face uses to show a
refused business action on its form."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.utils.translation import gettext_lazy as _

from members.exceptions import LoyaltyError


def form_add_service_error(
    form: forms.Form, error: LoyaltyError, *, fields: Mapping[str, str | None] | None = None
) -> None:
    """Show ``error`` on ``form``: on the field it names when the form has
    that field (``fields`` maps a service's field name to the form's, or to
    ``None`` for "above the form"), else above the form."""
    name = error.field
    if name and fields and name in fields:
        name = fields[name]
    form.add_error(name if name in form.fields else None, error.message)


class MemberSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search members"),
        required=False,
        max_length=100,
        help_text=_("Name, email, phone or card number."),
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )


# --- Member accounts: claim, sign-up, profile, consent ---


class ClaimForm(forms.Form):
    """Set up a login for a member enrolled at the till (from a claim link)."""

    email = forms.EmailField(
        label=_("Email"),
        help_text=_("You will log in with this address."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1 = forms.CharField(
        label=_("Password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password (again)"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password2") and cleaned["password1"] != cleaned["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return cleaned


class ClaimStartForm(forms.Form):
    """Ask for a claim link with the email and card number on file."""

    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    card_number = forms.CharField(
        label=_("Card number"), max_length=20,
        help_text=_("The 13 digits under the barcode of your card."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def clean_card_number(self) -> str:
        return "".join(ch for ch in self.cleaned_data["card_number"] if ch.isdigit())
