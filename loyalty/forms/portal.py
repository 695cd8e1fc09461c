"""Forms of the member portal that filter the program's data."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.selectors import HISTORY_KINDS


class HistoryFilterForm(forms.Form):
    KIND_CHOICES = [
        ("", _("Everything")),
        ("earned", pgettext_lazy("history filter", "Earned")),
        ("spent", pgettext_lazy("history filter", "Spent")),
        ("expired", pgettext_lazy("history filter", "Expired")),
        ("refunds", pgettext_lazy("history filter", "Refunds")),
        ("adjustments", pgettext_lazy("history filter", "Adjustments")),
    ]
    assert {key for key, _label in KIND_CHOICES if key} == set(HISTORY_KINDS)

    kind = forms.ChoiceField(
        label=_("Type"), choices=KIND_CHOICES, required=False,
        error_messages={"invalid_choice": _("Choose what to show from the list.")},
    )
    date_from = forms.DateField(
        label=_("From"), required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter the start date as a day, for example 2026-01-31.")},
    )
    date_to = forms.DateField(
        label=_("To"), required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter the end date as a day, for example 2026-01-31.")},
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned
