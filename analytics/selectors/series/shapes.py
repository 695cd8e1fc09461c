"""The shape of a chart's data: a ``Series`` of ``Dataset`` columns over its labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

Number = int | float | Decimal | None


@dataclass(frozen=True)
class Dataset:
    """One line or bar group of a chart (one column of its table)."""

    name: str  # translated label, e.g. "Members"
    values: list[Number]  # one per label of the series
    kind: str = "count"  # "count", "money", "points", "rate" (0..1), "score" (NPS -100..100), "text"


@dataclass(frozen=True)
class Series:
    """A chart's data: ``labels`` along the x axis, ``datasets`` drawn over them."""

    key: str  # stable name: the chart's id, the CSV file name, the ``?table=`` value
    title: str  # translated
    label_header: str  # translated header of the label column (e.g. "Week starting")
    labels: list[str]
    datasets: list[Dataset]
    chart: str = "line"  # "line", "bar", "stacked-bar", "doughnut", "grid", "table" (no chart)
    note: str = ""  # translated one-line explanation shown under the chart

    extra: dict = field(default_factory=dict)  # anything a chart needs beyond the table (e.g. grid axes)

    def header(self) -> list[str]:
        return [self.label_header, *(dataset.name for dataset in self.datasets)]

    def rows(self) -> list[list[Number | str]]:
        """The table: one row per label, one column per dataset."""
        return [[label, *(dataset.values[i] for dataset in self.datasets)] for i, label in enumerate(self.labels)]
