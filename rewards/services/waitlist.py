"""Waitlists of full events.

A member may join the waitlist of an event that is full and that they could
otherwise redeem now (tier, limit, points). Joining agrees to redeem it
when a place frees up: a cancelled voucher returns its place, and after
commit ``event_waitlist_promote`` gives the places left to the waitlist, first
come first served, taking the points then. A member who no longer qualifies
then (not enough points, say) is passed over, and the place goes to the next.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.services.program import program_get
from members.exceptions import LoyaltyError
from members.models import Member
from rewards.exceptions import AlreadyWaiting, RewardOutOfStock, WaitlistNotOpen
from rewards.models import Reward, Voucher, WaitlistEntry
from rewards.services.redemption import reward_redeem, reward_redeemable_check, reward_stock_check


def waitlist_join(*, member: Member, reward: Reward, now: dt.datetime | None = None) -> WaitlistEntry:
    """Put ``member`` on the waitlist of a full event.

    Raises ``WaitlistNotOpen`` when places are left (redeem instead) or the
    reward is not an event, the reason the member could not redeem it now
    otherwise (tier, limit, points, window), ``AlreadyWaiting`` if on it.
    """
    now = now or timezone.now()
    reward = Reward.objects.select_related("min_tier").get(pk=reward.pk)
    if reward.kind != Reward.Kind.EVENT:
        raise WaitlistNotOpen(reward=reward.name)
    reward_redeemable_check(reward=reward, member=member, account=None, program=program_get(), now=now)
    try:
        reward_stock_check(reward=reward)
    except RewardOutOfStock:
        pass
    else:
        raise WaitlistNotOpen(reward=reward.name)
    try:
        with transaction.atomic():
            return WaitlistEntry.objects.create(reward=reward, member=member, joined_at=now)
    except IntegrityError:
        raise AlreadyWaiting(reward=reward.name) from None


def waitlist_leave(*, member: Member, reward: Reward) -> bool:
    """Take ``member`` off the waitlist; ``False`` when they were not waiting."""
    return bool(
        WaitlistEntry.objects.filter(member=member, reward=reward, status=WaitlistEntry.Status.WAITING).update(
            status=WaitlistEntry.Status.LEFT
        )
    )


def event_waitlist_promote(*, reward_id: int, now: dt.datetime | None = None) -> int:
    """Give the free places of an event to its waitlist in order; returns how
    many members got one.

    Each entry is one transaction: the entry's row is locked, then the
    redemption takes the member's account and a place as ``reward_redeem``
    always does (its key is the entry's, so a second run redeems nothing
    twice). Stops when no place or no one is left; an entry whose member
    cannot redeem now is marked passed over with the reason's code.
    """
    given = 0
    while True:
        with transaction.atomic():
            entry = (
                WaitlistEntry.objects.select_for_update(of=("self",))  # never the joined reward's row
                .select_related("reward", "member")
                .filter(reward_id=reward_id, status=WaitlistEntry.Status.WAITING)
                .order_by("joined_at", "pk")
                .first()
            )
            if entry is None:
                return given
            try:
                redemption = reward_redeem(
                    member=entry.member, reward=entry.reward, idempotency_key=f"waitlist:{entry.pk}",
                    channel=Voucher.Channel.SYSTEM, now=now or timezone.now(),
                )
            except RewardOutOfStock:
                return given
            except LoyaltyError as error:
                entry.status, entry.note = WaitlistEntry.Status.SKIPPED, error.code
                entry.save(update_fields=["status", "note"])
                continue
            entry.status, entry.voucher = WaitlistEntry.Status.GIVEN, redemption.voucher
            entry.save(update_fields=["status", "voucher"])
            given += 1
