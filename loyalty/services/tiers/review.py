"""The periodic review: grace periods, moves down, and late upgrades, in batches."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from loyalty.models import (
    MemberTier,
    PointsAccount,
    Program,
    TierChange,
    VipFee,
)
from loyalty.months import months_shift
from loyalty.services.program import program_get
from loyalty.services.tiers.table import TierSnapshot, TierTable, tier_table, tier_values_query

# -- the periodic review --------------------------------------------------------------

REVIEW_DAY = 1  # of each month
REVIEW_TIME = dt.time(2, 30)  # UTC (CELERY_TIMEZONE): see CELERY_BEAT_SCHEDULE["review-tiers"]


def next_review_at(*, now: dt.datetime, program: Program | None = None) -> dt.datetime:
    """When the next periodic review runs after ``now`` (the beat schedule:
    the first day of each month at ``REVIEW_TIME`` UTC). ``program`` is
    accepted for callers that show it in the program's zone."""
    utc = now.astimezone(dt.UTC)
    this_month = dt.datetime.combine(utc.date().replace(day=REVIEW_DAY), REVIEW_TIME, tzinfo=dt.UTC)
    return this_month if this_month > utc else months_shift(this_month, 1)


@dataclass(frozen=True)
class ReviewResult:
    members: int = 0  # accounts looked at
    upgraded: int = 0
    grace_started: int = 0
    regained: int = 0
    moved_down: int = 0


class _Writes:
    """The tier changes of one batch, written together (the accounts are locked)."""

    def __init__(self) -> None:
        self.created: list[MemberTier] = []
        self.updated: list[MemberTier] = []
        self.changes: list[TierChange] = []
        self.counts: Counter[str] = Counter()

    def move(self, status: MemberTier | None, *, member_id: int, tier_id: int | None, reason: str,
             at: dt.datetime, count: str, vip_until: object = None, clear_vip: bool = False) -> MemberTier:
        self.changes.append(TierChange(
            member_id=member_id, from_tier_id=status.tier_id if status else None, to_tier_id=tier_id,
            reason=reason, at=at,
        ))
        if status is None:
            status = MemberTier(member_id=member_id)
            self.created.append(status)
        else:
            self.updated.append(status)
        status.tier_id, status.since, status.grace_until = tier_id, at, None
        if clear_vip:
            status.vip_until = None
        self.counts[count] += 1
        return status

    def mark(self, status: MemberTier, *, reason: str, at: dt.datetime, count: str) -> None:
        """A change that keeps the tier (a grace period started or ended)."""
        self.changes.append(TierChange(
            member_id=status.member_id, from_tier_id=status.tier_id, to_tier_id=status.tier_id,
            reason=reason, at=at,
        ))
        self.updated.append(status)
        self.counts[count] += 1

    def flush(self) -> None:
        if self.created:
            MemberTier.objects.bulk_create(self.created)
        if self.updated:
            MemberTier.objects.bulk_update(self.updated, ["tier", "since", "grace_until", "vip_until"])
        if self.changes:
            TierChange.objects.bulk_create(self.changes)


def _paid_floors(member_ids: list[int]) -> dict[int, int]:
    """The tier of each member's latest paid-tier fee (for members whose paid
    period is in force while they hold a higher, qualifying tier)."""
    if not member_ids:
        return {}
    rows = VipFee.objects.filter(member_id__in=member_ids).order_by("member_id", "pk")
    return dict(rows.values_list("member_id", "tier_id"))  # the latest fee of each member wins


