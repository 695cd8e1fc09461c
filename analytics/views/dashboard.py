"""``/staff/analytics/``: the KPI dashboard (owner, manager, marketing).

Every KPI of ``analytics.kpis`` for the chosen period and store, with its
change against the previous period of equal length; then the series of
``analytics.selectors.series.dashboard_series`` in its order: charts (each
beside a table of the same numbers), the RFM grid of the stored scores as a
heat-map table with the members per RFM group, and the recent feedback
comments. Every table downloads as CSV with ``?table=<key>`` (``kpis`` for
the KPI table) and the page's other GET parameters.

The figures come from ``analytics.selectors.dashboard`` (cached: see there and
``analytics.cache``); this module formats them for people and for CSV.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal, format_percent
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.translation import get_language, gettext, to_locale
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from analytics.csv_export import csv_response
from analytics.forms.dashboard import DashboardPeriodForm, Period
from analytics.kpis import KPI_NAMES, KpiReport
from analytics.selectors.dashboard import Figures, dashboard_figures
from analytics.selectors.series import Series
from loyalty.currencies import money_format
from loyalty.selectors import program_get_or_none
from loyalty.views.staff import StaffPage

# -- the KPIs as people read them ------------------------------------------------

COUNT, POINTS, MONEY, RATE, RATIO, SCORE, TEXT = "count", "points", "money", "rate", "ratio", "score", "text"

KPI_LABELS: dict[str, tuple[Any, str, Any]] = {
    # name: (label, kind, what it counts)
    "members_total": (_("Members"), COUNT, _("Members enrolled before the period's end, not deleted.")),
    "new_members": (_("New members"), COUNT, _("Members enrolled in the period.")),
    "active_members": (_("Active members"), COUNT, _("Members with at least one purchase in the period.")),
    "retention_rate": (
        _("Retention rate"), RATE,
        _("Of the members who bought in the previous period, the share who bought again in this one."),
    ),
    "repeat_purchase_rate": (
        _("Repeat purchase rate"), RATE, _("Of the active members, the share with two or more purchases."),
    ),
    "points_earned": (
        _("Points earned"), POINTS, _("By purchases and bonuses, less points reversed by refunds."),
    ),
    "points_redeemed": (_("Points redeemed"), POINTS, _("Less points returned by cancelled vouchers.")),
    "points_expired": (_("Points expired"), POINTS, _("Points that expired in the period.")),
    "redemption_rate": (_("Redemption rate"), RATE, _("Points redeemed / points earned.")),
    "breakage_rate": (_("Breakage rate"), RATE, _("Points expired / points earned.")),
    "points_liability": (
        _("Points liability"), MONEY, _("Available and pending points at the period's end, times the point value."),
    ),
    "aov_members": (_("Average order, members"), MONEY, _("Net amount per purchase with a member.")),
    "aov_non_members": (_("Average order, non-members"), MONEY, _("Net amount per purchase without a member.")),
    "purchase_frequency": (
        _("Purchase frequency"), RATIO, _("Member purchases in the period per active member."),
    ),
    "clv_historical": (
        _("Historical CLV"), MONEY, _("Everything the members have spent up to the period's end, per member."),
    ),
    "clv_predicted_12m": (
        _("Predicted 12-month CLV"), MONEY,
        _("Expected spend per member over the next 365 days (BG/NBD, Gamma-Gamma)."),
    ),
    "churn_risk": (_("Churn risk"), RATE, _("Share of members whose probability of being alive is below 50%.")),
    "nps": (_("NPS"), SCORE, _("Promoters (9-10) less detractors (0-6), in percent of the feedback given.")),
}
assert set(KPI_LABELS) == set(KPI_NAMES), "every KPI needs a label"


def _locale() -> str:
    return to_locale(get_language() or "en")


def format_value(value: object, kind: str, currency: str) -> str:
    """A KPI or chart value in the active language; "" for no data."""
    if value is None:
        return ""
    if kind == MONEY:
        return money_format(Decimal(value), currency)
    if kind == RATE:
        return format_percent(value, format="#,##0.0%", locale=_locale())
    if kind == TEXT:
        return str(value)
    if kind == SCORE:
        return format_decimal(value, format="#,##0.#", locale=_locale())
    if kind == RATIO:
        return format_decimal(value, format="#,##0.0#", locale=_locale())
    return format_decimal(value, locale=_locale())


def _signed(text: str, difference: object) -> str:
    if difference > 0:
        return f"+{text}"
    return f"\u2212{text}" if difference < 0 else text


def format_change(difference: object, kind: str, currency: str) -> str:
    """The change against the previous period: absolute, in percentage points for rates."""
    if kind == RATE:
        points = Decimal(str(difference * 100)).quantize(Decimal("0.1"))
        text = gettext("%(value)s pp") % {"value": format_decimal(abs(points), format="#,##0.0", locale=_locale())}
        return _signed(text, points)
    return _signed(format_value(abs(difference), kind, currency), difference)


@dataclass(frozen=True)
class KpiCard:
    name: str
    label: str
    description: str
    kind: str
    value: object
    previous: object
    text: str  # the value formatted ("" = no data)
    previous_text: str
    change: object  # value - previous, None when either is missing
    change_text: str
    direction: str  # "up", "down", "same" or "" (no comparison)


def kpi_cards(report: KpiReport) -> list[KpiCard]:
    previous = report.previous.kpis if report.previous is not None else {}
    cards = []
    for name in KPI_NAMES:
        label, kind, description = KPI_LABELS[name]
        value, before = report.kpis.get(name), previous.get(name)
        change = None if value is None or before is None else value - before
        if kind == SCORE and change is not None:
            change = round(change, 1)
        direction = "" if change is None else "up" if change > 0 else "down" if change < 0 else "same"
        cards.append(KpiCard(
            name=name, label=str(label), description=str(description), kind=kind, value=value, previous=before,
            text=format_value(value, kind, report.currency),
            previous_text=format_value(before, kind, report.currency),
            change=change,
            change_text="" if change is None else format_change(change, kind, report.currency),
            direction=direction,
        ))
    return cards


def _csv_value(value: object) -> object:
    """A number for the CSV downloads (the KPIs and every series), as ``manage.py kpis --json``
    gives it: money with two places, rates as fractions, any float to six places."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, float):
        return round(value, 6)
    return value


