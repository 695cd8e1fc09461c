"""Reads about the program, purchases and points, shaped for the three faces.

Every list is a queryset with its related rows joined (``select_related``),
so a page of it is one query however long the page is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from loyalty.exceptions import ProgramNotConfigured
from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Program, Purchase, Store, TillAction
from loyalty.services.program import program_get
from members.models import Member

ZERO = Decimal("0")


def program_get_or_none() -> Program | None:
    """The (cached) program, or ``None`` before it has been set up."""
    try:
        return program_get()
    except ProgramNotConfigured:
        return None


def program_region() -> str:
    """The program's country (ISO 3166 code): national phone numbers are read in it; "" before setup."""
    program = program_get_or_none()
    return program.country.code if program is not None and program.country else ""


def local_day_start(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The instant a calendar day starts in ``tz``."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def month_start(now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The start of ``now``'s calendar month in ``tz``."""
    return local_day_start(now.astimezone(tz).date().replace(day=1), tz)


# -- balances ------------------------------------------------------------------


@dataclass(frozen=True)
class Balances:
    available: int = 0
    pending: int = 0
    debt: int = 0


def balances_get(*, member: Member) -> Balances:
    """The member's cached balances (all zero before their first points)."""
    row = (
        PointsAccount.objects.filter(member_id=member.pk)
        .values_list("available", "pending", "debt")
        .first()
    )
    return Balances(*row) if row else Balances()


@dataclass(frozen=True)
class NextExpiry:
    points: int
    expires_at: dt.datetime


def next_expiry_get(*, member: Member, tz: ZoneInfo, now: dt.datetime | None = None) -> NextExpiry | None:
    """The points that expire first: the earliest expiry date (a calendar day in
    ``tz``) of the member's open lots and the points of all lots expiring that day.
    Two queries."""
    now = now or timezone.now()
    open_lots = PointsLot.objects.filter(
        Q(status=PointsLot.Status.PENDING) | Q(status=PointsLot.Status.AVAILABLE),
        account_id=member.pk, remaining__gt=0, expires_at__gt=now,
    )
    first = open_lots.order_by("expires_at").values_list("expires_at", flat=True).first()
    if first is None:
        return None
    day_start = local_day_start(first.astimezone(tz).date(), tz)
    day_end = local_day_start(first.astimezone(tz).date() + dt.timedelta(days=1), tz)
    points = open_lots.filter(expires_at__gte=day_start, expires_at__lt=day_end).aggregate(
        points=Sum("remaining")
    )["points"]
    return NextExpiry(points=points or 0, expires_at=first)


# -- lots and ledger -----------------------------------------------------------


def lot_list_for_member(*, member: Member) -> QuerySet[PointsLot]:
    """The member's lots, newest first, with the purchase and store that earned them."""
    return (
        PointsLot.objects.filter(account_id=member.pk)
        .select_related("purchase__store")
        .order_by("-earned_at", "-pk")
    )


HISTORY_KINDS: dict[str, tuple[str, ...]] = {
    "earned": (LedgerEntry.Kind.EARN, LedgerEntry.Kind.BONUS, LedgerEntry.Kind.RELEASE),
    "spent": (LedgerEntry.Kind.REDEEM, LedgerEntry.Kind.REDEEM_CANCEL),
    "expired": (LedgerEntry.Kind.EXPIRE,),
    "refunds": (LedgerEntry.Kind.REVERSAL,),
    "adjustments": (LedgerEntry.Kind.ADJUST,),
}
"""The portal history's filter groups (what a member calls them) and the ledger kinds in each."""


def ledger_list_for_member(
    *,
    member: Member,
    group: str = "",
    tz: ZoneInfo | None = None,
    day_from: dt.date | None = None,
    day_to: dt.date | None = None,
) -> QuerySet[LedgerEntry]:
    """The member's ledger, latest business time first, with everything a row shows.

    ``group`` narrows it to one of ``HISTORY_KINDS``; ``day_from`` and
    ``day_to`` (included) are calendar days in ``tz`` (the program's zone)
    matched against the business time of each entry.
    """
    entries = (
        LedgerEntry.objects.filter(account_id=member.pk)
        .select_related("purchase__store", "refund", "lot", "actor")
        .order_by("-effective_at", "-pk")
    )
    if group:
        entries = entries.filter(kind__in=HISTORY_KINDS[group])
    if (day_from or day_to) and tz is None:
        raise ValueError("filtering by day needs the program's time zone")
    if day_from is not None:
        entries = entries.filter(effective_at__gte=local_day_start(day_from, tz))
    if day_to is not None:
        entries = entries.filter(effective_at__lt=local_day_start(day_to + dt.timedelta(days=1), tz))
    return entries


# -- purchases -----------------------------------------------------------------


def purchase_list_for_staff(
    *,
    tz: ZoneInfo,
    store: Store | None = None,
    day_from: dt.date | None = None,
    day_to: dt.date | None = None,
    with_member: bool | None = None,
) -> QuerySet[Purchase]:
    """Purchases, latest first, filtered by store, calendar days in ``tz``
    (``day_to`` included) and whether a member was identified."""
    purchases = Purchase.objects.select_related("store", "member").order_by("-purchased_at", "-pk")
    if store is not None:
        purchases = purchases.filter(store=store)
    if day_from is not None:
        purchases = purchases.filter(purchased_at__gte=local_day_start(day_from, tz))
    if day_to is not None:
        purchases = purchases.filter(purchased_at__lt=local_day_start(day_to + dt.timedelta(days=1), tz))
    if with_member is not None:
        purchases = purchases.filter(member__isnull=not with_member)
    return purchases


def purchase_list_refundable(*, member: Member, limit: int = 20) -> list[Purchase]:
    """The member's latest purchases that can still be refunded (for the till)."""
    return list(
        Purchase.objects.filter(member=member, refunded_amount__lt=F("amount"))
        .select_related("store")
        .order_by("-purchased_at", "-pk")[:limit]
    )


def purchase_get_by_external_id(*, external_id: str) -> Purchase | None:
    return Purchase.objects.filter(external_id=external_id).first()


def purchase_list_for_member(*, member: Member) -> QuerySet[Purchase]:
    """The member's own purchases; the portal's only way to reach one (others: 404)."""
    return Purchase.objects.filter(member=member).select_related("store")


# -- the staff dashboard -------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    members_total: int
    purchases_month: int
    amount_month: Decimal
    points_available: int
    points_pending: int
    points_debt: int
    liability: Decimal
    month_start: dt.datetime
    recent_purchases: list[Purchase]


def dashboard_get(*, program: Program, now: dt.datetime | None = None, recent: int = 10) -> Dashboard:
    """The staff landing page's figures, in four queries.

    "This month" is the calendar month in the program's time zone; a
    purchase's amount is net of refunds and a fully refunded purchase is not
    counted. Liability is (available + pending) × point value; debts are not
    netted.
    """
    now = now or timezone.now()
    start = month_start(now, program.tz)
    members_total = Member.objects.exclude(status=Member.Status.DELETED).count()
    local_start = start.date()
    end = local_day_start((local_start + dt.timedelta(days=32)).replace(day=1), program.tz)
    month = Purchase.objects.filter(
        purchased_at__gte=start, purchased_at__lt=end,
        refunded_amount__lt=F("amount"),
    ).aggregate(count=Count("pk"), amount=Coalesce(Sum(F("amount") - F("refunded_amount")), ZERO))
    points = PointsAccount.objects.aggregate(
        available=Coalesce(Sum("available"), 0),
        pending=Coalesce(Sum("pending"), 0),
        debt=Coalesce(Sum("debt"), 0),
    )
    recent_purchases = list(
        Purchase.objects.select_related("store", "member").order_by("-purchased_at", "-pk")[:recent]
    )
    return Dashboard(
        members_total=members_total,
        purchases_month=month["count"],
        amount_month=month["amount"],
        points_available=points["available"],
        points_pending=points["pending"],
        points_debt=points["debt"],
        liability=(points["available"] + points["pending"]) * program.point_value,
        month_start=start,
        recent_purchases=recent_purchases,
    )


def till_action_list_for_member(*, member: Member) -> QuerySet[TillAction]:
    """The till's actions on ``member``, latest first, with the cashier, store and receipts."""
    return (
        TillAction.objects.filter(member=member)
        .select_related("user", "store", "purchase", "refund", "undo_of")
        .order_by("-at", "-pk")
    )
