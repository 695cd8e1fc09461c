"""Forms of the staff catalog pages: a reward, a charity, a partner codes file,
the list filter.

The forms check the shape of the input; ``rewards.services.catalog`` checks
the reward as a whole and its errors land on the same fields. Model
validation is left to the service (``_post_clean`` does nothing), so each
problem is reported once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crispy_forms.layout import HTML, Div, Fieldset, Layout
from django import forms
from django.db.models import Q
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.forms.common import NoTagHelper
from loyalty.forms.rules import ZonedDateTimeField
from loyalty.models import Program, Tier
from rewards.models import Charity, Reward
from rewards.services.catalog import CHARITY_FIELDS, KIND_FIELDS, REWARD_FIELDS

LANGUAGES = (("en", _("English")), ("pl", _("Polish")), ("ro", _("Romanian")))
PARTNER_FILE_MAX_BYTES = 10 * 1024 * 1024

KIND_HELP = {
    Reward.Kind.AMOUNT: _("takes a fixed amount off a purchase"),
    Reward.Kind.PERCENT: _("takes a percent off a purchase, up to an optional cap"),
    Reward.Kind.PRODUCT: _("a product given free at the till, by SKU"),
    Reward.Kind.EVENT: _("a place at an experience or event, with a capacity"),
    Reward.Kind.DONATION: _("the points become a donation to a charity, given at once"),
    Reward.Kind.PARTNER: _("a partner's code, handed out one per redemption from a pool you upload"),
}


def _plain(value: Decimal) -> Decimal:
    """``2.00`` → ``2``, ``1.50`` → ``1.5`` for the form's initial values."""
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


def _kinds(field: str) -> str:
    """The ``data-kinds`` of a kind-specific field's box, for the form's script."""
    return " ".join(sorted(KIND_FIELDS[field]))