# -- the charts --------------------------------------------------------------------

# Okabe & Ito's palette (distinct with every common colour-vision deficiency),
# less its light colours, which have under 3:1 contrast on white (WCAG 1.4.11),
# and with its orange darkened (#9A6B00); lines also differ by dash and point
# style, so no series is told apart by colour alone.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#9A6B00")
# Sequential blues for the heat-map cells, each with a text colour of at least 4.5:1 contrast.
HEAT = (("#f7fbff", "#000"), ("#c6dbef", "#000"), ("#9ecae1", "#000"), ("#4292c6", "#000"), ("#08519c", "#fff"))


def _number(value: object) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return float(value)


@dataclass
class ChartView:
    """One ``Series`` ready for the template: the chart's payload, the table, the CSV link."""

    series: Series
    payload: dict | None  # None for a series shown as a table only
    table_header: list[tuple[str, bool]]  # (name, numeric: aligned right)
    table_rows: list[tuple[str, list[dict]]]
    csv_url: str
    dom_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.dom_id = f"chart-{self.series.key}"

    @property
    def is_grid(self) -> bool:
        return self.series.chart == "grid"

    @property
    def data_id(self) -> str:
        """The id of the ``json_script`` holding the chart's payload."""
        return f"{self.dom_id}-data"


DRAWN = ("line", "bar", "stacked-bar", "doughnut")  # drawn on a canvas; "grid" and "table" are tables only


