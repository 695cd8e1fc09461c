"""The what-if form: which change to try and its values, on one server-rendered
page that works without JavaScript (every group of fields is shown; only the
chosen change's are read). The scenario it builds is checked by
``analytics.whatif.scenario_from_data``, whose errors come back on the field
they name.
"""

from __future__ import annotations

from typing import Any

from crispy_forms.layout import Fieldset, Layout
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from analytics.whatif import NEVER, scenario_from_data
from loyalty.forms.common import NoTagHelper
from loyalty.forms.rules import WEEKDAYS
from loyalty.models import EarnRule, Program, Tier

CHANGES = [
    ("earn_rate", _("Earn rate")),
    ("point_value", _("Point value")),
    ("expiry", _("Expiry of points")),
    ("rule_change", _("Change an earning rule's value")),
    ("rule_add", _("Add an earning rule")),
    ("rule_remove", _("Remove an active earning rule")),
    ("tiers", _("Tier thresholds")),
]
# Where an error of the scenario (keyed as ``scenario_from_data`` keys it) is shown.
ERROR_FIELDS = {
    "earn_rate": "earn_rate", "point_value": "point_value", "expiry_months": "expiry_months",
    "rule.name": "new_rule_name", "rule.kind": "new_rule_kind", "rule.categories": "new_rule_categories",
    "rule.weekdays": "new_rule_weekdays",
}


class WhatIfForm(forms.Form):
    change = forms.ChoiceField(label=_("What to change"), choices=CHANGES, widget=forms.RadioSelect)
    earn_rate = forms.DecimalField(
        label=_("New earn rate"), required=False, min_value=0, max_digits=8, decimal_places=4,
        help_text=_("Points per 1.00 spent, rounded down per purchase."),
    )
    point_value = forms.DecimalField(
        label=_("New point value"), required=False, min_value=0, max_digits=10, decimal_places=4,
        help_text=_("What one point is worth; changes the liability only."),
    )
    expiry_months = forms.IntegerField(
        label=_("Points expire after (months)"), required=False, min_value=1, max_value=240,
        help_text=_("Applies to points earned in the replayed year; points earned before keep their expiry."),
    )
    expiry_never = forms.BooleanField(label=_("Points never expire"), required=False)
    rule = forms.ModelChoiceField(
        label=_("Rule"), required=False, queryset=EarnRule.objects.none(),
        help_text=_("To change: a paused rule counts as running, with the new value. To remove: an active rule."),
    )
    rule_value = forms.DecimalField(label=_("New value of the rule"), required=False, max_digits=10,
                                    decimal_places=2)
    new_rule_name = forms.CharField(label=_("Name of the new rule"), required=False, max_length=120)
    new_rule_kind = forms.ChoiceField(
        label=_("Kind of the new rule"), required=False, choices=[("", "---------"), *EarnRule.Kind.choices],
    )
    new_rule_value = forms.DecimalField(label=_("Value of the new rule"), required=False, max_digits=10,
                                        decimal_places=2)
    new_rule_categories = forms.CharField(
        label=_("Product categories of the new rule"), required=False,
        help_text=_("Separated by commas; empty: the whole purchase."),
    )
    new_rule_weekdays = forms.TypedMultipleChoiceField(
        label=_("Days of the week of the new rule"), choices=WEEKDAYS, coerce=int, required=False,
        widget=forms.CheckboxSelectMultiple, help_text=_("None ticked means every day."),
    )

    def __init__(self, *args: Any, program: Program | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rule"].queryset = EarnRule.objects.exclude(status=EarnRule.Status.ARCHIVED).order_by("name")
        self.tiers = list(Tier.objects.filter(is_paid=False, archived=False, threshold__isnull=False).order_by("rank"))
        for tier in self.tiers:
            self.fields[f"tier_{tier.pk}"] = forms.DecimalField(
                label=_("Threshold of %(tier)s") % {"tier": tier.name}, required=False, min_value=0,
                max_digits=14, decimal_places=2, initial=tier.threshold,
            )
        if program is not None:
            self.fields["earn_rate"].initial = program.earn_rate
            self.fields["point_value"].initial = program.point_value
            self.fields["expiry_months"].initial = program.expiry_months
        self.scenario: dict = {}
        self.helper = NoTagHelper()
        self.helper.layout = Layout(
            "change",
            Fieldset(_("Earn rate"), "earn_rate"),
            Fieldset(_("Point value"), "point_value"),
            Fieldset(_("Expiry of points"), "expiry_months", "expiry_never"),
            Fieldset(_("Change or remove a rule"), "rule", "rule_value"),
            Fieldset(_("Add a rule"), "new_rule_name", "new_rule_kind", "new_rule_value", "new_rule_categories",
                     "new_rule_weekdays"),
            *([Fieldset(_("Tier thresholds"), *(f"tier_{tier.pk}" for tier in self.tiers))] if self.tiers else []),
        )

    def clean(self) -> dict:
        data = super().clean()
        change = data.get("change")
        if not change or self.errors:
            return data
        scenario: dict[str, Any] = {}
        if change == "earn_rate":
            self._require("earn_rate")
            scenario["earn_rate"] = data.get("earn_rate")
        elif change == "point_value":
            self._require("point_value")
            scenario["point_value"] = data.get("point_value")
        elif change == "expiry":
            if data.get("expiry_never"):
                scenario["expiry_months"] = NEVER
            else:
                self._require("expiry_months")
                scenario["expiry_months"] = data.get("expiry_months")
        elif change in ("rule_change", "rule_remove"):
            self._require("rule")
            rule = data.get("rule")
            if change == "rule_change":
                self._require("rule_value")
                scenario["rule"] = {"action": "change", "id": rule.pk if rule else None,
                                    "fields": {"value": str(data.get("rule_value"))}}
            else:
                scenario["rule"] = {"action": "remove", "id": rule.pk if rule else None}
        elif change == "rule_add":
            fields = {"name": data.get("new_rule_name") or "", "kind": data.get("new_rule_kind") or "",
                      "value": "" if data.get("new_rule_value") is None else str(data["new_rule_value"]),
                      "categories": data.get("new_rule_categories") or "",
                      "weekdays": data.get("new_rule_weekdays") or []}
            scenario["rule"] = {"action": "add", "fields": fields}
        elif change == "tiers":
            scenario["tier_thresholds"] = {
                str(tier.pk): str(data[f"tier_{tier.pk}"]) for tier in self.tiers
                if data.get(f"tier_{tier.pk}") is not None
            }
        if self.errors:
            return data
        scenario = {key: str(value) if key in ("earn_rate", "point_value") else value
                    for key, value in scenario.items()}
        try:
            scenario_from_data(scenario)
        except ValidationError as error:
            self._add_scenario_errors(error, change)
            return data
        self.scenario = scenario
        return data

    def _require(self, name: str) -> None:
        if self.cleaned_data.get(name) in (None, ""):
            self.add_error(name, forms.ValidationError(_("Give a value for this change."), code="required"))

    def _add_scenario_errors(self, error: ValidationError, change: str) -> None:
        for key, messages in error.message_dict.items():
            target = ERROR_FIELDS.get(key)
            if key == "rule":
                target = "rule" if change != "rule_add" else None
            elif key == "rule.value":
                target = "rule_value" if change == "rule_change" else "new_rule_value"
            elif key == "tier_thresholds" and self.tiers:
                target = f"tier_{self.tiers[0].pk}"
            for message in messages:
                self.add_error(target if target in self.fields else None, message)
