"""The program's KPIs, exactly as BRIEF.md defines them: one implementation
that the dashboard, ``manage.py kpis`` and the API share.

Everything is computed in the database with aggregates (conditional
``Count``/``Sum``, ``Exists``), never by loading rows into Python; it runs
on SQLite and PostgreSQL. A period is ``[start, end)`` of calendar dates in
the program's time zone (``start`` 00:00 to ``end`` 00:00 local); the
previous period of equal length, ``[start - (end - start), start)``, is
computed by the same code (``kpis_compute`` with ``previous=True``).

Rules as implemented
--------------------
- A purchase's amount is ``amount - refunded_amount``: everything refunded
  of it, whenever refunded. A fully refunded purchase is left out of every
  amount and every count (active members, retention, repeat, AOV, frequency,
  historical CLV).
- Ledger KPIs use each entry's ``effective_at`` (business time).
  ``points_earned`` = ``earn`` + ``bonus`` entries (pending points included,
  counted at the purchase) plus ``reversal`` entries (negative); ``adjust``
  entries are left out. ``points_redeemed`` = ``-(redeem)`` - ``redeem_cancel``.
  ``points_expired`` = ``-(expire)``.
- ``points_liability`` = sum of ``available_delta + pending_delta`` of all
  entries effective before ``end`` (the balances as they stood then, debts not
  netted: ``debt_delta`` is ignored), times ``Program.point_value``. Expiries
  that were due before ``end`` count only once ``expire_points`` has written
  them.
- A count or a sum of points with nothing to count is 0; a ratio or a mean
  whose denominator is 0 (rates, AOV, frequency, historical CLV, NPS) is
  ``None``. Rates are fractions (``redemption_rate`` may exceed 1 when members
  redeem points earned in earlier periods; it is ``None`` when
  ``points_earned`` <= 0), ``nps`` runs from -100 to 100, money is a
  ``Decimal`` with two places (half up).

Store scoping (``store=...``)
-----------------------------
- Purchases (active members, retention, repeat, AOV, frequency): the
  purchase's store.
- Members (members_total, new_members) and feedback (NPS): the member's
  enrollment store. ``clv_historical`` divides all purchases (at any store)
  of the members counted in ``members_total`` by that count.
- Ledger flows (earned, redeemed, expired): the store of the entry's purchase
  where it has one (earn, reversal, release and expiry of a purchase's lot);
  otherwise (action bonuses, redemptions, returned vouchers, expiry of bonus
  lots) the member's enrollment store.
- ``points_liability``: balances belong to members, so the members enrolled
  at the store (a store's liability by purchase could go negative when its
  members redeem points earned elsewhere).

CLV seam
--------
``clv_predicted_12m`` and ``churn_risk`` and the ``clv_model`` parameters come
from ``analytics.clv``. ``clv=`` takes a callable of ``scope: KpiScope``
returning a ``ClvSummary``: by default ``clv_from_model``, which fits the
model at the period's end; ``clv_none`` leaves them ``None``.

Cost (``bench/bench_analytics.py``, 100,000 members, 2 million purchases): a
fit is most of a period's time (its summary query and the two maximum
likelihood fits, several seconds), the other KPIs together under two seconds.
So ``clv_from_model`` keeps each fit in the analytics cache per period end
and store (``analytics.cache``: refitted once the data has changed and the fit
is older than ``ANALYTICS_CLV_STALE_SECONDS``), which the previous period of
one page and the current period of another share; and
``kpis_compute(previous_clv=False)`` (``manage.py kpis``) leaves the previous
period's CLV figures out, since BRIEF.md's JSON has none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce

from loyalty.models import LedgerEntry, Program, Purchase, Store
from loyalty.services.program import program_get
from members.models import Feedback, Member

KPI_NAMES: tuple[str, ...] = (
    "members_total",
    "new_members",
    "active_members",
    "retention_rate",
    "repeat_purchase_rate",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "redemption_rate",
    "breakage_rate",
    "points_liability",
    "aov_members",
    "aov_non_members",
    "purchase_frequency",
    "clv_historical",
    "clv_predicted_12m",
    "churn_risk",
    "nps",
)

CENT = Decimal("0.01")
Kind = LedgerEntry.Kind


def net_amount(prefix: str = "") -> ExpressionWrapper:
    """A purchase's amount: gross less everything refunded of it (``prefix``:
    the path to the purchase, e.g. ``"purchases__"`` from a member)."""
    return ExpressionWrapper(
        F(f"{prefix}amount") - F(f"{prefix}refunded_amount"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )


def counted_purchase_q(prefix: str = "") -> Q:
    """The purchases that count in every amount and every count: not fully
    refunded (``prefix`` as for ``net_amount``)."""
    return Q(**{f"{prefix}refunded_amount__lt": F(f"{prefix}amount")})


NET_AMOUNT = net_amount()


@dataclass(frozen=True)
class KpiScope:
    """The instants of a period and its optional store."""

    start: dt.date
    end: dt.date
    start_at: dt.datetime
    end_at: dt.datetime
    store: Store | None


@dataclass(frozen=True)
class ClvSummary:
    """What ``analytics.clv`` gives the KPI table: the two KPIs and the fitted model."""

    clv_predicted_12m: Decimal | None = None
    churn_risk: float | None = None
    bgnbd: dict = field(default_factory=lambda: {"r": None, "alpha": None, "a": None, "b": None, "time_unit": "day"})
    gamma_gamma: dict = field(default_factory=lambda: {"p": None, "q": None, "gamma": None})


ClvProvider = Callable[[KpiScope], ClvSummary]


def clv_none(scope: KpiScope) -> ClvSummary:
    """A CLV provider that fits nothing: every value ``None`` (the previous period
    without ``previous_clv``; tests of the other KPIs)."""
    return ClvSummary()


def clv_from_model(scope: KpiScope) -> ClvSummary:
    """BG/NBD and Gamma-Gamma fitted at the period's end (``analytics.clv_data.clv_fit``),
    as the KPI table gives them; ``None`` where the model has no data."""
    from analytics.cache import analytics_cached
    from analytics.clv_data import clv_fit  # scipy is imported only when a period is computed

    store_id = scope.store.pk if scope.store is not None else None
    fit = analytics_cached(
        "clv-fit", (scope.end_at.isoformat(), store_id), lambda: clv_fit(end=scope.end_at, store=scope.store),
        stale_seconds=settings.ANALYTICS_CLV_STALE_SECONDS,  # a day's purchases barely move the model
    )
    summary = ClvSummary(clv_predicted_12m=fit.clv_predicted_12m, churn_risk=fit.churn_risk)
    if fit.bgnbd is not None:
        summary.bgnbd.update({name: round(value, 6) for name, value in fit.bgnbd._asdict().items()})
    if fit.gamma_gamma is not None:
        summary.gamma_gamma.update({name: round(value, 6) for name, value in fit.gamma_gamma._asdict().items()})
    return summary


@dataclass(frozen=True)
class KpiReport:
    scope: KpiScope
    currency: str
    kpis: dict[str, object]
    clv: ClvSummary
    previous: KpiReport | None = None


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The instant ``day`` begins in ``tz`` (its local midnight), aware: where every
    period, bucket and export range of days begins and ends."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def period_bounds(*, start: dt.date, end: dt.date, program: Program) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight of ``start`` and of ``end`` in the program's zone, as aware datetimes."""
    return day_start(start, program.tz), day_start(end, program.tz)


