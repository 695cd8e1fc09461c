"""The CLV model on the program's data: per-member summaries from the
database and the program-level fit (``analytics.clv`` does the maths).

Definitions (BRIEF.md, "CLV model, precisely"): members with at least one
purchase before ``end``; time in whole calendar days of the program's time
zone; a member's clock starts on the day of their first purchase;
``frequency`` is the number of distinct later days with a purchase,
``recency`` the day of the last purchase, ``T`` the days from the first
purchase to ``end``. A purchase's amount is its gross amount less everything
refunded of it; fully refunded purchases are left out altogether. The mean
amount of repeat purchases is taken per purchase day (the unit BG/NBD
counts), the first day excluded: (net total - net of the first day) /
frequency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Func, Max, Min, Sum, Window
from django.db.models.functions import TruncDate

from analytics.clv import (
    BgNbdParams,
    GammaGammaParams,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_probability_alive,
    gamma_gamma_expected_amount,
    gamma_gamma_fit,
)
from loyalty.models import Purchase
from loyalty.services.program import program_get

HORIZON_DAYS = 365
ALIVE_THRESHOLD = 0.5
CENT = Decimal("0.01")


class _SumOver(Func):
    """``SUM(<aggregate>)`` for use in a window over grouped rows (Django refuses
    ``Sum`` of an aggregate): ``SUM(SUM(net)) OVER (PARTITION BY member)``."""

    function = "SUM"
    window_compatible = True


@dataclass(frozen=True)
class ClvSummary:
    """Per-member arrays, aligned and ordered by ``member_id``; days as floats."""

    member_id: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary: np.ndarray  # mean net amount per repeat purchase day; 0 without one

    def __len__(self) -> int:
        return int(self.member_id.size)


@dataclass(frozen=True)
class ClvFit:
    """The program's CLV model at ``end``; ``None`` where there is no data."""

    members: int
    bgnbd: BgNbdParams | None
    gamma_gamma: GammaGammaParams | None
    clv_predicted_12m: Decimal | None
    churn_risk: float | None


def _end_bounds(end: dt.datetime | dt.date, tz) -> tuple[dt.datetime, dt.date]:
    """``end`` as an aware instant (exclusive) and as the program day it starts.

    A date means the start of that day in the program's time zone.
    """
    if isinstance(end, dt.datetime):
        if end.tzinfo is None:
            raise ValueError("end must be timezone-aware")
        return end, end.astimezone(tz).date()
    return dt.datetime.combine(end, dt.time(), tzinfo=tz), end


def clv_summary_rows(*, end: dt.datetime | dt.date, store=None) -> ClvSummary:
    """Frequency, recency, T (days) and mean repeat amount per member with a
    purchase before ``end`` (at ``store`` only when given: a Store or its pk).

    One set-based query, aggregated in the database: net per member and day,
    then windows over each member's days (first and last day, number of days,
    net total), keeping the first day's row. One row per member reaches
    Python. Reads only; no locks.
    """
    tz = program_get().tz
    end_at, end_day = _end_bounds(end, tz)
    net = ExpressionWrapper(F("amount") - F("refunded_amount"), output_field=DecimalField())
    purchases = Purchase.objects.filter(
        member__isnull=False, purchased_at__lt=end_at, refunded_amount__lt=F("amount"),
    )
    if store is not None:
        purchases = purchases.filter(store_id=getattr(store, "pk", store))
    purchases = purchases.annotate(day=TruncDate("purchased_at", tzinfo=tz))

    partition = {"partition_by": [F("member_id")]}
    per_member = list(
        purchases.values("member_id", "day")
        .annotate(day_net=Sum(net))  # a separate step, or the windows end up in the GROUP BY
        .annotate(
            first=Window(Min("day"), **partition),
            last=Window(Max("day"), **partition),
            days=Window(Count("day"), **partition),
            total=Window(_SumOver(Sum(net), output_field=DecimalField()), **partition),
        )
        .filter(day=F("first"))
        .values_list("member_id", "first", "last", "days", "total", "day_net")
    )

    size = len(per_member)
    member_id = np.empty(size, dtype=np.int64)
    frequency = np.empty(size)
    recency = np.empty(size)
    T = np.empty(size)
    monetary = np.zeros(size)
    end_ordinal = end_day.toordinal()
    for i, (pk, first, last, days, total, first_day_net) in enumerate(per_member):
        member_id[i] = pk
        frequency[i] = days - 1
        recency[i] = last.toordinal() - first.toordinal()
        T[i] = end_ordinal - first.toordinal()
        if days > 1:
            monetary[i] = float(total - first_day_net) / (days - 1)
    # Ordered here: an ORDER BY would pull the windows into the GROUP BY.
    order = np.argsort(member_id, kind="stable")
    return ClvSummary(
        member_id=member_id[order], frequency=frequency[order], recency=recency[order], T=T[order],
        monetary=monetary[order],
    )


