"""The tier table every earn reads, the qualifying value, and the upgrade at once."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Expression, F, QuerySet, Sum

from loyalty.models import (
    LedgerEntry,
    MemberTier,
    Program,
    Purchase,
    Tier,
    TierChange,
)
from loyalty.months import months_shift
from loyalty.process_cache import ProcessCache

TIERS_CACHE_KEY = "loyalty:tiers:v1"


@dataclass(frozen=True)
class TierSnapshot:
    id: int
    code: str
    rank: int
    threshold: Decimal | None  # None: a paid tier
    multiplier: Decimal
    is_paid: bool
    archived: bool = False  # kept by its holders until the next review or the end of their paid period


@dataclass(frozen=True)
class TierTable:
    tiers: tuple[TierSnapshot, ...]  # by rank, lowest first; archived ones too (their holders keep them a while)

    @property
    def qualifying(self) -> tuple[TierSnapshot, ...]:
        """The tiers a member reaches by spend or points (not paid, not archived), lowest first."""
        return tuple(
            tier for tier in self.tiers
            if not tier.is_paid and not tier.archived and tier.threshold is not None
        )

    def get(self, tier_id: int | None) -> TierSnapshot | None:
        return next((tier for tier in self.tiers if tier.id == tier_id), None)

    def qualified_for(self, value: Decimal) -> TierSnapshot | None:
        """The highest qualifying tier whose threshold ``value`` reaches."""
        reached = [tier for tier in self.qualifying if value >= tier.threshold]
        return reached[-1] if reached else None

    def upgrade_possible(self, *, current: TierSnapshot | None, in_grace: bool) -> bool:
        """Whether a member on ``current`` can move up or regain it (else their value need not be read)."""
        if not self.qualifying:
            return False
        return current is None or current.rank < self.qualifying[-1].rank or in_grace

    def upgrade_to(self, *, current: TierSnapshot | None, in_grace: bool, value: Decimal) -> TierSnapshot | None:
        """The upgrade at once of a member on ``current`` whose qualifying value is
        ``value``: the higher tier it reaches, ``current`` itself when it ends a
        running grace period, ``None`` when nothing changes. Pure: the live and
        the bulk paths both decide with it."""
        reached = self.qualified_for(value)
        if reached is None:
            return None
        if current is None or reached.rank > current.rank:
            return reached
        if in_grace and current.threshold is not None and not current.archived and value >= current.threshold:
            return current
        return None


def _load() -> tuple[str, TierTable]:
    rows = list(Tier.objects.order_by("rank"))
    digest = hashlib.sha1(
        ";".join(f"{row.pk}@{row.updated_at.isoformat()}" for row in rows).encode(), usedforsecurity=False
    ).hexdigest()
    return digest, TierTable(tiers=tuple(
        TierSnapshot(
            id=row.pk, code=row.code, rank=row.rank, threshold=row.threshold,
            multiplier=row.multiplier, is_paid=row.is_paid, archived=row.archived,
        )
        for row in rows
    ))


_tiers = ProcessCache(key=TIERS_CACHE_KEY, load=_load)


def tier_table() -> TierTable:
    """The tiers, read once per process while the cache vouches for them (read-only)."""
    return _tiers.get()


def tiers_cache_clear() -> None:
    _tiers.clear()


# -- the qualifying value --------------------------------------------------------

QUALIFYING_KINDS = (LedgerEntry.Kind.EARN, LedgerEntry.Kind.BONUS, LedgerEntry.Kind.REVERSAL)
# How far ahead of the server a till's clock may date a purchase (``purchases.CLOCK_SKEW``).
# The upgrade counts up to it: concurrent earns, each dated by its own clock,
# all count for the one that crosses the threshold.
CLOCK_SKEW = dt.timedelta(minutes=5)
ZERO = Decimal("0")


def tier_window_start(*, as_of: dt.datetime, program: Program) -> dt.datetime:
    """The (excluded) start of the qualification window ending at ``as_of``:
    ``tier_window_months`` calendar months earlier in the program's zone."""
    local = as_of.astimezone(program.tz)
    return months_shift(local, -program.tier_window_months).astimezone(dt.UTC)


def tier_upgrade_window(*, at: dt.datetime, program: Program) -> tuple[dt.datetime, dt.datetime]:
    """The window ``(start, end]`` the upgrade at ``at`` counts: the qualification
    window ending at ``at``, extended by the clock skew a purchase may have."""
    return tier_window_start(as_of=at, program=program), at + CLOCK_SKEW


