"""Forms of the tiers: a tier (staff), a paid-tier fee (staff and till)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from crispy_forms.layout import HTML, Div, Fieldset, Layout
from django import forms
from django.core.validators import MinValueValidator
from django.db.models import QuerySet
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.currencies import money_format
from loyalty.forms.common import NoTagHelper
from loyalty.forms.till import _TillForm
from loyalty.models import Program, Tier
from loyalty.services.program import program_get
from loyalty.services.tiers.config import MULTIPLIER_BELOW_ONE

LANGUAGES = (("en", _("English")), ("pl", _("Polish")), ("ro", _("Romanian")))


def paid_tiers() -> QuerySet[Tier]:
    """The paid tiers that can be bought, by rank."""
    return Tier.objects.filter(is_paid=True, archived=False).order_by("rank")


class TierForm(forms.ModelForm):
    """A tier, with its name and benefits in each language. The service
    (``tier_save``) refuses contradictions; the help texts explain each field."""

    class Meta:
        model = Tier
        fields = [
            "name_en", "name_pl", "name_ro", "benefits_en", "benefits_pl", "benefits_ro",
            "code", "rank", "is_paid", "threshold", "multiplier", "fee", "period_months",
        ]
        labels = {
            "name_en": _("Name (English)"), "name_pl": _("Name (Polish)"), "name_ro": _("Name (Romanian)"),
            "benefits_en": _("Benefits (English)"), "benefits_pl": _("Benefits (Polish)"),
            "benefits_ro": _("Benefits (Romanian)"),
            "is_paid": _("Paid tier (granted by a fee, not reached by spending)"),
        }
        help_texts = {
            "name_en": _("Members see it in the portal and the till shows it, e.g. Gold."),
            "name_pl": _("Empty: members reading Polish see the English name."),
            "name_ro": _("Empty: members reading Romanian see the English name."),
            "benefits_en": _("One benefit per line, e.g. \"Free delivery\". Members see the list."),
            "benefits_pl": _("Empty: the English list is shown."),
            "benefits_ro": _("Empty: the English list is shown."),
            "code": _("A short code for program files and the API: letters, digits, - and _, e.g. gold."),
            "rank": _("Orders the tiers: a higher rank is a better tier. Each tier has its own rank."),
            "multiplier": _("The base points of every purchase are multiplied by this: 1 gives no extra, "
                            "1.5 gives half as many again, 2 doubles them. At least 1."),
            "fee": _("Paid tiers only: the price of one period, in the program currency."),
            "period_months": _("Paid tiers only: how many months one fee grants the tier. "
                               "A renewal adds this to the period still running."),
        }
        widgets = {
            "benefits_en": forms.Textarea(attrs={"rows": 3}),
            "benefits_pl": forms.Textarea(attrs={"rows": 3}),
            "benefits_ro": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, program: Program | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name_en"].required = True
        multiplier = self.fields["multiplier"]  # clean_multiplier says "below 1" in words
        multiplier.validators = [item for item in multiplier.validators if not isinstance(item, MinValueValidator)]
        threshold = self.fields["threshold"]
        if program is not None and program.tier_metric == "points":
            threshold.label = _("Threshold (points)")
            threshold.help_text = _(
                "Tiers reached by points only: the points a member must earn over the last %(months)d months "
                "to reach this tier. Each higher tier needs more. Leave empty for a paid tier."
            ) % {"months": program.tier_window_months}
        else:
            threshold.label = _("Threshold (spend)")
            threshold.help_text = _(
                "Tiers reached by spending only: what a member must spend (less refunds) over the last "
                "%(months)d months to reach this tier. Each higher tier needs more. Leave empty for a paid tier."
            ) % {"months": program.tier_window_months if program else 12}
        for name in ("threshold", "fee", "multiplier"):
            self.fields[name].widget.attrs.update({"min": "0", "step": "any", "inputmode": "decimal"})
            value = self.initial.get(name)
            if isinstance(value, Decimal):
                self.initial[name] = value.normalize() if value != value.to_integral() else value.quantize(1)
        self.helper = NoTagHelper()
        self.helper.layout = Layout(
            Fieldset(
                _("Name and benefits"),
                *(Div(Div(f"name_{code}", css_class="col-md-4"), css_class="row") for code, _label in LANGUAGES),
                *(f"benefits_{code}" for code, _label in LANGUAGES),
            ),
            Fieldset(
                _("Place in the program"),
                Div(Div("code", css_class="col-md-6"), Div("rank", css_class="col-md-6"), css_class="row"),
                "multiplier",
            ),
            Fieldset(
                _("How a member gets it"),
                HTML(format_html('<p class="small">{}</p>', gettext(
                    "A tier is either reached by spending (or earning points) over the qualification window, "
                    "with a threshold, or bought for a period, with a fee. Fill in the fields of one kind only."
                ))),
                "is_paid", "threshold",
                Div(Div("fee", css_class="col-md-6"), Div("period_months", css_class="col-md-6"), css_class="row"),
            ),
        )


    def clean_multiplier(self) -> Decimal | None:
        value = self.cleaned_data.get("multiplier")
        if value is not None and value < 1:
            raise forms.ValidationError(MULTIPLIER_BELOW_ONE, code="multiplier_below_one")
        return value


class VipFeeForm(forms.Form):
    """A paid-tier fee recorded by staff (owner, manager). ``idempotency_key``
    is drawn at each rendering: sending the same form twice records one fee."""

    tier = forms.ModelChoiceField(label=_("Paid tier"), queryset=Tier.objects.none(), empty_label=None)
    amount = forms.DecimalField(
        label=_("Amount paid"), required=False, min_value=Decimal("0.01"), max_digits=12,
        help_text=_("Empty: the tier's fee."), widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    reference = forms.CharField(
        label=_("Receipt or payment reference (optional)"), required=False, max_length=60,
        help_text=_("The same reference is never charged twice."),
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=40)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tier"].queryset = paid_tiers()
        self.fields["tier"].label_from_instance = tier_fee_label
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)
        self.helper = NoTagHelper()

    def clean_idempotency_key(self) -> str:
        try:
            return uuid.UUID(hex=self.cleaned_data["idempotency_key"]).hex
        except ValueError:
            raise forms.ValidationError(_("This form is damaged; reload the page."), code="bad_key") from None

    def external_id(self) -> str:
        return self.cleaned_data["reference"].strip() or f"staff-vip:{self.cleaned_data['idempotency_key']}"


def tier_fee_label(tier: Tier) -> str:
    return ngettext(
        "%(tier)s: %(fee)s for %(months)d month", "%(tier)s: %(fee)s for %(months)d months", tier.period_months or 0,
    ) % {"tier": tier.name, "fee": money_format(tier.fee, program_get().currency), "months": tier.period_months}


class TillVipFeeForm(_TillForm):
    """A paid-tier fee taken at the till: the tier and the receipt number."""

    prefix = "vip"

    tier = forms.ModelChoiceField(
        label=_("Paid tier"), queryset=Tier.objects.none(), empty_label=None, widget=forms.RadioSelect,
    )
    receipt = forms.CharField(
        label=_("Receipt number (optional)"), required=False, max_length=60,
        help_text=_("Typing it makes sure the same receipt never pays for the tier twice."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True, "class": "form-control-lg"}),
    )

    def __init__(self, *args, tiers: list[Tier], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tier"]
        field.queryset = Tier.objects.filter(pk__in=[tier.pk for tier in tiers])
        field.label_from_instance = tier_fee_label
        field.choices = [(tier.pk, tier_fee_label(tier)) for tier in tiers]  # no second query
        if len(tiers) == 1 and not self.is_bound:
            self.initial["tier"] = tiers[0].pk

    def external_id(self) -> str:
        return self.cleaned_data["receipt"].strip() or f"till-vip:{self.cleaned_data['token'].id}"