def kpi_scope(*, start: dt.date, end: dt.date, store: Store | None = None, program: Program | None = None) -> KpiScope:
    if end <= start:
        raise ValueError("end must come after start")
    program = program or program_get()
    start_at, end_at = period_bounds(start=start, end=end, program=program)
    return KpiScope(start=start, end=end, start_at=start_at, end_at=end_at, store=store)


def kpis_compute(
    *,
    start: dt.date,
    end: dt.date,
    store: Store | None = None,
    previous: bool = True,
    clv: ClvProvider | None = None,
    previous_clv: bool = True,
) -> KpiReport:
    """Every KPI of BRIEF.md for ``[start, end)`` (dates in the program's zone),
    optionally for one store, with the previous period of equal length in
    ``previous`` when asked (its CLV figures ``None`` unless ``previous_clv``:
    that saves a second model fit). Reads only; seven aggregate queries a
    period besides the CLV provider's.
    """
    program = program_get()
    clv = clv or clv_from_model

    def report_of(scope: KpiScope, provider: ClvProvider, previous: KpiReport | None = None) -> KpiReport:
        summary = provider(scope)
        return KpiReport(
            scope=scope, currency=program.currency, kpis=_kpis(scope, program, summary), clv=summary,
            previous=previous,
        )

    scope = kpi_scope(start=start, end=end, store=store, program=program)
    before = None
    if previous:
        before_scope = kpi_scope(start=start - (end - start), end=start, store=store, program=program)
        before = report_of(before_scope, clv if previous_clv else clv_none)
    return report_of(scope, clv, before)


def money(value: Decimal | None) -> Decimal | None:
    """``value`` as money: quantised to the cent, half up; ``None`` stays ``None``."""
    return None if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(numerator, denominator) -> float | None:
    """``numerator / denominator``, or ``None`` when there is nothing to divide by
    (``denominator`` missing, 0 or negative) or no ``numerator``."""
    if not denominator or denominator <= 0 or numerator is None:
        return None
    return numerator / denominator


