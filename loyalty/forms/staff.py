"""Forms of the staff pages: program, stores, purchase filter, adjustments."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.forms.common import NoTagHelper, currency_choices, timezone_choices
from loyalty.models import Program, Store
from members.models import Role

# -- program and stores --------------------------------------------------------


class ProgramForm(forms.ModelForm):
    """The program settings; ``require_staff_2fa`` is shown to the owner only."""

    timezone = forms.ChoiceField(label=_("Time zone"), choices=timezone_choices)
    currency = forms.ChoiceField(label=_("Currency"), choices=currency_choices)

    class Meta:
        model = Program
        fields = [
            "name", "currency", "country", "timezone", "earn_rate", "point_value",
            "return_window_days", "expiry_months", "allow_debt", "require_staff_2fa",
            "tier_metric", "tier_window_months", "tier_grace_days",
        ]
        help_texts = {
            "name": _("Shown to members in the portal and on their card."),
            "require_staff_2fa": _(
                "Owners, managers and marketing staff must set up an authenticator app "
                "before they can use the staff pages. Only the owner can change this."
            ),
        }

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].help_text = Program._meta.get_field("timezone").help_text
        self.fields["currency"].help_text = Program._meta.get_field("currency").help_text
        for name in ("earn_rate", "point_value"):
            value = self.initial.get(name)
            if isinstance(value, Decimal):  # 1.0000 → 1, 0.0100 → 0.01
                self.initial[name] = value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
        self.fields["earn_rate"].widget.attrs.update({"min": "0", "step": "any"})
        self.fields["point_value"].widget.attrs.update({"min": "0", "step": "any"})
        if user.role != Role.OWNER:
            del self.fields["require_staff_2fa"]
        # The tier settings: left out of a request, they keep their stored values.
        for name in ("tier_metric", "tier_window_months", "tier_grace_days"):
            self.fields[name].required = False
        self.fields["tier_metric"].choices = Program._meta.get_field("tier_metric").choices
        self.helper = NoTagHelper()


class StoreForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        label=_("Time zone"), choices=timezone_choices,
        help_text=_("Purchases at this store are shown in this zone."),
    )

    class Meta:
        model = Store
        fields = ["code", "name", "timezone", "is_active"]
        help_texts = {"is_active": _("Inactive stores cannot be chosen at a till.")}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


# -- staff lists -----------------------------------------------------------------


class PurchaseFilterForm(forms.Form):
    WITH_MEMBER = (("", _("All purchases")), ("yes", _("With a member")), ("no", _("Without a member")))

    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.order_by("name"), required=False,
        empty_label=_("All stores"),
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=_("To (included)"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
    )
    member = forms.ChoiceField(label=_("Member"), choices=WITH_MEMBER, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    @property
    def with_member(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.cleaned_data.get("member") or "")


# -- adjustments ---------------------------------------------------------------


class PointsAdjustForm(forms.Form):
    """A manual correction. ``idempotency_key`` is drawn at each rendering, so
    submitting the same rendered form twice adjusts once."""

    points = forms.IntegerField(
        label=_("Points"),
        help_text=_("Positive to add, negative to take away (never below the available balance)."),
        widget=forms.NumberInput(attrs={"step": "1"}),
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=255,
        help_text=_("Recorded in the ledger with your name; the member sees it in their history."),
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=40)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)
        self.helper = NoTagHelper()

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("Give a number of points other than zero."), code="zero")
        return points

    def clean_idempotency_key(self) -> str:
        value = self.cleaned_data["idempotency_key"]
        try:
            return uuid.UUID(hex=value).hex
        except ValueError:
            raise forms.ValidationError(_("This form is damaged; reload the page."), code="bad_key") from None
