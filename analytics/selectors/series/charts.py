"""Each chart's ``Series`` and ``dashboard_series``, every chart of the dashboard
in one go (what each chart counts: ``analytics.selectors.series``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext

from analytics.kpis import (
    KpiScope,
    counted_feedback,
    counted_members,
    liability_store_q,
    money,
    nps_score,
)
from analytics.rfm import SCORES
from analytics.selectors.scores import rfm_grid, score_run_latest
from analytics.selectors.series.buckets import MONTH, _Axis, _running, _tz
from analytics.selectors.series.queries import (
    _feedback_rows,
    _ledger_rows,
    _member_rows,
    _opening_liability,
    _purchase_rows,
)
from analytics.selectors.series.shapes import Dataset, Series
from loyalty.models import PointsLot, Program, Tier


def _members_from(axis: _Axis, member_rows: list[dict], purchase_rows: list[dict]) -> Series:
    members = axis.spread(member_rows, "enrolled", "new")
    active = axis.spread(purchase_rows, "active")["active"]
    return Series(
        key="members",
        title=gettext("Members and active members"),
        label_header=axis.label_header(),
        labels=axis.labels,
        datasets=[
            Dataset(gettext("Members"), _running(0, members["enrolled"])),
            Dataset(gettext("New members"), members["new"]),
            Dataset(gettext("Active members"), active),
        ],
        note=gettext(
            "Members: enrolled and not deleted at the end of each step. New: enrolled in the step. "
            "Active: with at least one purchase in the step (not fully refunded)."
        ),
        extra=axis.extra(),
    )


def members_series(scope: KpiScope) -> Series:
    """Members at each bucket's end (``members_total``), new and active members per bucket. Two queries."""
    axis = _Axis(scope)
    return _members_from(axis, _member_rows(axis), _purchase_rows(axis))


def _purchases_from(axis: _Axis, rows: list[dict]) -> Series:
    values = axis.spread(rows, "member_count", "member_amount", "other_count", "other_amount")

    def aov(amounts: list, counts: list[int]) -> list[Decimal | None]:
        pairs = zip(amounts, counts, strict=True)
        return [money(Decimal(amount) / count) if count else None for amount, count in pairs]

    return Series(
        key="purchases",
        title=gettext("Purchases and average order value"),
        label_header=axis.label_header(),
        labels=axis.labels,
        datasets=[
            Dataset(gettext("Purchases by members"), values["member_count"]),
            Dataset(gettext("Purchases without a member"), values["other_count"]),
            Dataset(gettext("AOV, members"), aov(values["member_amount"], values["member_count"]), kind="money"),
            Dataset(gettext("AOV, non-members"), aov(values["other_amount"], values["other_count"]), kind="money"),
        ],
        chart="bar",
        note=gettext(
            "Purchases less refunds; fully refunded purchases are not counted. "
            "AOV: amount divided by the number of purchases."
        ),
        extra=axis.extra(),
    )


def purchases_series(scope: KpiScope) -> Series:
    """Purchases per bucket with and without a member, and the AOV of each. One query."""
    axis = _Axis(scope)
    return _purchases_from(axis, _purchase_rows(axis))


def _points_from(axis: _Axis, rows: list[dict]) -> Series:
    values = axis.spread(rows, "earned", "redeemed", "expired")
    return Series(
        key="points",
        title=gettext("Points earned, redeemed and expired"),
        label_header=axis.label_header(),
        labels=axis.labels,
        datasets=[
            Dataset(gettext("Earned"), values["earned"], kind="points"),
            Dataset(gettext("Redeemed"), [-points for points in values["redeemed"]], kind="points"),
            Dataset(gettext("Expired"), [-points for points in values["expired"]], kind="points"),
        ],
        chart="bar",
        note=gettext(
            "Earned: purchases and bonuses (pending included) less refunds' reversals; manual adjustments "
            "excluded. Redeemed: rewards less returned vouchers."
        ),
        extra=axis.extra(),
    )


def points_series(scope: KpiScope) -> Series:
    """``points_earned``, ``points_redeemed``, ``points_expired`` per bucket. One query."""
    axis = _Axis(scope)
    return _points_from(axis, _ledger_rows(axis))


