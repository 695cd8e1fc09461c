"""Redeeming a reward for points: every check, the debit and the voucher in one transaction.

Lock order, the same everywhere in this app: the member's ``PointsAccount``
row, then a partner code row or a voucher row, and the reward's row last
(taken by the conditional stock update at the very end, so that a hot
reward's row is held only while the transaction commits).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from loyalty.exceptions import IdempotencyKeyReused, InsufficientPoints, MemberNotActive
from loyalty.models import MemberTier, PointsAccount, Program, Store
from loyalty.rules import RULE_PERIOD
from loyalty.services.budgets import cap_period_start
from loyalty.services.ledger import account_lock, points_redeem
from loyalty.services.program import program_get
from members.models import Member, User
from rewards.exceptions import (
    EventFull,
    RewardLimitReached,
    RewardOutOfStock,
    RewardUnavailable,
    TierTooLow,
)
from rewards.models import Charity, PartnerCode, Reward, Voucher
from rewards.services.issue import day_text, voucher_create, voucher_valid_until


@dataclass(frozen=True)
class RedeemFacts:
    """What ``reward_redeemable_check`` otherwise reads for one reward, read in
    bulk beforehand by a page that checks many rewards at once (the portal's
    catalog): the member's tier rank (``None``: no tier), the redemptions that
    count against the reward's limit now (``reward_limit_start``), and the free
    codes of a partner reward's pool."""

    tier_rank: int | None
    used: int = 0
    free_codes: int = 0


@dataclass(frozen=True)
class Redemption:
    voucher: Voucher
    created: bool  # False: the same idempotency key was redeemed before
    balance: int  # the member's available points after it


def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str,
    channel: str,
    store: Store | None = None,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> Redemption:
    """Redeem ``reward`` for ``member``: check it may be redeemed (status,
    window, tier, per-member limit, balance, stock), take its points from the
    oldest lots through the ledger and issue a voucher, all in one transaction.

    Locks the member's account row first, so one member's redemptions run one
    after the other (limits and balance are checked under it); then takes a
    unit of stock with a conditional update (``stock > 0``), which holds the
    reward's row until commit, so concurrent redemptions never oversell; a
    partner reward takes its first free code with ``FOR UPDATE SKIP LOCKED``.
    A donation is given at once (its voucher is used, the charity's totals
    grow). Safe to retry with the same ``idempotency_key`` (per member): the
    first voucher is returned with ``created=False``; the key with another
    reward raises ``IdempotencyKeyReused``.
    """
    now = now or timezone.now()
    program = program_get()
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        previous = Voucher.objects.filter(member_id=member.pk, idempotency_key=idempotency_key).first()
        if previous is not None:
            if previous.reward_id != reward.pk:
                raise IdempotencyKeyReused()
            return Redemption(voucher=previous, created=False, balance=_available(member.pk))
        reward = Reward.objects.select_related("min_tier", "charity").get(pk=reward.pk)  # as it is now
        reward_redeemable_check(reward=reward, member=member, account=account, program=program, now=now)
        entry = None
        if reward.points_cost:
            entry = points_redeem(
                member=member, points=reward.points_cost, idempotency_key=f"voucher:{idempotency_key}",
                reason=reward.name[:255], now=now,
            )
        balance = _available(member.pk)
        partner_code = _partner_code_take(reward) if reward.kind == Reward.Kind.PARTNER else None
        donation = reward.kind == Reward.Kind.DONATION
        voucher = voucher_create(
            reward=reward, member_id=member.pk, origin=Voucher.Origin.REDEMPTION, idempotency_key=idempotency_key,
            now=now, valid_until=None if donation else voucher_valid_until(reward=reward, issued_at=now, tz=program.tz),
            points=reward.points_cost, channel=channel, store=store, issued_by=actor,
            redeem_entry_id=entry.pk if entry else None, used=donation,
        )
        if partner_code is not None:
            PartnerCode.objects.filter(pk=partner_code).update(voucher=voucher)
        if donation:
            charity_donation_add(charity_id=reward.charity_id, points=reward.points_cost, amount=reward.value, count=1)
        _stock_take(reward)  # last: the reward's row stays locked only for the commit
        return Redemption(voucher=voucher, created=True, balance=balance)


def _available(member_id: int) -> int:
    return PointsAccount.objects.filter(member_id=member_id).values_list("available", flat=True).first() or 0


