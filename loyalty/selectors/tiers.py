"""Reads about tiers: a member's standing and progress (portal, staff, till),
the tier distribution and the members near a threshold (staff).

The sentences are written here, in the active language, so that the three
faces say the same thing ("Spend 120.00 PLN more to reach Gold").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from babel.numbers import format_decimal
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import formats
from django.utils.translation import get_language, gettext, ngettext, to_locale

from loyalty.currencies import money_format
from loyalty.models import MemberTier, Program, Purchase, Tier, TierChange
from loyalty.services.tiers import next_review_at, tier_table, tier_window_start
from loyalty.services.tiers.table import tier_value_rows
from members.models import Member

ZERO = Decimal("0")
NEAR_SHARE = Decimal("0.10")
HISTORY_SIZE = 20


# -- wording --------------------------------------------------------------------


def _points(value: Decimal | int) -> str:
    return format_decimal(int(value), locale=to_locale(get_language() or "en"))


def _day(value: dt.datetime, program: Program) -> str:
    return formats.date_format(value.astimezone(program.tz), "DATE_FORMAT")


def tier_amount_text(value: Decimal, program: Program) -> str:
    """A spend or a number of points, as the program measures tiers."""
    if program.tier_metric == "points":
        return ngettext("%(points)s point", "%(points)s points", int(value)) % {"points": _points(value)}
    return money_format(value, program.currency)


def _to_reach(missing: Decimal, tier: Tier, program: Program) -> str:
    if program.tier_metric == "points":
        return ngettext(
            "Earn %(points)s point more to reach %(tier)s.", "Earn %(points)s points more to reach %(tier)s.",
            int(missing),
        ) % {"points": _points(missing), "tier": tier.name}
    return gettext("Spend %(amount)s more to reach %(tier)s.") % {
        "amount": money_format(missing, program.currency), "tier": tier.name,
    }


def _to_keep(missing: Decimal, tier: Tier, by: dt.datetime, program: Program) -> str:
    if program.tier_metric == "points":
        return ngettext(
            "Earn %(points)s point more by %(date)s to keep %(tier)s.",
            "Earn %(points)s points more by %(date)s to keep %(tier)s.", int(missing),
        ) % {"points": _points(missing), "date": _day(by, program), "tier": tier.name}
    return gettext("Spend %(amount)s more by %(date)s to keep %(tier)s.") % {
        "amount": money_format(missing, program.currency), "date": _day(by, program), "tier": tier.name,
    }


# -- one member ------------------------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    """Where a member stands: their tier, what it gives, how far the next one is
    and what keeps the current one. ``value`` is the qualifying value now;
    ``counted_for_review`` what of the window of the next review is already
    spent or earned."""

    metric: str
    tier: Tier | None
    since: dt.datetime | None
    grace_until: dt.datetime | None
    vip_until: dt.datetime | None
    value: Decimal
    value_text: str
    window_months: int
    next_tier: Tier | None = None
    to_next: Decimal | None = None
    review_at: dt.datetime | None = None
    counted_for_review: Decimal | None = None
    to_keep: Decimal | None = None
    next_text: str = ""
    keep_text: str = ""
    history: list[TierChange] = field(default_factory=list)

    @property
    def benefits(self) -> list[str]:
        return self.tier.benefit_list if self.tier else []

    @property
    def is_paid_period(self) -> bool:
        return self.tier is not None and self.tier.is_paid

    @property
    def to_next_share(self) -> int:
        """How far towards the next tier, in percent (for a progress bar)."""
        if self.next_tier is None or not self.next_tier.threshold:
            return 100
        return max(0, min(100, int(self.value * 100 / self.next_tier.threshold)))


def _windows_sum(*, member_id: int, program: Program, now: dt.datetime, review_at: dt.datetime | None):
    """The qualifying value now and, when asked, what already counts towards the
    window of the review at ``review_at``: one aggregate (two filtered sums)."""
    start_now = tier_window_start(as_of=now, program=program)
    start_review = tier_window_start(as_of=review_at, program=program) if review_at else start_now
    lower = min(start_now, start_review)
    rows, member, at, expression = tier_value_rows(program=program)
    rows = rows.filter(**{member: member_id, f"{at}__gt": lower, f"{at}__lte": now})
    sums = rows.aggregate(
        now=Sum(expression, filter=Q(**{f"{at}__gt": start_now})),
        review=Sum(expression, filter=Q(**{f"{at}__gt": start_review})),
    )
    return Decimal(sums["now"] or 0), Decimal(sums["review"] or 0)


def tier_progress_get(*, member: Member, program: Program, now: dt.datetime) -> TierProgress | None:
    """The member's tier standing for the portal, the staff member page and the
    till; ``None`` when the program has no tiers. Four queries: the member's
    tier, the tiers (translated), one aggregate, the latest history."""
    table = tier_table()
    if not table.tiers:
        return None
    status = MemberTier.objects.filter(member_id=member.pk).first()
    tier_ids = {tier.id for tier in table.tiers if not tier.archived}
    if status is not None and status.tier_id:
        tier_ids.add(status.tier_id)
    tiers = {tier.pk: tier for tier in Tier.objects.filter(pk__in=tier_ids)}
    current = tiers.get(status.tier_id) if status is not None else None
    keeps_by_threshold = current is not None and not current.is_paid and not current.archived
    review_at = None
    if keeps_by_threshold:
        grace_until = status.grace_until
        # In grace, the review that decides is the first at or after the end of the grace.
        review_at = next_review_at(now=max(now, grace_until - dt.timedelta(microseconds=1)) if grace_until else now)
    value, counted = _windows_sum(member_id=member.pk, program=program, now=now, review_at=review_at)
    current_rank = current.rank if current is not None else -1
    above = [
        tiers[snapshot.id] for snapshot in table.qualifying if snapshot.rank > current_rank and snapshot.id in tiers
    ]
    next_tier = above[0] if above else None
    progress = {
        "metric": program.tier_metric, "tier": current, "since": status.since if status else None,
        "grace_until": status.grace_until if status else None, "vip_until": status.vip_until if status else None,
        "value": value, "value_text": tier_amount_text(value, program), "window_months": program.tier_window_months,
    }
    if next_tier is not None:
        progress["next_tier"] = next_tier
        progress["to_next"] = max(ZERO, next_tier.threshold - value)
        progress["next_text"] = _to_reach(progress["to_next"], next_tier, program)
    if keeps_by_threshold:
        missing = max(ZERO, current.threshold - counted)
        progress.update(review_at=review_at, counted_for_review=counted, to_keep=missing)
        if missing:
            progress["keep_text"] = _to_keep(missing, current, review_at, program)
        else:
            progress["keep_text"] = gettext(
                "You have already done enough to keep %(tier)s at the review on %(date)s."
            ) % {"tier": current.name, "date": _day(review_at, program)}
    elif current is not None and current.is_paid and status.vip_until:
        progress["keep_text"] = gettext("Your paid tier %(tier)s runs until %(date)s.") % {
            "tier": current.name, "date": _day(status.vip_until, program),
        }
    history = list(
        TierChange.objects.filter(member_id=member.pk).select_related("from_tier", "to_tier", "actor")
        .order_by("-at", "-pk")[:HISTORY_SIZE]
    )
    return TierProgress(history=history, **progress)


def tier_history_text(change: TierChange) -> str:
    """One line of a member's tier history in their words."""
    reason = TierChange.Reason
    names = {
        "from": change.from_tier.name if change.from_tier else "",
        "to": change.to_tier.name if change.to_tier else "",
    }
    if change.reason == reason.QUALIFIED:
        if change.from_tier_id == change.to_tier_id:
            return gettext("Back above the threshold of %(to)s: you keep it.") % names
        return gettext("You reached %(to)s.") % names
    if change.reason == reason.GRACE:
        return gettext("Below the threshold of %(to)s at the review: a grace period started.") % names
    if change.reason == reason.REVIEW:
        if change.to_tier_id is None:
            return gettext("Moved off %(from)s at the review.") % names
        return gettext("Moved from %(from)s to %(to)s at the review.") % names
    if change.reason == reason.VIP:
        return gettext("Paid tier %(to)s.") % names
    if change.reason == reason.VIP_EXPIRED:
        if change.to_tier_id is None:
            return gettext("Your paid tier %(from)s ended.") % names
        return gettext("Your paid tier %(from)s ended; your tier is now %(to)s.") % names
    return gettext("Tier set to %(to)s by our team.") % names if change.to_tier_id else change.get_reason_display()