def tier_review_member(
    writes: _Writes, table: TierTable, *, member_id: int, status: MemberTier | None, value: Decimal,
    floor: TierSnapshot | None, now: dt.datetime, grace_days: int,
) -> None:
    """The periodic review's decision for one member (see ``tiers_review``), given their
    tier ``status`` (``None``: no tier), qualifying ``value`` at ``now`` and paid-tier
    ``floor``. Reads and writes nothing itself: it mutates ``status.grace_until`` and
    hands each change to ``writes``: ``writes.move(status, member_id=, tier_id=, reason=,
    at=, count=)`` for a new tier, ``writes.mark(status, reason=, at=, count=)`` for a
    grace period started or ended. ``tiers_review`` passes its batch writer; the
    what-if replay passes one that moves its in-memory tier.
    """
    current = table.get(status.tier_id) if status is not None else None
    if current is not None and current.is_paid:
        return  # governed by its fee: ``vip_expire_due`` moves the member when it ends
    reached = table.qualified_for(value)
    target = max((tier for tier in (reached, floor) if tier is not None), key=lambda tier: tier.rank, default=None)
    if current is None:
        if target is not None:
            writes.move(status, member_id=member_id, tier_id=target.id, reason=TierChange.Reason.QUALIFIED,
                        at=now, count="upgraded")
        return
    if target is not None and target.rank > current.rank:
        writes.move(status, member_id=member_id, tier_id=target.id, reason=TierChange.Reason.QUALIFIED,
                    at=now, count="upgraded")
        return
    if not current.archived and current.threshold is not None and value >= current.threshold:
        if status.grace_until is not None:
            status.grace_until = None
            writes.mark(status, reason=TierChange.Reason.QUALIFIED, at=now, count="regained")
        return
    grace_over = status.grace_until is not None and now >= status.grace_until
    if current.archived or grace_days == 0 or grace_over:
        writes.move(status, member_id=member_id, tier_id=target.id if target else None,
                    reason=TierChange.Reason.REVIEW, at=now, count="moved_down")
    elif status.grace_until is None:
        status.grace_until = now + dt.timedelta(days=grace_days)
        writes.mark(status, reason=TierChange.Reason.GRACE, at=now, count="grace_started")


def tiers_review(*, now: dt.datetime | None = None, batch_size: int = 500) -> ReviewResult:
    """The periodic review of every member's tier at ``now``.

    A member whose value fell below their (qualifying) tier's threshold gets a
    grace period (``grace_until = now + tier_grace_days``, ``TierChange(GRACE)``)
    at the first review that finds it; a review at or after ``grace_until``
    moves them down to the highest tier they qualify for, maybe none
    (``TierChange(REVIEW)``; at once when the grace is 0 days or their tier
    was archived). Back above the threshold, the grace ends. Members who
    qualify for a higher tier (after an import, or lowered thresholds) move up.
    A paid tier in force is never reviewed, and is the floor of a member who
    holds a higher tier meanwhile.

    Works in batches of accounts, each one transaction holding the batch's
    account locks (in primary-key order) and reading every value with one
    aggregate. Idempotent: a second run with the same ``now`` changes nothing.
    """
    now = now or timezone.now()
    table = tier_table()
    if not table.tiers:
        return ReviewResult()
    program = program_get()
    totals: Counter[str] = Counter()
    last = 0
    while True:
        with transaction.atomic():
            ids = list(
                PointsAccount.objects.select_for_update().filter(pk__gt=last).order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            last = ids[-1]
            statuses = {status.member_id: status for status in MemberTier.objects.filter(member_id__in=ids)}
            values = dict(tier_values_query(member_ids=ids, as_of=now, program=program)) if table.qualifying else {}
            floors = _paid_floors([
                member_id for member_id, status in statuses.items()
                if status.vip_until is not None and status.vip_until > now
            ])
            writes = _Writes()
            for member_id in ids:
                tier_review_member(
                    writes, table, member_id=member_id, status=statuses.get(member_id),
                    value=Decimal(values.get(member_id) or 0), floor=table.get(floors.get(member_id)),
                    now=now, grace_days=program.tier_grace_days,
                )
            writes.flush()
            totals.update(writes.counts)
            totals["members"] += len(ids)
    return ReviewResult(**totals)