def counted_purchases(scope: KpiScope | None = None):
    """Purchases that count: not fully refunded, at the scope's store when it has one.
    (Every figure about purchases, here and in the dashboard's series, starts here.)"""
    purchases = Purchase.objects.filter(counted_purchase_q())
    return purchases if scope is None or scope.store is None else purchases.filter(store=scope.store)


# The ledger kinds each points flow sums (``LedgerEntry.points``, signed as written),
# what a balance holds, and the NPS groups; the dashboard's series use the same.
EARNED_KINDS = (Kind.EARN, Kind.BONUS, Kind.REVERSAL)
REDEEMED_KINDS = (Kind.REDEEM, Kind.REDEEM_CANCEL)
EXPIRED_KINDS = (Kind.EXPIRE,)
OUTSTANDING_POINTS = F("available_delta") + F("pending_delta")  # debts are not netted
PROMOTERS = Q(score__gte=9)
DETRACTORS = Q(score__lte=6)


NOT_DELETED = ~Q(status=Member.Status.DELETED)


def enrolled_members(scope: KpiScope):
    """Every member ever enrolled (erased ones too: ``new_members`` counts them, so a
    past period's figure does not shrink when a member leaves later), at the scope's
    store when it has one; the caller bounds ``enrolled_at``."""
    return Member.objects.all() if scope.store is None else Member.objects.filter(enrollment_store=scope.store)


def counted_members(scope: KpiScope):
    """Members that count in ``members_total`` (not deleted), enrolled at the scope's
    store when it has one; the caller bounds ``enrolled_at``."""
    return enrolled_members(scope).filter(NOT_DELETED)


def counted_feedback(scope: KpiScope):
    """Feedback that counts towards NPS: all, or that of the store's members."""
    feedback = Feedback.objects.all()
    return feedback if scope.store is None else feedback.filter(member__enrollment_store=scope.store)


def liability_store_q(store: Store) -> Q:
    """Ledger entries that count in ``store``'s liability: its members' (balances belong to members)."""
    return Q(account__member__enrollment_store=store)


def liability_entries(scope: KpiScope):
    """The ledger entries whose ``OUTSTANDING_POINTS`` make the liability: all, or
    the store's members'; the caller bounds ``effective_at``."""
    entries = LedgerEntry.objects.all()
    return entries if scope.store is None else entries.filter(liability_store_q(scope.store))


def nps_score(*, total: int, promoters: int, detractors: int) -> float | None:
    """Promoters' share minus detractors' share, in percent; ``None`` without answers."""
    if not total:
        return None
    return 100 * (promoters - detractors) / total


def _members(scope: KpiScope) -> dict:
    return enrolled_members(scope).aggregate(
        members_total=Count("pk", filter=Q(enrolled_at__lt=scope.end_at) & NOT_DELETED),
        new_members=Count("pk", filter=Q(enrolled_at__gte=scope.start_at, enrolled_at__lt=scope.end_at)),
    )


def _purchases(scope: KpiScope) -> dict:
    """Amounts and counts of the period's purchases (one pass over the period),
    then, per member, their purchases in this period and in the previous one
    of equal length (one grouped pass over both): active, repeat and retained
    members without a query per member."""
    in_period = counted_purchases(scope).filter(purchased_at__gte=scope.start_at, purchased_at__lt=scope.end_at)
    with_member, without = Q(member__isnull=False), Q(member__isnull=True)
    totals = in_period.aggregate(
        member_amount=Sum(NET_AMOUNT, filter=with_member),
        member_count=Count("pk", filter=with_member),
        other_amount=Sum(NET_AMOUNT, filter=without),
        other_count=Count("pk", filter=without),
    )
    previous_start = day_start(scope.start - (scope.end - scope.start), scope.start_at.tzinfo)
    per_member = (
        counted_purchases(scope)
        .filter(with_member, purchased_at__gte=previous_start, purchased_at__lt=scope.end_at)
        .values("member")
        .annotate(
            before=Count("pk", filter=Q(purchased_at__lt=scope.start_at)),
            now=Count("pk", filter=Q(purchased_at__gte=scope.start_at)),
        )
    )
    members = per_member.aggregate(
        active=Count("member", filter=Q(now__gte=1)),
        repeat=Count("member", filter=Q(now__gte=2)),
        base=Count("member", filter=Q(before__gte=1)),
        kept=Count("member", filter=Q(before__gte=1, now__gte=1)),
    )
    return {**totals, **members}


def ledger_store_q(store: Store) -> Q:
    """Ledger entries that belong to ``store`` (see "Store scoping" above)."""
    return Q(purchase__store=store) | Q(purchase__isnull=True, account__member__enrollment_store=store)


