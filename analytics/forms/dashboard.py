"""The KPI dashboard's period picker and store filter (GET parameters).

A period is ``[start, end)`` of calendar days in the program's time zone, as
``analytics.kpis`` counts them; people pick a preset relative to "today" (the
program's local date) or type a custom range whose last day is included, which
the form turns into the exclusive ``end``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.forms.common import NoTagHelper
from loyalty.models import Store

THIS_MONTH = "this-month"
LAST_MONTH = "last-month"
THIS_QUARTER = "this-quarter"
LAST_QUARTER = "last-quarter"
THIS_YEAR = "this-year"
LAST_YEAR = "last-year"
CUSTOM = "custom"

PERIOD_CHOICES = (
    (THIS_MONTH, _("This month")),
    (LAST_MONTH, _("Last month")),
    (THIS_QUARTER, _("This quarter")),
    (LAST_QUARTER, _("Last quarter")),
    (THIS_YEAR, _("This year")),
    (LAST_YEAR, _("Last year")),
    (CUSTOM, _("Custom dates")),
)
DEFAULT_PERIOD = THIS_MONTH

# The days a typed range may hold (here and in the ledger export): the previous
# period of equal length and the instants of the days around the range must stay
# real dates and datetimes in any zone. A decade is more than any chart of the
# page can show usefully.
EARLIEST = dt.date(1970, 1, 1)
LATEST = dt.date(9998, 12, 31)
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """What the form chose: ``[start, end)`` in the program's zone, and the store (or all)."""

    start: dt.date
    end: dt.date
    store: Store | None

    @property
    def last_day(self) -> dt.date:
        """The period's last day, included (as people write a range)."""
        return self.end - dt.timedelta(days=1)


def day_range_in_bounds(form: forms.Form, *, first: str, last: str) -> bool:
    """Whether the days in ``form``'s cleaned fields ``first`` and ``last`` lie from
    ``EARLIEST`` to ``LATEST``; otherwise the field at fault gets the error."""
    start, end = form.cleaned_data.get(first), form.cleaned_data.get(last)
    if start is not None and start < EARLIEST:
        form.add_error(first, _("The period cannot start before 1970."))
        return False
    if end is not None and end > LATEST:
        form.add_error(last, _("The period cannot end after 9998."))
        return False
    return True


def _month(year: int, month: int) -> dt.date:
    """The first day of ``month`` of ``year``, with months past 12 or below 1 carried into the year."""
    index = year * 12 + (month - 1)
    return dt.date(index // 12, index % 12 + 1, 1)


def preset_bounds(preset: str, *, today: dt.date) -> tuple[dt.date, dt.date]:
    """``[start, end)`` of a preset period relative to ``today`` (the program's local date)."""
    quarter = _month(today.year, (today.month - 1) // 3 * 3 + 1)
    bounds = {
        THIS_MONTH: (_month(today.year, today.month), _month(today.year, today.month + 1)),
        LAST_MONTH: (_month(today.year, today.month - 1), _month(today.year, today.month)),
        THIS_QUARTER: (quarter, _month(quarter.year, quarter.month + 3)),
        LAST_QUARTER: (_month(quarter.year, quarter.month - 3), quarter),
        THIS_YEAR: (dt.date(today.year, 1, 1), dt.date(today.year + 1, 1, 1)),
        LAST_YEAR: (dt.date(today.year - 1, 1, 1), dt.date(today.year, 1, 1)),
    }
    if preset not in bounds:
        raise ValueError(f"unknown period preset {preset!r}")
    return bounds[preset]


class DashboardPeriodForm(forms.Form):
    """Bound to ``request.GET``; with no ``period`` it means this month, all stores.

    ``today`` is the program's local date (``timezone.localdate(timezone=program.tz)``).
    """

    period = forms.ChoiceField(label=_("Period"), choices=PERIOD_CHOICES, required=False)
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("For custom dates."),
    )
    end = forms.DateField(
        label=_("To (included)"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("For custom dates."),
    )
    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.order_by("name", "pk"), required=False,
        empty_label=_("All stores"),
    )

    def __init__(self, data=None, *, today: dt.date, **kwargs) -> None:
        if data is not None and not data.get("period"):
            data = data.copy()
            data["period"] = DEFAULT_PERIOD
        super().__init__(data if data is not None else {"period": DEFAULT_PERIOD}, **kwargs)
        self.today = today
        self.helper = NoTagHelper()

    def clean(self) -> dict:
        data = super().clean()
        preset = data.get("period") or DEFAULT_PERIOD
        if preset != CUSTOM:
            if "period" in data:
                data["bounds"] = preset_bounds(preset, today=self.today)
            return data
        start, last = data.get("start"), data.get("end")
        if start is None and "start" not in self.errors:
            self.add_error("start", _("Enter the first day of the period."))
        if last is None and "end" not in self.errors:
            self.add_error("end", _("Enter the last day of the period."))
        if start is None or last is None or not day_range_in_bounds(self, first="start", last="end"):
            return data
        if last < start:
            self.add_error("end", _("The last day is before the first day."))
        elif (last - start).days + 1 > MAX_DAYS:
            self.add_error("end", _("A custom period can be at most ten years long."))
        else:
            data["bounds"] = (start, last + dt.timedelta(days=1))
        return data

    @property
    def chosen(self) -> Period:
        """The period and store of a valid form."""
        start, end = self.cleaned_data["bounds"]
        return Period(start=start, end=end, store=self.cleaned_data.get("store"))