# -- staff ---------------------------------------------------------------------------


def tier_list_for_staff() -> QuerySet[Tier]:
    """Every tier (archived last) with the number of members who hold it: one query."""
    holders = (
        MemberTier.objects.filter(tier_id=OuterRef("pk")).order_by().values("tier_id")
        .annotate(count=Count("*")).values("count")
    )
    return Tier.objects.annotate(
        members=Coalesce(Subquery(holders, output_field=IntegerField()), Value(0)),
    ).order_by("archived", "rank")


def members_without_tier_count() -> int:
    """Members (not deleted) who hold no tier, for the distribution: one query."""
    return (
        Member.objects.exclude(status=Member.Status.DELETED)
        .exclude(pk__in=MemberTier.objects.filter(tier__isnull=False).values("member_id"))
        .count()
    )


@dataclass(frozen=True)
class NearThreshold:
    member: Member
    tier: Tier | None  # their tier now
    next_tier: Tier
    value: Decimal
    missing: Decimal
    missing_text: str


def tier_near_threshold_rows(*, program: Program, now: dt.datetime, share: Decimal = NEAR_SHARE):
    """``(member_id, value)`` rows of the members whose qualifying value is within
    ``share`` below the threshold of a tier ranked above their own, closest
    first: one aggregate over the window (the whole window is read: there is no
    stored value to search), to paginate."""
    bands = tier_table().qualifying
    if not bands:
        return Purchase.objects.none().values_list("member_id")
    start = tier_window_start(as_of=now, program=program)
    rank = Subquery(MemberTier.objects.filter(member_id=OuterRef("member_id")).values("tier__rank")[:1])
    rows, member, at, value = tier_value_rows(program=program)
    rows = rows.filter(**{f"{at}__gt": start, f"{at}__lte": now}).order_by()
    # Grouped by member, named member_id whatever the rows call it.
    rows = rows.values("member_id") if member == "member_id" else rows.values(member_id=F(member))
    rows = rows.annotate(value=Sum(value))
    near = Q()
    for tier in bands:
        low = tier.threshold * (1 - share)
        near |= Q(value__gte=low, value__lt=tier.threshold) & (Q(rank__isnull=True) | Q(rank__lt=tier.rank))
    return rows.annotate(rank=rank).filter(near).order_by("-value", "member_id").values_list("member_id", "value")


def tier_near_threshold_page(*, rows: list[tuple[int, Decimal]], program: Program) -> list[NearThreshold]:
    """The members of one page of ``tier_near_threshold_rows``, with their tier
    and what they miss: three queries whatever the page size."""
    table = tier_table()
    ids = [member_id for member_id, _ in rows]
    members = Member.objects.in_bulk(ids)
    statuses = dict(MemberTier.objects.filter(member_id__in=ids).values_list("member_id", "tier_id"))
    tiers = Tier.objects.in_bulk([tier.id for tier in table.tiers])
    page = []
    for member_id, value in rows:
        value = Decimal(value or 0)
        current = table.get(statuses.get(member_id))
        rank = current.rank if current else -1
        next_snapshot = next((tier for tier in table.qualifying if tier.rank > rank), None)
        if next_snapshot is None or member_id not in members:
            continue
        missing = next_snapshot.threshold - value
        page.append(NearThreshold(
            member=members[member_id], tier=tiers.get(current.id) if current else None,
            next_tier=tiers[next_snapshot.id], value=value, missing=missing,
            missing_text=tier_amount_text(missing, program),
        ))
    return page