def ledger_flows(scope: KpiScope) -> dict:
    """The points flows of ``scope``'s period, from the ledger as the KPIs define them:
    ``points_earned`` (``EARNED_KINDS``), ``points_redeemed`` (``REDEEMED_KINDS``) and
    ``points_expired`` (``EXPIRED_KINDS``), the last two as positive numbers, entries
    of the scope's store when it has one (``ledger_store_q``); and ``outstanding``, the
    ``OUTSTANDING_POINTS`` held at the period's end (``liability_entries``). Two queries."""
    entries = LedgerEntry.objects.filter(effective_at__gte=scope.start_at, effective_at__lt=scope.end_at)
    if scope.store is not None:
        entries = entries.filter(ledger_store_q(scope.store))
    sums = entries.aggregate(
        earned=Coalesce(Sum("points", filter=Q(kind__in=EARNED_KINDS)), 0),
        redeemed=Coalesce(Sum("points", filter=Q(kind__in=REDEEMED_KINDS)), 0),
        expired=Coalesce(Sum("points", filter=Q(kind__in=EXPIRED_KINDS)), 0),
    )
    balances = liability_entries(scope).filter(effective_at__lt=scope.end_at)
    outstanding = balances.aggregate(points=Coalesce(Sum(OUTSTANDING_POINTS), 0))["points"]
    return {
        "points_earned": sums["earned"],
        "points_redeemed": -sums["redeemed"],
        "points_expired": -sums["expired"],
        "outstanding": outstanding,
    }


def _clv_historical(scope: KpiScope, members_total: int) -> Decimal | None:
    if not members_total:
        return None
    purchases = Purchase.objects.filter(
        counted_purchase_q(),
        purchased_at__lt=scope.end_at,
        member__enrolled_at__lt=scope.end_at,
    ).exclude(member__status=Member.Status.DELETED)
    if scope.store is not None:
        purchases = purchases.filter(member__enrollment_store=scope.store)
    total = purchases.aggregate(total=Coalesce(Sum(NET_AMOUNT), Decimal("0")))["total"]
    return money(Decimal(total) / members_total)


def _nps(scope: KpiScope) -> float | None:
    feedback = counted_feedback(scope).filter(created_at__gte=scope.start_at, created_at__lt=scope.end_at)
    counts = feedback.aggregate(
        total=Count("pk"), promoters=Count("pk", filter=PROMOTERS), detractors=Count("pk", filter=DETRACTORS)
    )
    return nps_score(**counts)


def _kpis(scope: KpiScope, program: Program, clv: ClvSummary) -> dict[str, object]:
    members = _members(scope)
    purchases = _purchases(scope)
    ledger = ledger_flows(scope)
    earned = ledger["points_earned"]
    active = purchases["active"]

    def mean_amount(amount, count):
        return money(amount / count) if count else None

    values = {
        "members_total": members["members_total"],
        "new_members": members["new_members"],
        "active_members": active,
        "retention_rate": ratio(purchases["kept"], purchases["base"]),
        "repeat_purchase_rate": ratio(purchases["repeat"], active),
        "points_earned": earned,
        "points_redeemed": ledger["points_redeemed"],
        "points_expired": ledger["points_expired"],
        "redemption_rate": ratio(ledger["points_redeemed"], earned),
        "breakage_rate": ratio(ledger["points_expired"], earned),
        "points_liability": money(ledger["outstanding"] * program.point_value),
        "aov_members": mean_amount(purchases["member_amount"], purchases["member_count"]),
        "aov_non_members": mean_amount(purchases["other_amount"], purchases["other_count"]),
        "purchase_frequency": ratio(purchases["member_count"], active),
        "clv_historical": _clv_historical(scope, members["members_total"]),
        "clv_predicted_12m": money(clv.clv_predicted_12m),
        "churn_risk": clv.churn_risk,
        "nps": _nps(scope),
    }
    return {name: values[name] for name in KPI_NAMES}


def kpis_as_json(report: KpiReport, *, with_previous: bool = True) -> dict:
    """BRIEF.md's JSON object for ``report`` (money as strings with two places)."""

    def encode(kpis: dict[str, object]) -> dict[str, object]:
        return {name: (f"{value:.2f}" if isinstance(value, Decimal) else value) for name, value in kpis.items()}

    data = {
        "period": {"start": report.scope.start.isoformat(), "end": report.scope.end.isoformat()},
        "currency": report.currency,
        "kpis": encode(report.kpis),
        "clv_model": {"bgnbd": dict(report.clv.bgnbd), "gamma_gamma": dict(report.clv.gamma_gamma)},
    }
    if with_previous and report.previous is not None:
        data["previous"] = {
            "period": {"start": report.previous.scope.start.isoformat(), "end": report.previous.scope.end.isoformat()},
            "kpis": encode(report.previous.kpis),
        }
    return data