def chart_view(series: Series, *, currency: str, query: str) -> ChartView:
    """``series`` for the template: its table (formatted in the active language; a
    grid's cells shaded by their share of the largest) and its chart's payload."""
    top = 0.0
    if series.chart == "grid":
        top = max((float(v) for d in series.datasets for v in d.values if v is not None), default=0.0)
    rows = []
    for index, label in enumerate(series.labels):
        cells = []
        for dataset in series.datasets:
            value = dataset.values[index]
            cell = {
                "text": format_value(value, dataset.kind, currency), "value": value, "numeric": dataset.kind != TEXT,
            }
            if series.chart == "grid":
                step = 0 if not value or top <= 0 else min(len(HEAT) - 1, 1 + int(float(value) / top * (len(HEAT) - 1)))
                cell["background"], cell["color"] = HEAT[step]
            cells.append(cell)
        rows.append((label, cells))
    payload = None
    if series.chart in DRAWN:
        payload = {
            "type": series.chart,
            "title": series.title,
            "labels": list(series.labels),
            "currency": currency,
            "datasets": [
                {"label": dataset.name, "kind": dataset.kind, "data": [_number(value) for value in dataset.values]}
                for dataset in series.datasets
            ],
            "palette": PALETTE,
        }
    separator = "&" if query else ""
    header = series.header()
    columns = [(header[0], False)]
    columns += [(name, dataset.kind != TEXT) for name, dataset in zip(header[1:], series.datasets, strict=True)]
    return ChartView(
        series=series, payload=payload, table_header=columns, table_rows=rows,
        csv_url=f"?{query}{separator}table={series.key}",
    )


# -- the page ---------------------------------------------------------------------


class AnalyticsDashboardView(StaffPage, TemplateView):
    template_name = "staff/analytics/dashboard.html"
    section = "analytics"

    def get(self, request, *args, **kwargs) -> HttpResponse:
        program = program_get_or_none()
        if program is None:
            return self.render_to_response(self.get_context_data(program_missing=True))
        form = DashboardPeriodForm(request.GET, today=timezone.localdate(timezone=program.tz))
        table = request.GET.get("table")
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        period = form.chosen
        figures = dashboard_figures(period, program)
        if table:
            return self.csv(table, figures, period)
        return self.render_to_response(self.get_context_data(form=form, period=period, figures=figures))

    def query(self) -> str:
        """The current GET parameters, less ``table``, for the CSV links."""
        params = self.request.GET.copy()
        params.pop("table", None)
        return params.urlencode()

    def csv(self, table: str, figures: Figures, period: Period) -> HttpResponse:
        suffix = f"{period.start.isoformat()}_{period.last_day.isoformat()}"
        if period.store is not None:
            suffix += f"_{period.store.code}"
        if table == "kpis":
            cards = kpi_cards(figures.report)
            return csv_response(
                filename=f"kpis_{suffix}.csv",
                header=[gettext("KPI"), gettext("Value"), gettext("Previous value"), gettext("Change")],
                rows=[
                    [card.label, _csv_value(card.value), _csv_value(card.previous), _csv_value(card.change)]
                    for card in cards
                ],
            )
        series = figures.series.get(table)
        if series is None:
            raise Http404("no such table")
        rows = ([_csv_value(cell) for cell in row] for row in series.rows())
        return csv_response(filename=f"{series.key}_{suffix}.csv", header=series.header(), rows=rows)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        figures: Figures | None = kwargs.get("figures")
        program = program_get_or_none()
        if figures is not None and program is not None:
            query = self.query()
            context["computed_at"] = figures.computed_at
            context["cards"] = kpi_cards(figures.report)
            previous = figures.report.previous
            if previous is not None:
                context["previous_start"] = previous.scope.start
                context["previous_last_day"] = previous.scope.end - dt.timedelta(days=1)
            context["kpi_csv_url"] = f"?{query}{'&' if query else ''}table=kpis"
            context["charts"] = [
                chart_view(series, currency=program.currency, query=query) for series in figures.series.values()
            ]
            context["today"] = timezone.localdate(timezone=program.tz)
        return context

