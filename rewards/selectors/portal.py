"""Reads for the member portal's rewards pages (``/me/rewards/``, ``/me/vouchers/``).

The catalog asks ``reward_redeemable_check`` about every reward, with the
facts it would otherwise read per reward read once for the whole page: the
member's tier rank, the redemptions counting against each limit (one
grouped query) and the free codes of the partner pools (one grouped query).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from loyalty.exceptions import InsufficientPoints
from loyalty.models import MemberTier, PointsAccount, Program
from members.exceptions import LoyaltyError
from members.models import Member
from rewards.exceptions import RewardLimitReached, RewardOutOfStock, RewardUnavailable, TierTooLow
from rewards.models import PartnerCode, Reward, Voucher, WaitlistEntry
from rewards.selectors.states import voucher_state_q
from rewards.services.redemption import RedeemFacts, reward_limit_start, reward_redeemable_check, reward_stock_check

# Why a reward cannot be redeemed, as the page groups it (the service's error tells the words).
AFFORD, SHORT, TIER, LIMIT, SOLD_OUT, FULL, NOT_NOW, CLOSED = (
    "afford", "short", "tier", "limit", "sold_out", "full", "not_now", "closed",
)


@dataclass
class CatalogItem:
    """One reward as the member sees it now."""

    reward: Reward
    state: str  # AFFORD, SHORT, TIER, LIMIT, SOLD_OUT, FULL, NOT_NOW or CLOSED
    problem: LoyaltyError | None  # the service's reason, ``None`` when it can be redeemed
    available: int  # the member's points
    free_codes: int | None = None  # partner rewards: codes left in the pool
    waiting: bool = False  # on the waitlist of this (full) event
    sold_out: bool = False  # no stock left, whatever the first reason above

    @property
    def can_redeem(self) -> bool:
        return self.state == AFFORD

    @property
    def short_by(self) -> int:
        return max(self.reward.points_cost - self.available, 0)

    @property
    def share(self) -> int:
        """Percent of the cost the member holds (0-100), for a progress bar."""
        cost = self.reward.points_cost
        return 100 if cost <= 0 else min(100, self.available * 100 // cost)

    @property
    def debit(self) -> int:
        return -self.reward.points_cost

    @property
    def after(self) -> int:
        return self.available - self.reward.points_cost

    @property
    def places_left(self) -> int | None:
        if self.reward.kind == Reward.Kind.PARTNER:
            return self.free_codes
        return self.reward.stock

    @property
    def reason(self) -> str:
        return self.problem.message if self.problem is not None else ""


@dataclass
class Catalog:
    available: int
    items: list[CatalogItem] = field(default_factory=list)

    @property
    def affordable(self) -> list[CatalogItem]:
        return [item for item in self.items if item.state == AFFORD]

    @property
    def short(self) -> list[CatalogItem]:
        return [item for item in self.items if item.state == SHORT]

    @property
    def blocked(self) -> list[CatalogItem]:
        return [item for item in self.items if item.state not in (AFFORD, SHORT)]

    @property
    def closest(self) -> CatalogItem | None:
        """The cheapest reward the member could redeem but for points (the home page's nudge)."""
        return min(self.short, key=lambda item: (item.short_by, item.reward.points_cost), default=None)


def reward_list_for_catalog() -> QuerySet[Reward]:
    """Active rewards members may redeem for points, cheapest first."""
    return (
        Reward.objects.filter(status=Reward.Status.ACTIVE, in_catalog=True)
        .select_related("min_tier", "charity")
        .order_by("points_cost", "pk")
    )


def _state(error: LoyaltyError) -> str:
    if isinstance(error, InsufficientPoints):
        return SHORT
    if isinstance(error, TierTooLow):
        return TIER
    if isinstance(error, RewardLimitReached):
        return LIMIT
    if isinstance(error, RewardOutOfStock):
        return FULL if error.code == "event_full" else SOLD_OUT
    if isinstance(error, RewardUnavailable) and error.params.get("reason") == "not_yet":
        return NOT_NOW
    return CLOSED


def limit_counts(*, rewards: Iterable[Reward], member_id: int, now: dt.datetime, tz: str) -> dict[int, int]:
    """For each reward with a per-member limit, the member's redemptions that
    count against it now (as ``reward_member_count``), in one grouped query."""
    by_start: dict[dt.datetime | None, list[int]] = defaultdict(list)
    for reward in rewards:
        if reward.member_limit:
            by_start[reward_limit_start(reward=reward, now=now, tz=tz)].append(reward.pk)
    if not by_start:
        return {}
    window = Q()
    for start, ids in by_start.items():
        window |= Q(reward_id__in=ids) if start is None else Q(reward_id__in=ids, issued_at__gte=start)
    rows = (
        Voucher.objects.filter(window, member_id=member_id, origin=Voucher.Origin.REDEMPTION)
        .exclude(status=Voucher.Status.CANCELLED)
        .values("reward_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["reward_id"]: row["n"] for row in rows}


def partner_free_counts(*, rewards: Iterable[Reward]) -> dict[int, int]:
    """Free codes left in each partner reward's pool, in one grouped query."""
    ids = [reward.pk for reward in rewards if reward.kind == Reward.Kind.PARTNER]
    if not ids:
        return {}
    rows = (
        PartnerCode.objects.filter(reward_id__in=ids, voucher__isnull=True)
        .values("reward_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["reward_id"]: row["n"] for row in rows}


def catalog_get(
    *,
    member: Member,
    program: Program,
    rewards: Iterable[Reward] | None = None,
    available: int | None = None,
    with_waitlist: bool = True,
    now: dt.datetime | None = None,
) -> Catalog:
    """The catalog (or the given ``rewards``) with what ``member`` can redeem now
    and why not the rest, from ``reward_redeemable_check(stock=True)``.

    A fixed number of queries whatever the number of rewards: the rewards, the
    account (unless ``available`` is given), the tier rank if a reward has a
    minimum tier, the limit counts if one has a limit, the partner pools if
    one is a partner reward, the member's waitlist places if an event is full.
    """
    now = now or timezone.now()
    rewards = list(reward_list_for_catalog() if rewards is None else rewards)
    if available is None:
        available = PointsAccount.objects.filter(member_id=member.pk).values_list("available", flat=True).first() or 0
    account = PointsAccount(member_id=member.pk, available=available)  # read, not saved: the check reads .available
    tier_rank = None
    if any(reward.min_tier_id is not None for reward in rewards):
        tier_rank = (
            MemberTier.objects.filter(member_id=member.pk, tier__isnull=False)
            .values_list("tier__rank", flat=True)
            .first()
        )
    used = limit_counts(rewards=rewards, member_id=member.pk, now=now, tz=program.timezone)
    free = partner_free_counts(rewards=rewards)
    catalog = Catalog(available=available)
    for reward in rewards:
        facts = RedeemFacts(tier_rank=tier_rank, used=used.get(reward.pk, 0), free_codes=free.get(reward.pk, 0))
        item = CatalogItem(
            reward=reward, state=AFFORD, problem=None, available=available,
            free_codes=facts.free_codes if reward.kind == Reward.Kind.PARTNER else None,
        )
        try:
            reward_redeemable_check(
                reward=reward, member=member, account=account, program=program, now=now, stock=True, facts=facts,
            )
        except LoyaltyError as error:
            item.state, item.problem = _state(error), error
        try:
            reward_stock_check(reward=reward, free_codes=facts.free_codes)
        except RewardOutOfStock:
            item.sold_out = True
        catalog.items.append(item)
    full = [item.reward.pk for item in catalog.items if item.state == FULL]
    if with_waitlist and full:
        waiting = set(
            WaitlistEntry.objects.filter(
                member_id=member.pk, reward_id__in=full, status=WaitlistEntry.Status.WAITING
            ).values_list("reward_id", flat=True)
        )
        for item in catalog.items:
            item.waiting = item.reward.pk in waiting
    return catalog


def catalog_item_get(*, member: Member, program: Program, reward: Reward) -> CatalogItem:
    """One reward of the catalog as ``catalog_get`` shows it."""
    return catalog_get(member=member, program=program, rewards=[reward]).items[0]


# -- the wallet ----------------------------------------------------------------------------


def _vouchers(member: Member) -> QuerySet[Voucher]:
    return Voucher.objects.filter(member_id=member.pk).select_related("reward", "reward__charity")


def _usable_q(now: dt.datetime) -> Q:
    return voucher_state_q(Voucher.Status.ISSUED, now=now)


def voucher_list_ready(*, member: Member, now: dt.datetime | None = None) -> QuerySet[Voucher]:
    """Vouchers the member can show at the till, the one that ends first first
    (those without an end last)."""
    now = now or timezone.now()
    return _vouchers(member).filter(_usable_q(now)).order_by(F("valid_until").asc(nulls_last=True), "issued_at", "pk")


def voucher_list_history(*, member: Member, now: dt.datetime | None = None) -> QuerySet[Voucher]:
    """Used, expired (also those past their end the expiry task has not marked
    yet) and cancelled vouchers, the latest issued first."""
    now = now or timezone.now()
    return _vouchers(member).exclude(_usable_q(now)).order_by("-issued_at", "-pk")


def voucher_get_for_member(*, member: Member, code: str) -> Voucher | None:
    """The member's voucher with ``code`` (canonical form), or ``None``: another
    member's code is not found, never forbidden."""
    return (
        _vouchers(member)
        .select_related("used_store", "partner_code")
        .filter(code=code)
        .first()
    )
