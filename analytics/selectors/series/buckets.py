"""A chart's x axis: the period's buckets (``bucketing``) and ``_Axis``, which maps
database-truncated instants onto them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import DateTimeField, Value
from django.db.models.functions import Greatest, TruncDay, TruncMonth, TruncWeek
from django.utils.translation import gettext

from analytics.kpis import (
    KpiScope,
    day_start,
)

DAY, WEEK, MONTH = "day", "week", "month"
_TRUNC = {DAY: TruncDay, WEEK: TruncWeek, MONTH: TruncMonth}


@dataclass(frozen=True)
class Bucket:
    """One step of a chart's x axis: ``[start, end)``, local midnights as aware datetimes."""

    start: dt.datetime
    end: dt.datetime
    label: str  # ISO date of the bucket's first day (clipped to the period); the page localises


def bucket_unit(scope: KpiScope) -> str:
    """Days for a period of up to 31 days, ISO weeks up to 26 weeks, months beyond."""
    days = (scope.end - scope.start).days
    return DAY if days <= 31 else WEEK if days <= 26 * 7 else MONTH


def _next_boundary(day: dt.date, unit: str) -> dt.date:
    if unit == DAY:
        return day + dt.timedelta(days=1)
    if unit == WEEK:
        return day + dt.timedelta(days=7 - day.weekday())  # the next Monday
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def bucketing(scope: KpiScope) -> list[Bucket]:
    """The period's buckets in order, the first and last clipped to the period."""
    unit, tz = bucket_unit(scope), _tz(scope)
    buckets, day = [], scope.start
    while day < scope.end:
        following = min(_next_boundary(day, unit), scope.end)
        buckets.append(
            Bucket(
                start=day_start(day, tz),
                end=day_start(following, tz),
                label=day.isoformat(),
            )
        )
        day = following
    return buckets


def _tz(scope: KpiScope) -> ZoneInfo:
    return scope.start_at.tzinfo  # kpi_scope builds the bounds in the program's zone


class _Axis:
    """The buckets of ``scope`` and how a database-truncated instant maps onto them."""

    def __init__(self, scope: KpiScope) -> None:
        self.scope = scope
        self.unit = bucket_unit(scope)
        self.tz = _tz(scope)
        self.buckets = bucketing(scope)
        self.labels = [bucket.label for bucket in self.buckets]
        self._index = {bucket.label: i for i, bucket in enumerate(self.buckets)}

    def trunc(self, expression, *, from_start: bool = False):
        """``expression`` truncated to the bucket unit in the program's zone; with
        ``from_start`` anything before the period falls in the first bucket (an
        opening balance folded into it)."""
        if from_start:
            expression = Greatest(expression, Value(self.scope.start_at, output_field=DateTimeField()))
        return _TRUNC[self.unit](expression, tzinfo=self.tz)

    def position(self, truncated: dt.datetime) -> int:
        # A week truncates to its Monday, which may come before a clipped first bucket.
        day = max(truncated.astimezone(self.tz).date(), self.scope.start)
        return self._index[day.isoformat()]

    def spread(self, rows: Iterable[dict], *names: str) -> dict[str, list]:
        """Per-bucket lists of ``names`` from grouped ``rows`` (0 where a bucket has no row)."""
        values = {name: [0] * len(self.buckets) for name in names}
        for row in rows:
            i = self.position(row["bucket"])
            for name in names:
                values[name][i] += row[name] or 0
        return values

    def label_header(self) -> str:
        return {DAY: gettext("Day"), WEEK: gettext("Week starting"), MONTH: gettext("Month")}[self.unit]

    def extra(self, **more) -> dict:
        return {"unit": self.unit, **more}


def _running(start: int, steps: list[int]) -> list[int]:
    totals, total = [], start
    for step in steps:
        total += step
        totals.append(total)
    return totals
