"""Forms of the member pages, and the helper every face uses to show a
refused business action on its form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers
from allauth.account.forms import AddEmailForm as AllauthAddEmailForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context as allauth_context
from django import forms
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from members.exceptions import LoyaltyError
from members.models import Member
from members.selectors import phone_normalise
from members.services.accounts import member_email_conflict, member_signup_check
from members.services.feedback import COMMENT_MAX_LENGTH


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


def phone_field(*, label: object = None, required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=label or _("Phone"), required=required, max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )


def phone_example(region: str) -> str:
    """A mobile number of ``region`` in international form, for help texts."""
    number = phonenumbers.example_number_for_type(region or "PL", phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL) if number else ""


def phone_field_explain(field: forms.Field, *, region: str) -> None:
    """Say on ``field`` how numbers are read: with a country code, or as
    numbers of the program's country."""
    if region:
        field.help_text = gettext(
            "With the country code, e.g. %(example)s; a number without it is read as a number in %(country)s."
        ) % {"example": phone_example(region), "country": countries.name(region) or region}
    else:
        field.help_text = gettext("With the country code, e.g. %(example)s.") % {"example": phone_example(region)}


def phone_clean(value: str, *, region: str) -> str:
    """``value`` in E.164, or a ``ValidationError`` naming the phone."""
    value = (value or "").strip()
    if not value:
        return ""
    normalised = phone_normalise(value, region=region)
    if normalised is None:
        raise forms.ValidationError(
            _("%(value)s is not a valid phone number; write it like %(example)s."), code="invalid_phone",
            params={"value": value, "example": phone_example(region)},
        )
    return normalised


def request_phone_region(request: HttpRequest | None) -> str:
    """The program's country (national phone numbers are read in it), put on
    the request by ``config.middleware.ProgramRegionMiddleware`` (members do
    not import the program's app)."""
    return str(getattr(request, "phone_region", "") or "") if request is not None else ""


class SignupForm(AllauthSignupForm):
    """allauth's sign-up with the member's details, consents and a referral code.

    ``members.adapters.AccountAdapter.save_user`` creates the member and its
    card in the same transaction as the user (``members.services.accounts``).
    """

    first_name = forms.CharField(
        label=_("First name"), max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=_("Last name (optional)"), max_length=150, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    phone = phone_field(label=_("Phone (optional)"))
    marketing_consent = forms.BooleanField(
        label=_("Email me offers and news about the program"), required=False,
    )
    sms_consent = forms.BooleanField(label=_("Text me offers by SMS"), required=False)
    referral_code = forms.CharField(
        label=_("Referral code (optional)"), max_length=20, required=False,
        help_text=_("The code of the friend who invited you."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )

    field_order = [
        "first_name", "last_name", "email", "phone", "password1", "password2",
        "marketing_consent", "sms_consent", "referral_code",
    ]

    claim_suggested = False
    """The person already has a card: the page offers to claim it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = allauth_context.request
        self.region = request_phone_region(request)
        phone_field_explain(self.fields["phone"], region=self.region)
        if request is not None and not self.is_bound and request.GET.get("ref"):
            self.initial.setdefault("referral_code", request.GET["ref"][:20])
        self.fields["email"].widget.attrs.pop("placeholder", None)
        for name in ("password1", "password2"):
            if name in self.fields:
                self.fields[name].widget.attrs.pop("placeholder", None)

    def clean_phone(self) -> str:
        return phone_clean(self.cleaned_data.get("phone", ""), region=self.region)

    def clean(self) -> dict:
        cleaned = super().clean()
        email = cleaned.get("email")
        if email and not self.account_already_exists and not self.errors.get("phone"):
            try:
                member_signup_check(
                    email=email, phone=cleaned.get("phone", ""), referral_code=cleaned.get("referral_code", ""),
                )
            except LoyaltyError as error:
                form_add_service_error(self, error)
                self.claim_suggested = error.code == "member_already_enrolled"
        return cleaned

    def save(self, request: HttpRequest):
        # The user, the member, the card and the email address together.
        with transaction.atomic():
            return super().save(request)


class MemberAddEmailForm(AllauthAddEmailForm):
    """allauth's "change email" that refuses another member's address."""

    def clean_email(self) -> str:
        value = super().clean_email()
        try:
            member_email_conflict(user=self.user, email=value)
        except LoyaltyError as error:
            raise forms.ValidationError(error.message, code=error.code) from None
        return value


class ProfileForm(forms.Form):
    first_name = forms.CharField(
        label=_("First name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=_("Last name"), max_length=150, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    phone = phone_field()
    birth_date = forms.DateField(
        label=_("Birth date"), required=False,
        help_text=_("Optional. For a birthday surprise."),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
    )
    language = forms.ChoiceField(label=_("Language"), choices=Member.Language.choices)

    def __init__(self, *args, region: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.region = region
        phone_field_explain(self.fields["phone"], region=region)

    def clean_phone(self) -> str:
        return phone_clean(self.cleaned_data.get("phone", ""), region=self.region)

    def clean_birth_date(self):
        value = self.cleaned_data.get("birth_date")
        today = timezone.localdate()
        if value and value > today:
            raise forms.ValidationError(_("The birth date cannot be in the future."), code="future")
        if value and value.year < today.year - 120:
            raise forms.ValidationError(_("Enter a birth date in the last 120 years."), code="too_old")
        return value


class ConsentForm(forms.Form):
    marketing_consent = forms.BooleanField(
        label=_("Email me offers and news about the program"), required=False,
    )
    sms_consent = forms.BooleanField(label=_("Text me offers by SMS"), required=False)


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("To make sure it is you."),
    )

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("This is not your password."), code="wrong_password")
        return password


class FeedbackForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("How likely are you to recommend our program to a friend?"),
        choices=[(n, str(n)) for n in range(11)], coerce=int, widget=forms.RadioSelect,
        error_messages={"required": _("Choose a score from 0 to 10."),
                        "invalid_choice": _("Choose a score from 0 to 10.")},
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us? (optional)"), required=False,
        max_length=COMMENT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 4}),
    )
