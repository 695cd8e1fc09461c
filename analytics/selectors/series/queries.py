"""The grouped queries the charts read: one each, grouped by bucket."""

from __future__ import annotations

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from analytics.kpis import (
    DETRACTORS,
    EARNED_KINDS,
    EXPIRED_KINDS,
    NET_AMOUNT,
    NOT_DELETED,
    OUTSTANDING_POINTS,
    PROMOTERS,
    REDEEMED_KINDS,
    KpiScope,
    counted_feedback,
    counted_purchases,
    enrolled_members,
    ledger_store_q,
    liability_entries,
    liability_store_q,
)
from analytics.selectors.series.buckets import _Axis
from loyalty.models import LedgerEntry


def _member_rows(axis: _Axis) -> list[dict]:
    scope = axis.scope
    return list(
        enrolled_members(scope).filter(enrolled_at__lt=scope.end_at)
        .values(bucket=axis.trunc(F("enrolled_at"), from_start=True))
        .annotate(
            enrolled=Count("pk", filter=NOT_DELETED),  # members_total
            new=Count("pk", filter=Q(enrolled_at__gte=scope.start_at)),  # new_members: the erased too
        )
        .order_by()
    )


def _purchase_rows(axis: _Axis) -> list[dict]:
    scope = axis.scope
    with_member, without = Q(member__isnull=False), Q(member__isnull=True)
    return list(
        counted_purchases(scope).filter(purchased_at__gte=scope.start_at, purchased_at__lt=scope.end_at)
        .values(bucket=axis.trunc(F("purchased_at")))
        .annotate(
            active=Count("member", distinct=True),
            member_count=Count("pk", filter=with_member),
            member_amount=Sum(NET_AMOUNT, filter=with_member),
            other_count=Count("pk", filter=without),
            other_amount=Sum(NET_AMOUNT, filter=without),
        )
        .order_by()
    )


def _ledger_rows(axis: _Axis) -> list[dict]:
    """The period's ledger by bucket: the three flows (store by ``ledger_store_q``) and the
    change of the liability (store by ``liability_store_q``), conditional sums of one scan."""
    scope = axis.scope
    entries = LedgerEntry.objects.filter(effective_at__gte=scope.start_at, effective_at__lt=scope.end_at)
    flows = liability = Q()
    if scope.store is not None:
        flows, liability = ledger_store_q(scope.store), liability_store_q(scope.store)
        entries = entries.filter(flows | liability)
    return list(
        entries.values(bucket=axis.trunc(F("effective_at")))
        .annotate(
            earned=Coalesce(Sum("points", filter=flows & Q(kind__in=EARNED_KINDS)), 0),
            redeemed=Coalesce(Sum("points", filter=flows & Q(kind__in=REDEEMED_KINDS)), 0),
            expired=Coalesce(Sum("points", filter=flows & Q(kind__in=EXPIRED_KINDS)), 0),
            change=Coalesce(Sum(OUTSTANDING_POINTS, filter=liability or None), 0),
        )
        .order_by()
    )


def _opening_liability(scope: KpiScope) -> int:
    """Points held at the period's start (the KPI's liability at ``start``): a plain sum,
    no truncation of the history's rows."""
    opening = liability_entries(scope).filter(effective_at__lt=scope.start_at)
    return opening.aggregate(points=Coalesce(Sum(OUTSTANDING_POINTS), 0))["points"]


def _feedback_rows(axis: _Axis) -> list[dict]:
    scope = axis.scope
    return list(
        counted_feedback(scope).filter(created_at__gte=scope.start_at, created_at__lt=scope.end_at)
        .values(bucket=axis.trunc(F("created_at")))
        .annotate(total=Count("pk"), promoters=Count("pk", filter=PROMOTERS), detractors=Count("pk", filter=DETRACTORS))
        .order_by()
    )
