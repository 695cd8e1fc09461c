"""The filters of the staff CSV exports (``/staff/analytics/exports/``)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics.forms.dashboard import day_range_in_bounds
from loyalty.forms.common import NoTagHelper
from loyalty.models import LedgerEntry, Store


class LedgerExportForm(forms.Form):
    """Ledger entries effective from ``date_from`` to ``date_to`` (both included,
    days in the program's time zone), optionally at one store and of one kind."""

    date_from = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To (included)"), widget=forms.DateInput(attrs={"type": "date"}))
    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.order_by("name"), required=False, empty_label=_("All stores"),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All kinds")), *LedgerEntry.Kind.choices],
    )

    def __init__(self, *args, today: dt.date | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        today = today or timezone.localdate()
        self.fields["date_from"].initial = today.replace(day=1)
        self.fields["date_to"].initial = today
        self.helper = NoTagHelper()

    def clean(self) -> dict:
        data = super().clean()
        if not day_range_in_bounds(self, first="date_from", last="date_to"):
            return data
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filters(self) -> dict[str, str]:
        """The cleaned filters as plain text, for the log (no personal data in them)."""
        data = self.cleaned_data
        return {
            "date_from": data["date_from"].isoformat(), "date_to": data["date_to"].isoformat(),
            "store": data["store"].code if data.get("store") else "", "kind": data.get("kind") or "",
        }
