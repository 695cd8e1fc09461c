"""The segment editor: a name and description, and rows of conditions (field,
operator, value) as a plain formset that saves without JavaScript
(``static/js/segment-builder.js`` adds rows in place, hides what a field does
not use and shows the live count).

A row's value is typed (dates, numbers, amounts) or chosen from one list of
options grouped by field (RFM groups, tiers, stores, months, consent
channels), whose values carry the field's prefix (``rfm:champions``,
``tier:3``). ``SegmentEditor.conditions()`` turns the rows into the
``{"all": [...]}`` of ``analytics.segments``, which checks them; its errors
come back on the row they concern (``SegmentEditor.add_condition_errors``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from analytics.models import RfmGroup, Segment
from analytics.segments import CHANNELS, FIELDS, MONTHS, OPERATORS
from loyalty.models import Store, Tier

PREFIX = "conditions"
# Which list of options a field's values come from: the option values' prefix.
CHOICE_PREFIX = {"rfm_group": "rfm", "tier": "tier", "store": "store", "birthday_month": "month", "consent": "channel"}
INT_PREFIXES = {"tier", "store", "month"}


def option_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """The options of the "choose" list, grouped by field (two queries: tiers and stores)."""
    return [
        (str(FIELDS["rfm_group"].label), [(f"rfm:{value}", str(label)) for value, label in RfmGroup.choices]),
        (str(FIELDS["tier"].label), [(f"tier:{tier.pk}", str(tier)) for tier in Tier.objects.order_by("rank")]),
        (str(FIELDS["store"].label), [(f"store:{store.pk}", str(store)) for store in Store.objects.order_by("name")]),
        (str(FIELDS["birthday_month"].label), [(f"month:{number}", str(name)) for number, name in MONTHS]),
        (str(FIELDS["consent"].label), [(f"channel:{value}", str(label)) for value, label in CHANNELS]),
    ]


def builder_spec() -> dict[str, Any]:
    """What the builder script needs: each field's operators, the kind of value each
    takes, the prefix of its options and its help (for ``json_script``)."""
    return {
        name: {
            "ops": list(spec.ops), "kinds": spec.ops, "prefix": CHOICE_PREFIX.get(name, ""), "help": str(spec.help),
        }
        for name, spec in FIELDS.items()
    }


class SegmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, help_text=_("Staff see it in lists and rules."))
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional: what the segment is for."),
    )


class ConditionForm(forms.Form):
    """One row: field, operator, and a typed value or chosen options. An empty field is an unused row."""

    field = forms.ChoiceField(
        label=_("Field"), required=False,
        choices=[("", _("Choose a field"))] + [(name, spec.label) for name, spec in FIELDS.items()],
    )
    op = forms.ChoiceField(
        label=_("Operator"), required=False, choices=[("", "---"), *OPERATORS.items()],
    )
    value = forms.CharField(
        label=_("Value"), required=False, max_length=40,
        help_text=_("A date as YYYY-MM-DD, a number of days or purchases, an amount such as 100.00, "
                    "or a churn probability from 0 to 1."),
    )
    choices = forms.MultipleChoiceField(
        label=_("Choose"), required=False, widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("For RFM group, tier, store, birthday month and consent (hold Ctrl or Shift to choose several)."),
    )

    def __init__(self, *args, groups: list | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["choices"].choices = groups if groups is not None else option_groups()

    def condition(self) -> dict | None:
        """The row as a raw condition (checked later by ``segment_validate``), ``None`` if unused."""
        data = self.cleaned_data
        field = data.get("field")
        if not field:
            return None
        prefix = CHOICE_PREFIX.get(field)
        if prefix is None:
            value: object = data.get("value", "").strip()
        else:
            picked = [item.split(":", 1)[1] for item in data.get("choices", []) if item.startswith(prefix + ":")]
            value = [int(item) for item in picked] if prefix in INT_PREFIXES else picked
            if prefix == "channel":
                value = picked[0] if len(picked) == 1 else picked
        return {"field": field, "op": data.get("op", ""), "value": value}


def condition_initial(condition: dict) -> dict:
    """A saved condition as a row's initial data."""
    field, value = condition["field"], condition["value"]
    prefix = CHOICE_PREFIX.get(field)
    if prefix is None:
        return {"field": field, "op": condition["op"], "value": str(value)}
    values = value if isinstance(value, list) else [value]
    return {"field": field, "op": condition["op"], "choices": [f"{prefix}:{item}" for item in values]}


def error_text(error: ValidationError) -> str:
    """One error of ``segment_validate`` as the text shown to staff."""
    return str(error.message % error.params if error.params else error.message)


class BaseConditionFormSet(forms.BaseFormSet):
    def __init__(self, *args, groups: list | None = None, **kwargs) -> None:
        self.groups = groups if groups is not None else option_groups()
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "groups": self.groups}


ConditionFormSet = forms.formset_factory(
    ConditionForm, formset=BaseConditionFormSet, extra=0, can_delete=True, max_num=30, validate_max=True,
)


class SegmentEditor:
    """The segment form and its conditions' formset, read and shown together.

    ``add_row``: one more empty row (the no-script "Add a condition" button);
    ``quiet``: the name and description are shown as typed, not checked (the
    form is posted to add a row or count, not to save).
    """

    def __init__(
        self, data: QueryDict | None = None, *, segment: Segment | None = None, add_row: bool = False,
        quiet: bool = False,
    ) -> None:
        groups = option_groups()
        if data is not None:
            if add_row:
                data = data.copy()
                total = f"{PREFIX}-TOTAL_FORMS"
                current = data.get(total, "0")
                data[total] = str(min(int(current) + 1 if current.isdigit() else 1, 30))
            self.form = (
                SegmentForm(initial={"name": data.get("name", ""), "description": data.get("description", "")})
                if quiet else SegmentForm(data)
            )
            self.formset = ConditionFormSet(data, prefix=PREFIX, groups=groups)
        else:
            initial = {"name": segment.name, "description": segment.description} if segment else None
            saved = (segment.conditions or {}).get("all", []) if segment else []
            rows = [condition_initial(condition) for condition in saved] or [{}]
            self.form = SegmentForm(initial=initial)
            self.formset = ConditionFormSet(initial=rows, prefix=PREFIX, groups=groups)
        self.used: list[ConditionForm] = []

    def rows_valid(self) -> bool:
        return self.formset.is_valid()

    def is_valid(self) -> bool:
        form_ok = self.form.is_valid()
        return self.rows_valid() and form_ok

    def conditions(self) -> dict:
        """The rows in use, in order, as ``{"all": [...]}`` (after ``rows_valid``)."""
        self.used = []
        items = []
        for form in self.formset.forms:
            if self.formset.can_delete and self.formset._should_delete_form(form):
                continue
            condition = form.condition() if hasattr(form, "cleaned_data") else None
            if condition is not None:
                self.used.append(form)
                items.append(condition)
        return {"all": items}

    def add_condition_errors(self, error: ValidationError) -> None:
        """Put each error of ``segment_validate`` on the row it names."""
        for item in error.error_list:
            position = (item.params or {}).get("position")
            message = error_text(item)
            if position and 0 < position <= len(self.used):
                self.used[position - 1].add_error(None, message)
            else:
                self.form.add_error(None, message)

    def error_list(self) -> list[str]:
        """Every error, for the summary above the form."""
        messages = [str(message) for message in self.form.non_field_errors()]
        messages += [f"{self.form[name].label}: {message}" for name, errors in self.form.errors.items()
                     if name != "__all__" for message in errors]
        messages += [str(message) for message in self.formset.non_form_errors()]
        for form in self.formset.forms:
            messages += [str(message) for message in form.non_field_errors()]
        return messages
