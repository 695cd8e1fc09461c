"""Forms of the till: search, purchase, refund, enrollment, card."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from crispy_forms.layout import Div, Fieldset, Layout
from django import forms
from django.core import signing
from django.utils import timezone
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from loyalty.forms.common import NoTagHelper
from loyalty.models import Purchase
from members.cards import card_number_is_valid
from members.forms import phone_clean
from members.models import Member

# -- the till ------------------------------------------------------------------

TILL_TOKEN_SALT = "loyalty.till.action"  # noqa: S105 (a signing salt, not a secret)
TILL_TOKEN_MAX_AGE = dt.timedelta(hours=2)


@dataclass(frozen=True)
class TillToken:
    """Issued with each rendering of a till form: a random id (the external id
    when no receipt number is typed) and the instant the form was shown, used
    as the time of the sale, so that a form sent twice is the same request."""

    id: str
    issued_at: dt.datetime

    @classmethod
    def issue(cls) -> str:
        return signing.dumps({"id": uuid.uuid4().hex, "at": timezone.now().isoformat()}, salt=TILL_TOKEN_SALT)

    @classmethod
    def read(cls, value: str) -> TillToken:
        data = signing.loads(value, salt=TILL_TOKEN_SALT, max_age=TILL_TOKEN_MAX_AGE)
        return cls(id=data["id"], issued_at=dt.datetime.fromisoformat(data["at"]))


class _TillForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("token", TillToken.issue())
        self.helper = NoTagHelper()

    def clean_token(self) -> TillToken:
        try:
            return TillToken.read(self.cleaned_data["token"])
        except signing.SignatureExpired:
            self._renew_token()
            raise forms.ValidationError(
                _("This form was open too long. Check the details and send it again."), code="expired"
            ) from None
        except (signing.BadSignature, KeyError, ValueError):
            self._renew_token()
            raise forms.ValidationError(_("This form is damaged; send it again."), code="bad_token") from None

    def _renew_token(self) -> None:
        self.data = self.data.copy()
        self.data[self.add_prefix("token")] = TillToken.issue()


class TillSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Card number, phone, email or name"),
        max_length=254,
        widget=forms.TextInput(
            attrs={
                "type": "search", "autofocus": True, "autocomplete": "off", "autocapitalize": "none",
                "spellcheck": "false", "enterkeyhint": "search", "class": "form-control-lg",
            }
        ),
    )


class TillPurchaseForm(_TillForm):
    prefix = "purchase"

    amount = forms.DecimalField(
        label=_("Amount"), min_value=Decimal("0.01"), max_digits=12,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "autofocus": True, "class": "form-control-lg"}
        ),
    )
    receipt = forms.CharField(
        label=_("Receipt number (optional)"), required=False, max_length=64,
        help_text=_("Typing it makes sure the same receipt never earns points twice."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "form-control-lg"}),
    )

    def external_id(self) -> str:
        return self.cleaned_data["receipt"].strip() or f"till:{self.cleaned_data['token'].id}"


class TillRefundForm(_TillForm):
    prefix = "refund"

    purchase = forms.ModelChoiceField(
        label=_("Purchase"), queryset=Purchase.objects.none(), empty_label=None, widget=forms.RadioSelect,
        help_text=_("The member's latest purchases that can still be refunded."),
    )
    amount = forms.DecimalField(
        label=_("Amount to refund"), min_value=Decimal("0.01"), max_digits=12,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "class": "form-control-lg"}),
    )

    def __init__(self, *args, purchases: list[Purchase], label_from_instance, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["purchase"]
        field.queryset = Purchase.objects.filter(pk__in=[p.pk for p in purchases]).select_related("store")
        field.label_from_instance = label_from_instance
        # The choices come from the list already loaded, not another query.
        field.choices = [(p.pk, label_from_instance(p)) for p in purchases]

    def external_id(self) -> str:
        return f"till-refund:{self.cleaned_data['token'].id}"


class TillEnrollForm(forms.Form):
    """A new member at the till: what the customer says, in the order a cashier
    asks it. The service checks duplicates; the form checks the shape."""

    first_name = forms.CharField(
        label=_("First name"), max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True, "autocapitalize": "words"}),
    )
    last_name = forms.CharField(
        label=_("Last name (optional)"), max_length=150, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "words"}),
    )
    email = forms.EmailField(
        label=_("Email"), required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}),
    )
    phone = forms.CharField(
        label=_("Phone"), required=False, max_length=32,
        help_text=_("Email or phone, or both: the account-claim link goes to the email if there is one."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off", "inputmode": "tel"}),
    )
    marketing_consent = forms.BooleanField(label=_("Agrees to marketing emails"), required=False)
    sms_consent = forms.BooleanField(label=_("Agrees to marketing text messages (SMS)"), required=False)
    card_number = forms.CharField(
        label=_("Physical card (optional)"), required=False, max_length=32,
        help_text=_("Scan the card's barcode; leave empty to issue a card number."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "data-till-scan": "", "spellcheck": "false"}
        ),
    )
    birth_date = forms.DateField(
        label=_("Birth date (optional)"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
    )
    language = forms.ChoiceField(label=_("Language for messages"), choices=Member.Language.choices)

    def __init__(self, *args, region: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.region = region
        current = (get_language() or "en")[:2]
        self.fields["language"].initial = current if current in Member.Language.values else Member.Language.EN
        self.helper = NoTagHelper()
        self.helper.layout = Layout(
            Div(Div("first_name", css_class="col-sm-6"), Div("last_name", css_class="col-sm-6"), css_class="row"),
            Div(Div("email", css_class="col-sm-6"), Div("phone", css_class="col-sm-6"), css_class="row"),
            Fieldset(_("Consents (ask the customer)"), "marketing_consent", "sms_consent", css_class="mb-3"),
            "card_number",
            Div(Div("birth_date", css_class="col-sm-6"), Div("language", css_class="col-sm-6"), css_class="row"),
        )

    def clean_phone(self) -> str:
        return phone_clean(self.cleaned_data["phone"], region=self.region)

    def clean_card_number(self) -> str:
        value = "".join(self.cleaned_data["card_number"].split())
        if value and not card_number_is_valid(value):
            raise forms.ValidationError(
                _("%(value)s is not a valid card number: check the digits or scan the card again."),
                code="invalid_card", params={"value": value},
            )
        return value

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("email") and not data.get("phone") and "email" not in self.errors \
                and "phone" not in self.errors:
            self.add_error("email", gettext("Give an email address or a phone number."))
        return data


class TillCardAttachForm(forms.Form):
    """A physical card scanned for a member who has none, or a new one."""

    prefix = "card"

    card_number = forms.CharField(
        label=_("New card number"), max_length=32,
        help_text=_("Scan the card's barcode. The member's current number stops working."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()

    def clean_card_number(self) -> str:
        value = "".join(self.cleaned_data["card_number"].split())
        if not card_number_is_valid(value):
            raise forms.ValidationError(
                _("%(value)s is not a valid card number: check the digits or scan the card again."),
                code="invalid_card", params={"value": value},
            )
        return value
