"""Forms of the earning-rule pages: the rule itself, the list filter and the simulator.

The rule form checks the shape of the input and refuses settings that
contradict each other; ``EarnRule.clean`` (run by ``rule_save``) holds the
model's own checks, whose errors land on the same fields.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from crispy_forms.bootstrap import InlineCheckboxes
from crispy_forms.layout import Div, Fieldset, Layout
from django import forms
from django.apps import apps
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.forms.common import NoTagHelper
from loyalty.models import EarnRule, Store, Tier
from loyalty.segments import segments_unknown

WEEKDAYS = [
    (0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")),
    (4, _("Friday")), (5, _("Saturday")), (6, _("Sunday")),
]
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class ZonedDateTimeField(forms.DateTimeField):
    """A date and time entered and shown in ``tz`` (the program's zone), stored aware.

    A time that does not exist in ``tz`` (skipped when clocks go forward) or
    happens twice (when they go back) is refused with Django's message.
    """

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL)

    def __init__(self, *, tz: ZoneInfo | None = None, **kwargs) -> None:
        self.tz = tz
        super().__init__(**kwargs)

    def prepare_value(self, value):
        with timezone.override(self.tz or timezone.get_current_timezone()):
            return super().prepare_value(value)

    def to_python(self, value):
        with timezone.override(self.tz or timezone.get_current_timezone()):
            return super().to_python(value)


class NaiveDateTimeField(forms.DateTimeField):
    """A wall-clock date and time whose zone the form decides later (the chosen store's)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL)

    def to_python(self, value):
        with timezone.override(dt.UTC):
            result = super().to_python(value)
        return result.replace(tzinfo=None) if result is not None else None


class CommaListField(forms.CharField):
    """Names (or ids, with ``coerce=int``) separated by commas, kept as a list without repeats."""

    def __init__(self, *, coerce=str, **kwargs) -> None:
        self.coerce = coerce
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value) -> list:
        if isinstance(value, list | tuple):
            return list(value)
        text = super().to_python(value)
        items: list = []
        for part in text.replace("\n", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if self.coerce is int:
                if not part.isdigit() or int(part) <= 0:
                    raise forms.ValidationError(
                        _("%(value)s is not an id: give whole numbers above zero, separated by commas."),
                        code="invalid_id", params={"value": part},
                    )
                part = int(part)
            elif len(part) > 64:
                raise forms.ValidationError(
                    _("%(value)s is longer than 64 characters."), code="too_long", params={"value": part[:20] + "…"},
                )
            if part not in items:
                items.append(part)
        return items


def _checkbox_list() -> forms.CheckboxSelectMultiple:
    return forms.CheckboxSelectMultiple()


class EarnRuleForm(forms.ModelForm):
    """A rule, created or changed. ``status`` is offered only for a new rule
    (active, or paused to try it in the simulator first); later it changes
    through the pause, resume and archive buttons."""

    status = forms.ChoiceField(
        label=_("Start"),
        choices=[(EarnRule.Status.ACTIVE, _("Active at once")), (EarnRule.Status.PAUSED, _("Paused"))],
        initial=EarnRule.Status.PAUSED,
        help_text=_("A paused rule gives no points until you resume it; try it in the simulator meanwhile."),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Days of the week"), choices=WEEKDAYS, coerce=int, required=False, widget=_checkbox_list(),
        help_text=_("In the store's time zone. None ticked means every day."),
    )
    stores = forms.ModelMultipleChoiceField(
        label=_("Stores"), queryset=Store.objects.order_by("name", "pk"), required=False, widget=_checkbox_list(),
        help_text=_("None ticked means every store."),
        error_messages={"invalid_choice": _("%(value)s is not a store of the program; reload the page.")},
    )
    tiers = forms.ModelMultipleChoiceField(
        label=_("Tiers"), queryset=Tier.objects.filter(archived=False).order_by("rank"), required=False,
        widget=_checkbox_list(),
        help_text=_("Only members on a ticked tier earn this rule. "
                    "None ticked means every member, with or without a tier."),
        error_messages={"invalid_choice": _("%(value)s is not a tier of the program; reload the page.")},
    )
    categories = CommaListField(
        label=_("Product categories"),
        help_text=_("Separated by commas, e.g. coffee, tea. The rule counts only lines of these categories "
                    "(or of the SKUs below). Empty: the whole purchase."),
    )
    skus = CommaListField(
        label=_("SKUs"), help_text=_("Product codes separated by commas, e.g. BEANS-1KG, MUG-01."),
    )
    segments = CommaListField(
        label=_("Segments"), coerce=int,
        help_text=_("Ids of saved segments (Analytics, Segments) separated by commas; the member must be "
                    "in one of them. Empty: everyone."),
    )

    class Meta:
        model = EarnRule
        fields = [
            "name", "status", "kind", "value", "stamps_needed", "reward",
            "starts_at", "ends_at", "weekdays", "hours_start", "hours_end",
            "stores", "tiers", "segments", "first_purchase_only", "birthday_week",
            "categories", "skus", "min_spend",
            "priority", "mode", "group",
            "member_cap", "member_cap_period", "budget",
        ]
        widgets = {
            "hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "value": forms.NumberInput(attrs={"step": "any", "min": "0"}),
            "min_spend": forms.NumberInput(attrs={"step": "any", "min": "0"}),
        }
        help_texts = {
            "name": _("Members and cashiers see it beside the points it gives, e.g. Double points weekend."),
            "kind": _("How the rule's points are counted; the value below is read accordingly."),
            "hours_start": _("With the end below: only purchases at these hours, in the store's time zone."),
            "min_spend": _("The purchase's amount must be at least this. Empty: any amount."),
            "first_purchase_only": _("Only the member's first purchase earns this rule."),
            "mode": _("Stacks: adds to every other rule. Exclusive: the rules below it in priority do not apply. "
                      "Best of its group: of the rules in the same group, only the one giving most applies."),
            "group": _("For \"best of its group\": rules with the same group name compete."),
            "member_cap_period": _("The period the cap per member counts in. Leave \"while the rule runs\" "
                                   "when there is no cap."),
        }

    def __init__(self, *args, tz: ZoneInfo, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz
        zone = str(tz)
        self.fields["starts_at"] = ZonedDateTimeField(
            tz=tz, label=_("Starts at"), required=False,
            help_text=_("In the program's time zone (%(zone)s). Empty: as soon as the rule is active.")
            % {"zone": zone},
        )
        self.fields["ends_at"] = ZonedDateTimeField(
            tz=tz, label=_("Ends at"), required=False,
            help_text=_("In the program's time zone (%(zone)s); purchases from this minute on no longer count. "
                        "Empty: no end.") % {"zone": zone},
        )
        for name in ("starts_at", "ends_at"):
            value = self.initial.get(name)
            if isinstance(value, dt.datetime):
                self.initial[name] = value.astimezone(tz).replace(tzinfo=None)
        for name in ("value", "min_spend"):
            value = self.initial.get(name)
            if isinstance(value, Decimal):  # 2.00 → 2, 1.50 → 1.5
                self.initial[name] = value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
        self.fields["value"].required = False  # 0 for a stamp card that gives a voucher (see clean)
        self.fields["value"].help_text = _(
            "The multiplier (2 doubles the base points), the points per unit, the fixed points, the extra "
            "percent of spend, or the points a full stamp card gives. Leave it empty for a stamp card that "
            "gives a voucher."
        )
        self._reward_field()
        if self.instance.pk:
            del self.fields["status"]
        if not self.fields["tiers"].queryset.exists():  # no tiers configured: nothing to choose
            del self.fields["tiers"]
        self.helper = NoTagHelper()
        self.helper.layout = Layout(
            Fieldset(_("What the rule gives"), "name", *(["status"] if "status" in self.fields else []),
                     "kind", "value", "stamps_needed", "reward"),
            Fieldset(
                _("When"),
                Div(Div("starts_at", css_class="col-md-6"), Div("ends_at", css_class="col-md-6"), css_class="row"),
                InlineCheckboxes("weekdays"),
                Div(Div("hours_start", css_class="col-md-6"), Div("hours_end", css_class="col-md-6"), css_class="row"),
            ),
            Fieldset(_("Who and where"), "stores", *(["tiers"] if "tiers" in self.fields else []), "segments",
                     "first_purchase_only", "birthday_week"),
            Fieldset(_("What is bought"), "categories", "skus", "min_spend"),
            Fieldset(_("Stacking with other rules"), "priority", "mode", "group"),
            Fieldset(_("Limits"), "member_cap", "member_cap_period", "budget"),
        )

    def clean_segments(self) -> list[int]:
        """Only ids of saved segments that are not archived (``loyalty.segments`` asks analytics)."""
        ids = self.cleaned_data["segments"]
        unknown = sorted(segments_unknown(ids))
        if unknown:
            raise forms.ValidationError(
                ngettext(
                    "%(ids)s is not the id of a saved segment (or the segment is archived).",
                    "%(ids)s are not ids of saved segments (or the segments are archived).",
                    len(unknown),
                ) % {"ids": ", ".join(str(item) for item in unknown)},
                code="unknown_segments",
            )
        return ids

    def _reward_field(self) -> None:
        """The rewards a full stamp card may give: the catalog's active rewards, and the
        rule's own reward even if it was archived since (read through the app registry:
        ``loyalty`` never imports ``rewards``)."""
        reward_model = apps.get_model("rewards", "Reward")
        offered = Q(status=reward_model.Status.ACTIVE)
        if self.instance.reward_id is not None:
            offered |= Q(pk=self.instance.reward_id)
        field = self.fields["reward"]
        field.queryset = reward_model.objects.filter(offered).order_by("name", "pk")
        field.label = _("Voucher for a full card")
        field.empty_label = _("No voucher: the card gives the points above")
        field.help_text = _(
            "Stamp cards only. With a reward chosen, each full card gives the member a voucher for it (in their "
            "wallet at once) instead of points: leave the value empty or 0, and no points cap or budget. "
            "A refund takes stamps back but never a voucher already given."
        )
        field.error_messages["invalid_choice"] = _("Choose a reward of the catalog that is not archived.")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("value") is None and "value" not in self.errors:
            if data.get("reward") is not None and data.get("kind") == EarnRule.Kind.STAMPS:
                data["value"] = Decimal(0)
            else:
                self.add_error("value", forms.ValidationError(
                    _("Give the value: what the rule gives."), code="required",
                ))
        return data


class RuleFilterForm(forms.Form):
    CURRENT = ""
    ALL = "all"
    STATUS_CHOICES = [
        (CURRENT, _("Active and paused")), (EarnRule.Status.ACTIVE, _("Active")),
        (EarnRule.Status.PAUSED, _("Paused")), (EarnRule.Status.ARCHIVED, _("Archived")), (ALL, _("All")),
    ]

    status = forms.ChoiceField(label=_("Show"), choices=STATUS_CHOICES, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()

    def statuses(self) -> list[str]:
        value = self.cleaned_data.get("status", "") if self.is_valid() else ""
        if value == self.ALL:
            return []
        if value == self.CURRENT:
            return [EarnRule.Status.ACTIVE, EarnRule.Status.PAUSED]
        return [value]


# -- the simulator ---------------------------------------------------------------


@dataclass(frozen=True)
class BasketLine:
    sku: str
    category: str
    quantity: Decimal
    amount: Decimal


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


class BasketLinesField(forms.CharField):
    """Lines typed one per row as ``sku; category; quantity; amount`` (category may
    be empty; quantity and amount use a dot or a comma for decimals)."""

    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"})

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)  # keep the row numbers as typed
        super().__init__(**kwargs)

    def to_python(self, value) -> list[BasketLine]:
        text = super().to_python(value)
        lines: list[BasketLine] = []
        for number, row in enumerate(text.splitlines(), start=1):
            if not row.strip():
                continue
            cells = [cell.strip() for cell in row.split(";")]
            if len(cells) != 4 or not cells[0]:
                raise forms.ValidationError(
                    _("Row %(row)d: give sku; category; quantity; amount (four parts separated by semicolons)."),
                    code="bad_row", params={"row": number},
                )
            quantity, amount = _decimal(cells[2]), _decimal(cells[3])
            if quantity is None or quantity <= 0:
                raise forms.ValidationError(
                    _("Row %(row)d: the quantity %(value)s is not a number above zero."),
                    code="bad_quantity", params={"row": number, "value": cells[2]},
                )
            if amount is None or amount < 0:
                raise forms.ValidationError(
                    _("Row %(row)d: the amount %(value)s is not a number of zero or more."),
                    code="bad_amount", params={"row": number, "value": cells[3]},
                )
            lines.append(BasketLine(sku=cells[0][:64], category=cells[1][:64], quantity=quantity, amount=amount))
        return lines


class SimulateForm(forms.Form):
    """A basket to try the rules on. ``draft`` marks that the rule being edited
    (kept in the session) takes part."""

    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.order_by("name", "pk"), empty_label=None,
        help_text=_("Rules limited to stores, days or hours look at this store and its time zone."),
    )
    purchased_at = NaiveDateTimeField(
        label=_("Date and time"), help_text=_("In the store's time zone."),
    )
    amount = forms.DecimalField(
        label=_("Amount"), min_value=Decimal("0.01"), max_digits=12, decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
    )
    lines = BasketLinesField(
        label=_("Lines (optional)"),
        help_text=_("One product per row: sku; category; quantity; amount, e.g. BEANS-1KG; coffee; 2; 59.80. "
                    "Rules on categories and SKUs look at these."),
    )
    card = forms.CharField(
        label=_("Member card number (optional)"), required=False, max_length=32,
        help_text=_("The member's tier, segments, stamp cards, first purchase and birthday then count."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}),
    )
    tier = forms.ModelChoiceField(
        label=_("Tier"), required=False, queryset=Tier.objects.filter(archived=False).order_by("rank"),
        empty_label=_("The member's own tier (none without a member)"),
        help_text=_("Try the basket as if the member (or an anonymous customer) were on this tier."),
    )
    include = forms.ModelMultipleChoiceField(
        label=_("Paused rules to include"), required=False, queryset=EarnRule.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Active rules always count; tick paused rules to see what they would add."),
    )
    caps = forms.BooleanField(
        label=_("Apply what is left of caps and budgets"), required=False,
        help_text=_("Off: what the rules give. On: less where a member's cap or a budget is nearly spent."),
    )
    draft = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, paused=None, find_member=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if paused is not None:
            self.fields["include"].queryset = paused
        if not self.fields["include"].queryset.exists():
            del self.fields["include"]
        self.find_member = find_member
        self.helper = NoTagHelper()

    def clean_card(self):
        card = "".join(self.cleaned_data["card"].split())
        if not card:
            return None
        member = self.find_member(card) if self.find_member else None
        if member is None:
            raise forms.ValidationError(
                _("No member has the card number %(card)s."), code="unknown_card", params={"card": card},
            )
        return member

    def clean(self) -> dict:
        data = super().clean()
        store, naive = data.get("store"), data.get("purchased_at")
        if store is not None and naive is not None:
            aware = naive.replace(tzinfo=store.tz)
            if aware.astimezone(dt.UTC).astimezone(store.tz).replace(tzinfo=None) != naive:
                self.add_error("purchased_at", gettext(
                    "%(time)s does not exist in %(zone)s (the clocks go forward then)."
                ) % {"time": naive.strftime("%Y-%m-%d %H:%M"), "zone": store.timezone})
            else:
                data["purchased_at"] = aware
        lines, amount = data.get("lines"), data.get("amount")
        if lines and amount is not None:
            total = sum((line.amount for line in lines), Decimal(0))
            if total > amount:
                self.add_error("lines", gettext(
                    "The lines add up to %(total)s, more than the amount %(amount)s."
                ) % {"total": total, "amount": amount})
        return data