def _liability_from(axis: _Axis, opening: int, rows: list[dict], program: Program) -> Series:
    points = _running(opening, axis.spread(rows, "change")["change"])
    return Series(
        key="liability",
        title=gettext("Points liability"),
        label_header=axis.label_header(),
        labels=axis.labels,
        datasets=[
            Dataset(gettext("Points held"), points, kind="points"),
            Dataset(gettext("Liability"), [money(held * program.point_value) for held in points], kind="money"),
        ],
        note=gettext(
            "Available and pending points of all members at the end of each step, times the point value; "
            "debts are not netted."
        ),
        extra=axis.extra(point_value=program.point_value),
    )


def liability_series(scope: KpiScope, program: Program) -> Series:
    """``points_liability`` at each bucket's end, points and money: the balance at the
    period's start plus the running total of each bucket's change. Two queries (in
    ``dashboard_series`` the changes come with the points' query)."""
    axis = _Axis(scope)
    return _liability_from(axis, _opening_liability(scope), _ledger_rows(axis), program)


def liability_ageing(scope: KpiScope, program: Program, *, now: dt.datetime | None = None) -> Series:
    """Points held in open lots by the month the lot expires (never-expiring last),
    points and money, as the lots stand now (see ``analytics.selectors.series``). One query."""
    now = now or timezone.now()
    tz = _tz(scope)
    lots = PointsLot.objects.filter(
        Q(status=PointsLot.Status.PENDING) | Q(status=PointsLot.Status.AVAILABLE), remaining__gt=0
    )
    if scope.store is not None:
        lots = lots.filter(liability_store_q(scope.store))  # a lot has an account, as an entry has
    rows = lots.values(month=TruncMonth("expires_at", tzinfo=tz)).annotate(points=Sum("remaining")).order_by()
    by_month = {}
    never = 0
    for row in rows:
        if row["month"] is None:
            never += row["points"]
        else:
            month = row["month"].astimezone(tz).date()
            by_month[month] = by_month.get(month, 0) + row["points"]
    labels = [month.isoformat() for month in sorted(by_month)]
    points = [by_month[month] for month in sorted(by_month)]
    if never:
        labels.append(gettext("Never expires"))
        points.append(never)
    at_end = scope.end_at >= now
    title = gettext("Points held by expiry month") if at_end else gettext("Points held now by expiry month")
    return Series(
        key="liability-ageing",
        title=title,
        label_header=gettext("Expiry month"),
        labels=labels,
        datasets=[
            Dataset(gettext("Points held"), points, kind="points"),
            Dataset(gettext("Liability"), [money(held * program.point_value) for held in points], kind="money"),
        ],
        chart="bar",
        note=(
            gettext("Open lots of points (pending, or available with points left) by the month they expire.")
            if at_end else gettext(
                "Open lots of points as they stand now, by the month they expire: which lots a redemption "
                "used is not recorded, so the ageing at the end of a past period is not known."
            )
        ),
        extra={"unit": MONTH, "at_end": at_end, "as_of": (scope.end_at if at_end else now).isoformat(),
               "never_expires": bool(never)},
    )


def tier_distribution(scope: KpiScope) -> Series:
    """The members counted in ``members_total`` by their current tier (``MemberTier``), best
    tier first, then the members without a tier. Two queries (the counts, the tiers)."""
    counts = dict(
        counted_members(scope).filter(enrolled_at__lt=scope.end_at)
        .values_list("tier_status__tier")
        .annotate(members=Count("pk"))
        .order_by()
    )
    tiers = [tier for tier in Tier.objects.order_by("-rank") if not tier.archived or counts.get(tier.pk)]
    return Series(
        key="tiers",
        title=gettext("Members by current tier"),
        label_header=gettext("Tier"),
        labels=[tier.name for tier in tiers] + [gettext("No tier")],
        datasets=[Dataset(gettext("Members"), [counts.get(tier.pk, 0) for tier in tiers] + [counts.get(None, 0)])],
        chart="doughnut",
        note=gettext("Members at the end of the period, on the tier they hold today."),
        extra={"tier_codes": [tier.code for tier in tiers] + [""]},
    )


def _nps_from(axis: _Axis, rows: list[dict]) -> Series:
    values = axis.spread(rows, "total", "promoters", "detractors")
    scores = [
        nps_score(total=total, promoters=promoters, detractors=detractors)
        for total, promoters, detractors in zip(values["total"], values["promoters"], values["detractors"], strict=True)
    ]
    return Series(
        key="nps",
        title=gettext("Net Promoter Score"),
        label_header=axis.label_header(),
        labels=axis.labels,
        datasets=[
            Dataset(gettext("NPS"), scores, kind="score"),
            Dataset(gettext("Answers"), values["total"]),
        ],
        note=gettext("Share of promoters (9-10) minus share of detractors (0-6) among the answers of each step."),
        extra=axis.extra(),
    )