def reward_redeemable_check(
    *, reward: Reward, member: Member, account: PointsAccount | None, program: Program, now: dt.datetime,
    stock: bool = False, facts: RedeemFacts | None = None,
) -> None:
    """Raise the first reason ``member`` cannot redeem ``reward`` now, else return.

    In ``reward_redeem`` it runs under the member's account lock; the portal
    and the till call it without a lock to say why a button is not offered
    (``stock=True`` then also checks the stock, which ``reward_redeem`` takes
    with a conditional update instead). With ``facts`` (and ``account``) it
    reads nothing: tier, limit count and partner codes come from them.
    """
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive(card=member.card_number)
    name = reward.name
    if reward.status != Reward.Status.ACTIVE or not reward.in_catalog:
        raise RewardUnavailable(reward=name, reason="archived")
    if reward.available_from and now < reward.available_from:
        raise RewardUnavailable(reward=name, reason="not_yet", date=day_text(reward.available_from, tz=program.tz))
    if reward.available_until and now >= reward.available_until:
        raise RewardUnavailable(reward=name, reason="ended", date=day_text(reward.available_until, tz=program.tz))
    if reward.kind == Reward.Kind.EVENT and reward.event_at and now >= reward.event_at:
        raise RewardUnavailable(reward=name, reason="event_past")
    if reward.min_tier_id is not None:
        if facts is None:
            reaches = _tier_reaches(member.pk, reward.min_tier)
        else:
            reaches = facts.tier_rank is not None and facts.tier_rank >= reward.min_tier.rank
        if not reaches:
            raise TierTooLow(reward=name, tier=reward.min_tier.name)
    if reward.member_limit:
        if facts is None:
            used = reward_member_count(reward=reward, member_id=member.pk, now=now, tz=program.timezone)
        else:
            used = facts.used
        if used >= reward.member_limit:
            raise RewardLimitReached(reward=name, limit=reward.member_limit, period=reward.member_limit_period)
    available = account.available if account is not None else _available(member.pk)
    if reward.points_cost > available:
        raise InsufficientPoints(needed=reward.points_cost, available=available)
    if stock:
        reward_stock_check(reward=reward, free_codes=None if facts is None else facts.free_codes)


def reward_stock_check(*, reward: Reward, free_codes: int | None = None) -> None:
    """Raise ``RewardOutOfStock`` (``EventFull`` for an event) when none is left; reads
    only (a partner reward's pool, unless ``free_codes`` says how many are free)."""
    if reward.kind == Reward.Kind.PARTNER:
        if free_codes is None:
            empty = not PartnerCode.objects.filter(reward=reward, voucher__isnull=True).exists()
        else:
            empty = free_codes <= 0
    else:
        empty = reward.stock is not None and reward.stock <= 0
    if empty:
        raise _sold_out(reward)


def _sold_out(reward: Reward) -> RewardOutOfStock:
    """The error for a reward with none left: ``EventFull`` for an event (its waitlist is open)."""
    return (EventFull if reward.kind == Reward.Kind.EVENT else RewardOutOfStock)(reward=reward.name)


def _tier_reaches(member_id: int, minimum) -> bool:
    rank = MemberTier.objects.filter(member_id=member_id, tier__isnull=False).values_list("tier__rank", flat=True)
    rank = rank.first()
    return rank is not None and rank >= minimum.rank


def reward_member_count(*, reward: Reward, member_id: int, now: dt.datetime, tz: str) -> int:
    """Redemptions of ``reward`` by the member that count against its per-member
    limit: those not cancelled, issued since the start of the limit's period
    (program zone; ``ever``: all)."""
    start = reward_limit_start(reward=reward, now=now, tz=tz)
    vouchers = Voucher.objects.filter(
        reward=reward, member_id=member_id, origin=Voucher.Origin.REDEMPTION
    ).exclude(status=Voucher.Status.CANCELLED)
    if start is not None:
        vouchers = vouchers.filter(issued_at__gte=start)
    return vouchers.count()


def reward_limit_start(*, reward: Reward, now: dt.datetime, tz: str) -> dt.datetime | None:
    """The start of the per-member limit's current period (midnight in the
    program's zone ``tz``); ``None`` for a limit ``ever``."""
    period = RULE_PERIOD if reward.member_limit_period == Reward.LimitPeriod.EVER else reward.member_limit_period
    start = cap_period_start(period, at=now, tz=tz)
    return None if start is None else dt.datetime.combine(start, dt.time(), tzinfo=zoneinfo.ZoneInfo(tz))


def _stock_take(reward: Reward) -> None:
    """Take one unit of stock: a conditional ``UPDATE ... SET stock = stock - 1
    WHERE stock > 0``, which holds the reward's row lock until commit. Nothing
    for an unlimited reward or a partner reward (its codes are its stock)."""
    if reward.stock is None or reward.kind == Reward.Kind.PARTNER:
        return
    if not Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1):
        raise _sold_out(reward)


def reward_stock_return(*, reward: Reward) -> None:
    """Give back the unit of a cancelled voucher (nothing for unlimited or partner rewards)."""
    if reward.kind != Reward.Kind.PARTNER:
        Reward.objects.filter(pk=reward.pk, stock__isnull=False).update(stock=F("stock") + 1)


def _partner_code_take(reward: Reward) -> int:
    """The id of the first free partner code, locked (skipping codes that other
    redemptions hold, so they do not queue behind each other)."""
    code = (
        PartnerCode.objects.select_for_update(skip_locked=True)
        .filter(reward=reward, voucher__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if code is None:
        raise RewardOutOfStock(reward=reward.name)
    return code


def charity_donation_add(*, charity_id: int | None, points: int, amount, count: int) -> None:
    """Add a donation to a charity's running totals; an ``F()`` update, no lock needed."""
    if charity_id is None:
        return
    Charity.objects.filter(pk=charity_id).update(
        donated_points=F("donated_points") + points,
        donated_amount=F("donated_amount") + (amount or 0),
        donations=F("donations") + count,
    )
