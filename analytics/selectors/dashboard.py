"""The staff dashboard's figures (``/staff/analytics/``): the KPI report and
every series of a period, from the analytics cache; and ``dashboard_warm``,
which the ``warm_dashboard`` task runs so that the usual pages are computed
before anyone asks.

What is cached (``analytics.cache.analytics_cached``, under one
``data_version()`` read per call): the KPI report with the CLV fit of both
periods (one entry per period and store), and all the series (per period,
store and language: their titles and labels are translated).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import get_language, gettext

from analytics.cache import analytics_cached, data_version
from analytics.forms.dashboard import LAST_MONTH, THIS_MONTH, Period, preset_bounds
from analytics.kpis import KpiReport, KpiScope, kpi_scope, kpis_compute
from analytics.selectors.series import Dataset, Series, dashboard_series
from loyalty.models import Program


@dataclass(frozen=True)
class Figures:
    report: KpiReport  # the KPIs of the period and the previous one, CLV included
    series: dict[str, Series]  # every chart and table below the KPIs, in the page's order
    computed_at: dt.datetime  # when the KPI report was computed (it may be served for a while)


def rfm_groups_series(grid: Series) -> Series:
    """Members per named RFM group (``extra["groups"]`` of the RFM grid), as a bar chart."""
    groups = grid.extra.get("groups") or []
    return Series(
        key=f"{grid.key}-groups",
        title=gettext("Members by RFM group"),
        label_header=gettext("Group"),
        labels=[str(label) for label, _count in groups],
        datasets=[Dataset(gettext("Members"), [count for _label, count in groups])],
        chart="bar",
        note=gettext("The named groups of the last nightly scoring; the README lists which scores make each group."),
    )


def all_series(scope: KpiScope, program: Program) -> dict[str, Series]:
    """The series of ``dashboard_series``, in its order, with the members per RFM group
    right after the RFM grid."""
    ordered: dict[str, Series] = {}
    for key, item in dashboard_series(scope, program).items():
        ordered[key] = item
        if item.chart == "grid" and item.extra.get("groups"):
            groups = rfm_groups_series(item)
            ordered[groups.key] = groups
    return ordered


def dashboard_figures(period: Period, program: Program, *, version: str | None = None) -> Figures:
    """Everything the page shows for ``period``, from the analytics cache: the KPI
    report (CLV fit included) per period and store, the series per period, store and
    language (their titles are translated), both under one ``data_version()``."""
    version = version or data_version()
    store_id = period.store.pk if period.store is not None else None
    scope = kpi_scope(start=period.start, end=period.end, store=period.store, program=program)
    report, computed_at = analytics_cached(
        "dashboard-report", (period.start, period.end, store_id),
        lambda: (kpis_compute(start=period.start, end=period.end, store=period.store), timezone.now()),
        version=version,
    )
    series = analytics_cached(
        "dashboard-series", (period.start, period.end, store_id, get_language()),
        lambda: all_series(scope, program), version=version,
    )
    return Figures(report=report, series=series, computed_at=computed_at)


WARMED_PRESETS = (THIS_MONTH, LAST_MONTH)


def dashboard_warm(*, program: Program, now: dt.datetime | None = None) -> int:
    """Compute (or find in the cache) the dashboard of this month and last month for
    all stores, in every language of the site, as the page would; the number of
    pages that were warmed. Reads only."""
    today = timezone.localdate(now or timezone.now(), timezone=program.tz)
    version = data_version()
    warmed = 0
    for preset in WARMED_PRESETS:
        start, end = preset_bounds(preset, today=today)
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                dashboard_figures(Period(start=start, end=end, store=None), program, version=version)
            warmed += 1
    return warmed