def nps_series(scope: KpiScope) -> Series:
    """NPS per bucket (``None`` without answers) and the number of answers. One query."""
    axis = _Axis(scope)
    return _nps_from(axis, _feedback_rows(axis))


def recent_comments(scope: KpiScope, limit: int = 10) -> Series:
    """The latest ``limit`` feedback of the period with a comment, newest first: the local
    date, the score, the comment and the member's first name (nothing else of the member).
    One query."""
    tz = _tz(scope)
    rows = list(
        counted_feedback(scope)
        .filter(created_at__gte=scope.start_at, created_at__lt=scope.end_at)
        .exclude(comment="")
        .order_by("-created_at", "-pk")
        .values("created_at", "score", "comment", "member__first_name")[:limit]
    )
    return Series(
        key="comments",
        title=gettext("Recent comments"),
        label_header=gettext("Date"),
        labels=[row["created_at"].astimezone(tz).date().isoformat() for row in rows],
        datasets=[
            Dataset(gettext("Score"), [row["score"] for row in rows], kind="score"),
            Dataset(gettext("Comment"), [row["comment"] for row in rows], kind="text"),
            Dataset(gettext("First name"), [row["member__first_name"] for row in rows], kind="text"),
        ],
        chart="table",
        extra={"limit": limit},
    )


def rfm_series(scope: KpiScope) -> Series:
    """The RFM grid of the last finished scoring run (``analytics.selectors.scores.rfm_grid``)
    as a table: one row per R score (5, the most recent, first), one column per F score,
    members in each cell; the named groups and the run's ``as_of`` in ``extra``. Scores are
    those of the last run, whatever the period; the store scopes members as the KPIs do.
    Three queries (the cells, the groups, the run)."""
    grid = rfm_grid(scope.store)
    run = score_run_latest()
    recency = sorted(SCORES, reverse=True)
    return Series(
        key="rfm",
        title=gettext("RFM grid"),
        label_header=gettext("Recency score (R)"),
        labels=[str(r) for r in recency],
        datasets=[
            Dataset(gettext("Frequency %(score)d") % {"score": f}, [grid.cells[(r, f)] for r in recency])
            for f in SCORES
        ],
        chart="grid",
        note=gettext("Members by recency and frequency score (5 is the most recent, the most frequent), "
                     "from the last nightly scoring."),
        extra={
            "x_axis": gettext("Frequency score (F)"),
            "y_axis": gettext("Recency score (R)"),
            "groups": [[str(group.label), count] for group, count in grid.groups.items()],
            "scored": grid.scored,
            "as_of": run.as_of.astimezone(_tz(scope)).isoformat() if run is not None else None,  # local
        },
    )


# -- the dashboard ----------------------------------------------------------------

# members 1, purchases 1, the period's ledger 1, opening liability 1, ageing 1, tiers 2, RFM 3,
# NPS 1, comments 1
DASHBOARD_QUERIES = 12


def dashboard_series(scope: KpiScope, program: Program, *, now: dt.datetime | None = None) -> dict[str, Series]:
    """Every chart of the dashboard, by key, in the page's order: members, purchases,
    points, liability, liability-ageing, tiers, rfm, nps, comments.
    ``DASHBOARD_QUERIES`` queries whatever the number of buckets or members (the
    purchases' query serves both the members' and the purchases' charts, the ledger's
    both the points' and the liability's). Reads only;
    titles are translated in the active language, so a cache of the result must be
    keyed by language too.
    """
    axis = _Axis(scope)
    purchase_rows, ledger_rows = _purchase_rows(axis), _ledger_rows(axis)
    series = [
        _members_from(axis, _member_rows(axis), purchase_rows),
        _purchases_from(axis, purchase_rows),
        _points_from(axis, ledger_rows),
        _liability_from(axis, _opening_liability(scope), ledger_rows, program),
        liability_ageing(scope, program, now=now),
        tier_distribution(scope),
        rfm_series(scope),
        _nps_from(axis, _feedback_rows(axis)),
        recent_comments(scope),
    ]
    return {item.key: item for item in series}