@dataclass(frozen=True)
class ClvPredictions:
    """Per-member predictions, aligned with the summary they come from."""

    expected_purchases: np.ndarray  # purchase days in the next HORIZON_DAYS
    expected_amount: np.ndarray  # per purchase day
    clv: np.ndarray  # expected_purchases * expected_amount
    probability_alive: np.ndarray


def clv_predict(summary: ClvSummary, bgnbd: BgNbdParams, gamma_gamma: GammaGammaParams | None) -> ClvPredictions:
    """Per-member predictions for ``summary`` under fitted parameters (amounts NaN without ``gamma_gamma``)."""
    expected = bgnbd_expected_purchases(bgnbd, HORIZON_DAYS, summary.frequency, summary.recency, summary.T)
    if gamma_gamma is None:
        amount = np.full(len(summary), np.nan)
    else:
        amount = gamma_gamma_expected_amount(gamma_gamma, summary.frequency, summary.monetary)
    alive = bgnbd_probability_alive(bgnbd, summary.frequency, summary.recency, summary.T)
    return ClvPredictions(
        expected_purchases=expected, expected_amount=amount, clv=expected * amount, probability_alive=alive,
    )


@dataclass(frozen=True)
class ClvModel:
    """The two models fitted on a summary, and every member's predictions under them."""

    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    predictions: ClvPredictions


def clv_model_fit(summary: ClvSummary) -> ClvModel | None:
    """BG/NBD and Gamma-Gamma fitted on ``summary``, with the predictions; ``None``
    without a member with a repeat purchase (neither drop-out nor spend can be
    estimated then). Members without a repeat purchase are given the Gamma-Gamma
    population mean amount."""
    if not np.any((summary.frequency >= 1) & (summary.monetary > 0)):
        return None
    bgnbd = bgnbd_fit(summary.frequency, summary.recency, summary.T)
    gamma_gamma = gamma_gamma_fit(summary.frequency, summary.monetary)
    return ClvModel(bgnbd=bgnbd, gamma_gamma=gamma_gamma, predictions=clv_predict(summary, bgnbd, gamma_gamma))


def clv_fit(*, end: dt.datetime | dt.date, store=None) -> ClvFit:
    """BG/NBD and Gamma-Gamma fitted on the members with a purchase before
    ``end`` (at ``store`` when given), with the program-level figures:
    ``clv_predicted_12m`` (mean predicted 12-month CLV, Decimal to cents) and
    ``churn_risk`` (share with P(alive) < 0.5). Reads only; deterministic.

    The model needs at least one member with a repeat purchase (without one
    neither drop-out nor spend can be estimated): otherwise ``members`` says
    how many bought and everything else is ``None``. A fit that produces no
    finite prediction gives ``None`` for the figure concerned.
    """
    summary = clv_summary_rows(end=end, store=store)
    model = clv_model_fit(summary)
    if model is None:
        return ClvFit(members=len(summary), bgnbd=None, gamma_gamma=None, clv_predicted_12m=None, churn_risk=None)
    bgnbd, gamma_gamma, predictions = model.bgnbd, model.gamma_gamma, model.predictions

    mean_clv = float(np.mean(predictions.clv))
    clv_12m = Decimal(repr(mean_clv)).quantize(CENT, ROUND_HALF_UP) if np.isfinite(mean_clv) else None
    alive = predictions.probability_alive
    churn = float(np.mean(alive < ALIVE_THRESHOLD)) if np.all(np.isfinite(alive)) else None
    return ClvFit(
        members=len(summary), bgnbd=bgnbd, gamma_gamma=gamma_gamma, clv_predicted_12m=clv_12m, churn_risk=churn,
    )