class RewardForm(forms.ModelForm):
    """A reward, created or changed. Name and description in each language;
    the fields of one kind are marked (``data-kinds``) so the page's script
    shows only those of the chosen kind; without the script all are shown,
    each saying which kind uses it. On an existing reward the code is fixed,
    and so is the kind once vouchers exist."""

    stock_seen = forms.IntegerField(required=False, widget=forms.HiddenInput)
    image = forms.FileField(
        label=_("Image"), required=False,
        help_text=_("A JPEG, PNG, WebP or GIF of at most 5 MB. It is shrunk to fit 1200 × 1200 pixels and saved "
                    "as JPEG without its metadata (camera, place)."),
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"}),
    )
    remove_image = forms.BooleanField(label=_("Remove the image"), required=False)

    class Meta:
        model = Reward
        fields = [f for f in REWARD_FIELDS if f not in ("event_at", "available_from", "available_until")]
        labels = {
            "name_en": _("Name (English)"), "name_pl": _("Name (Polish)"), "name_ro": _("Name (Romanian)"),
            "description_en": _("Description (English)"), "description_pl": _("Description (Polish)"),
            "description_ro": _("Description (Romanian)"),
            "in_catalog": _("In the catalog (members redeem it for points)"),
            "sku": _("SKU of the product"),
            "stock": _("Stock left"),
        }
        help_texts = {
            "name_en": _("Members see it in the catalog and on their voucher, e.g. Free cappuccino."),
            "name_pl": _("Empty: members reading Polish see the English name."),
            "name_ro": _("Empty: members reading Romanian see the English name."),
            "description_en": _("A sentence or two: what the member gets and how to use it."),
            "description_pl": _("Empty: the English description is shown."),
            "description_ro": _("Empty: the English description is shown."),
            "code": _("A short code for addresses, program files and the API: lower-case letters, digits, - and _, "
                      "e.g. free-cappuccino. It cannot change later."),
            "points_cost": _("The points a member pays for one voucher."),
            "value": _("Discount amount: the amount taken off. Discount percent: the percent, above 0 and at most "
                       "100. Charity donation: the amount each donation gives."),
            "max_discount": _("Discount percent only: the most one voucher takes off. Empty: no cap."),
            "sku": _("Free product only: the product code the till hands over."),
            "place": _("Events only: where it takes place, e.g. the shop's address."),
            "charity": _("Charity donations only: who receives the donations."),
            "min_tier": _("Members below this tier see it but cannot redeem it. Empty: every member."),
            "stock": _("How many are left to redeem; empty for unlimited. Events: the places left. "
                       "Redemptions take one each; cancelled vouchers give it back. Partner rewards have none: "
                       "their stock is the codes not handed out yet."),
            "member_limit": _("The most one member may redeem in each period; empty for no limit."),
            "voucher_valid_days": _("How long a voucher can be used after it is issued; empty for no end. "
                                    "An event's vouchers are valid until the end of the event's day."),
        }
        widgets = {
            "description_en": forms.Textarea(attrs={"rows": 3}),
            "description_pl": forms.Textarea(attrs={"rows": 3}),
            "description_ro": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, program: Program | None, kind_locked: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        tz = program.tz if program is not None else ZoneInfo("UTC")
        zone = str(tz)
        self.tz = tz
        editing = self.instance.pk is not None
        self.fields["name_en"].required = True
        self.fields["kind"].help_text = format_html(
            "{}<br>{}", gettext("What members get; the fields below follow the kind."),
            format_html_join(mark_safe("<br>"), "{}: {}.", (
                (label, KIND_HELP[value]) for value, label in Reward.Kind.choices
            )),
        )
        self.fields["kind"].choices = Reward.Kind.choices  # no empty choice: a discount amount to start with
        self.fields["event_at"] = ZonedDateTimeField(
            tz=tz, label=_("Event starts at"), required=False,
            help_text=_("Events only, in the program's time zone (%(zone)s).") % {"zone": zone},
        )
        self.fields["available_from"] = ZonedDateTimeField(
            tz=tz, label=_("Redeemable from"), required=False,
            help_text=_("In the program's time zone (%(zone)s). Empty: at once.") % {"zone": zone},
        )
        self.fields["available_until"] = ZonedDateTimeField(
            tz=tz, label=_("Redeemable until"), required=False,
            help_text=_("In the program's time zone (%(zone)s); from this minute on it can no longer be "
                        "redeemed. Empty: no end.") % {"zone": zone},
        )
        if program is not None:
            for name in ("value", "max_discount"):
                self.fields[name].label = {
                    "value": gettext("Value (%(currency)s, or percent)"),
                    "max_discount": gettext("Largest discount (%(currency)s)"),
                }[name] % {"currency": program.currency}
        for name in ("event_at", "available_from", "available_until"):
            value = getattr(self.instance, name) if editing else None
            if isinstance(value, dt.datetime):
                self.initial[name] = value.astimezone(tz).replace(tzinfo=None)
        for name in ("value", "max_discount"):
            value = self.initial.get(name)
            if isinstance(value, Decimal):
                self.initial[name] = _plain(value)
            self.fields[name].widget.attrs.update({"min": "0", "step": "any", "inputmode": "decimal"})
        tiers = Q(archived=False)
        charities = Q(active=True)
        if editing and self.instance.min_tier_id:
            tiers |= Q(pk=self.instance.min_tier_id)
        if editing and self.instance.charity_id:
            charities |= Q(pk=self.instance.charity_id)
        self.fields["min_tier"].queryset = Tier.objects.filter(tiers).order_by("rank")
        self.fields["min_tier"].empty_label = gettext("Every member")
        self.fields["charity"].queryset = Charity.objects.filter(charities).order_by("name", "pk")
        if editing:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = gettext("Program files and links name the reward by it; it cannot change.")
            self.initial["stock_seen"] = self.instance.stock
        if kind_locked:
            self.fields["kind"].disabled = True
            self.fields["kind"].help_text = gettext(
                "Vouchers were issued for this reward, so its kind cannot change."
            )
        if not (editing and self.instance.image):
            del self.fields["remove_image"]
        self.helper = NoTagHelper()
        self.helper.layout = Layout(
            Fieldset(
                _("Name and description"),
                Div(*(Div(f"name_{code}", css_class="col-md-4") for code, _label in LANGUAGES), css_class="row"),
                *(f"description_{code}" for code, _label in LANGUAGES),
            ),
            Fieldset(
                _("Kind and price"),
                Div(Div("code", css_class="col-md-6"), Div("kind", css_class="col-md-6"), css_class="row"),
                Div(Div("points_cost", css_class="col-md-6"), Div("min_tier", css_class="col-md-6"), css_class="row"),
                "in_catalog",
            ),
            Fieldset(
                _("What it gives"),
                Div("value", data_kinds=_kinds("value"), css_class="kind-field"),
                Div("max_discount", data_kinds=_kinds("max_discount"), css_class="kind-field"),
                Div("sku", data_kinds=_kinds("sku"), css_class="kind-field"),
                Div(
                    Div("event_at", css_class="col-md-6"), Div("place", css_class="col-md-6"),
                    css_class="row kind-field", data_kinds=_kinds("event_at"),
                ),
                Div("charity", data_kinds=_kinds("charity"), css_class="kind-field"),
                HTML(format_html(
                    '<p class="small kind-field" data-kinds="partner">{}</p>',
                    gettext("Partner rewards: upload the partner's codes on the reward's code page after saving."),
                )),
            ),
            Fieldset(
                _("Stock, limits and dates"),
                Div("stock", "stock_seen", data_kinds=_kinds("stock"), css_class="kind-field"),
                Div(
                    Div("member_limit", css_class="col-md-6"), Div("member_limit_period", css_class="col-md-6"),
                    css_class="row",
                ),
                Div(
                    Div("available_from", css_class="col-md-6"), Div("available_until", css_class="col-md-6"),
                    css_class="row",
                ),
                "voucher_valid_days",
            ),
            Fieldset(
                _("Image"),
                "image",
                *(["remove_image"] if "remove_image" in self.fields else []),
            ),
        )

    def _post_clean(self) -> None:
        """The service checks the reward as a whole (see the module docstring)."""

    def reward_data(self) -> dict[str, Any]:
        """The cleaned fields as ``reward_save`` takes them (the code only for a new reward)."""
        data = {name: self.cleaned_data[name] for name in REWARD_FIELDS if name in self.cleaned_data}
        if self.instance.pk is not None:
            data.pop("code", None)
        if self.fields["kind"].disabled:
            data.pop("kind", None)
        return data


class CharityForm(forms.ModelForm):
    """A charity: its names in each language, its code, whether it takes donations."""

    class Meta:
        model = Charity
        fields = list(CHARITY_FIELDS)
        labels = {
            "name_en": _("Name (English)"), "name_pl": _("Name (Polish)"), "name_ro": _("Name (Romanian)"),
            "active": _("Takes donations"),
        }
        help_texts = {
            "name_en": _("Members see it on donation rewards, e.g. City Animal Shelter."),
            "name_pl": _("Empty: members reading Polish see the English name."),
            "name_ro": _("Empty: members reading Romanian see the English name."),
            "code": _("A short code for program files: lower-case letters, digits, - and _. It cannot change later."),
            "active": _("Clear it to stop donation rewards from choosing this charity. Its totals are kept."),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name_en"].required = True
        if self.instance.pk is not None:
            self.fields["code"].disabled = True
        self.helper = NoTagHelper()
        self.helper.layout = Layout(
            Div(*(Div(f"name_{code}", css_class="col-md-4") for code, _label in LANGUAGES), css_class="row"),
            "code", "active",
        )

    def _post_clean(self) -> None:
        """The service checks the charity (see the module docstring)."""

    def charity_data(self) -> dict[str, Any]:
        data = {name: self.cleaned_data[name] for name in CHARITY_FIELDS if name in self.cleaned_data}
        if self.instance.pk is not None:
            data.pop("code", None)
        return data


class PartnerCodesForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file of codes"),
        help_text=_("UTF-8, one column with the header code, one code per line; at most 10 MB. "
                    "Codes already in the pool are skipped."),
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > PARTNER_FILE_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is %(size)s MB; a file of codes may be at most %(limit)d MB."),
                code="too_large",
                params={"size": f"{upload.size / (1024 * 1024):.1f}", "limit": PARTNER_FILE_MAX_BYTES // 1024 // 1024},
            )
        return upload


class RewardFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False,
        choices=[("", _("Active")), ("archived", _("Archived")), ("all", _("All"))],
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Every kind")), *Reward.Kind.choices])