def tier_value_rows(*, program: Program) -> tuple[QuerySet, str, str, Expression]:
    """What a member's qualifying value sums, for ``Program.tier_metric``: the
    rows, the field naming their member, the field dating them and the value
    of each. Spend: the member's purchases, amount less refunds; points: the
    earn, bonus and reversal entries of their account."""
    if program.tier_metric == "points":
        return LedgerEntry.objects.filter(kind__in=QUALIFYING_KINDS), "account_id", "effective_at", F("points")
    return (
        Purchase.objects.filter(member__isnull=False), "member_id", "purchased_at",
        F("amount") - F("refunded_amount"),
    )


def tier_values_query(*, member_ids, as_of: dt.datetime, program: Program, until: dt.datetime | None = None):
    """``(member_id, value)`` rows of the members' qualifying values over the
    window ``(start, as_of]`` (to ``until`` when given): one aggregate on
    ``purchase_member_at`` (spend) or ``ledger_account_at`` (points). Members
    with nothing in the window have no row."""
    start = tier_window_start(as_of=as_of, program=program)
    rows, member, at, value = tier_value_rows(program=program)
    return (
        rows.filter(**{f"{member}__in": member_ids, f"{at}__gt": start, f"{at}__lte": until or as_of})
        .order_by()
        .values_list(member)
        .annotate(value=Sum(value))
    )


def tier_value(
    *, member_id: int, as_of: dt.datetime, program: Program, until: dt.datetime | None = None,
) -> Decimal:
    """One member's qualifying value at ``as_of`` (one aggregate query)."""
    rows = list(tier_values_query(member_ids=[member_id], as_of=as_of, program=program, until=until))
    return Decimal(rows[0][1] or 0) if rows else ZERO


# -- upgrades, in the earn's transaction ------------------------------------------


def tier_upgrade_if_qualified(*, member_id: int, now: dt.datetime, program: Program) -> TierChange | None:
    """Move the member up at once if their qualifying value at ``now`` reaches a
    tier ranked above their current one (a paid tier in force counts with its
    rank); clear a running grace period if it reaches their current tier again.
    The window ends at ``now`` plus the clock skew a purchase may have, so that
    earns recorded concurrently, each dated by its own clock, all count.

    Call it under the member's ``PointsAccount`` lock, inside the earn's
    transaction, after the earn is written (``account_lock``): the lock
    serialises every change of the member's tier. Issues no query when no
    qualifying tier exists; reads the member's tier, then (unless they already
    hold the top tier with no grace running) one aggregate. Writes the
    ``MemberTier`` and a ``TierChange(QUALIFIED)``, which it returns; ``None``
    when nothing changed, so calling it again changes nothing more.
    """
    table = tier_table()
    if not table.qualifying:
        return None
    status = MemberTier.objects.filter(member_id=member_id).first()
    current = table.get(status.tier_id) if status is not None else None
    in_grace = status is not None and status.grace_until is not None
    if not table.upgrade_possible(current=current, in_grace=in_grace):
        return None  # nothing above to reach, nothing to regain
    _start, until = tier_upgrade_window(at=now, program=program)
    value = tier_value(member_id=member_id, as_of=now, program=program, until=until)
    target = table.upgrade_to(current=current, in_grace=in_grace, value=value)
    if target is None:
        return None
    if current is None or target.id != current.id:
        return _tier_move(status, member_id=member_id, tier_id=target.id, reason=TierChange.Reason.QUALIFIED, at=now)
    status.grace_until = None  # back above its threshold: the grace period ends
    status.save(update_fields=["grace_until"])
    return TierChange.objects.create(
        member_id=member_id, from_tier_id=current.id, to_tier_id=current.id,
        reason=TierChange.Reason.QUALIFIED, at=now,
    )


def _tier_move(
    status: MemberTier | None, *, member_id: int, tier_id: int | None, reason: str, at: dt.datetime,
    actor_id: int | None = None,
) -> TierChange:
    """Put the member (locked by the caller) on ``tier_id``; clears any grace."""
    from_tier_id = status.tier_id if status is not None else None
    created = status is None
    if status is None:
        status = MemberTier(member_id=member_id)
    status.tier_id = tier_id
    status.since = at
    status.grace_until = None
    status.save(force_insert=created)
    return TierChange.objects.create(
        member_id=member_id, from_tier_id=from_tier_id, to_tier_id=tier_id, reason=reason, at=at,
        actor_id=actor_id,
    )
