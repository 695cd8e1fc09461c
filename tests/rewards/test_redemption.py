"""Redeeming a reward: every check, the debit from the oldest lots, the voucher, idempotency."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.exceptions import IdempotencyKeyReused, InsufficientPoints, MemberNotActive
from loyalty.models import LedgerEntry, MemberTier, PointsAccount, PointsLot
from loyalty.services.ledger import points_credit
from members.models import Member
from rewards.codes import voucher_code_check
from rewards.exceptions import (
    EventFull,
    RewardLimitReached,
    RewardOutOfStock,
    RewardUnavailable,
    TierTooLow,
)
from rewards.models import Charity, PartnerCode, Reward, Voucher
from rewards.services.redemption import reward_redeem, reward_redeemable_check
from tests.factories import CharityFactory, MemberFactory, ProgramFactory, RewardFactory, TierFactory

pytestmark = pytest.mark.django_db
PORTAL = Voucher.Channel.PORTAL


@pytest.fixture
def program(db):
    return ProgramFactory(expiry_months=12)


@pytest.fixture
def member(program):
    return MemberFactory()


def give(member, points: int, *, key: str = "gift", at: dt.datetime | None = None) -> None:
    points_credit(member=member, points=points, kind=LedgerEntry.Kind.BONUS, idempotency_key=key, now=at)


def redeem(member, reward, key: str = "r-1", **kwargs):
    return reward_redeem(member=member, reward=reward, idempotency_key=key, channel=PORTAL, **kwargs)


def available(member) -> int:
    return PointsAccount.objects.get(member=member).available


def test_redeeming_debits_the_cost_and_issues_a_voucher_with_a_valid_code(member):
    give(member, 250)
    reward = RewardFactory(points_cost=100, voucher_valid_days=30)
    now = timezone.now()

    result = redeem(member, reward, now=now)

    assert result.created and result.balance == 150 == available(member)
    voucher = result.voucher
    assert voucher_code_check(voucher.display_code) == voucher.code
    assert (voucher.status, voucher.origin, voucher.points) == ("issued", "redemption", 100)
    assert voucher.valid_until == now + dt.timedelta(days=30)
    assert voucher.redeem_entry.points == -100
    assert voucher.redeem_entry.kind == LedgerEntry.Kind.REDEEM


def test_points_are_taken_from_the_oldest_lot_first(member):
    now = timezone.now()
    give(member, 60, key="old", at=now - dt.timedelta(days=90))
    give(member, 100, key="new", at=now - dt.timedelta(days=1))

    redeem(member, RewardFactory(points_cost=80), now=now)

    lots = PointsLot.objects.filter(account__member=member).order_by("earned_at")
    assert [lot.remaining for lot in lots] == [0, 80]


def test_the_same_key_twice_gives_one_voucher_and_one_debit(member):
    give(member, 500)
    reward = RewardFactory(points_cost=100)

    first = redeem(member, reward, key="double-click")
    again = redeem(member, reward, key="double-click")

    assert not again.created and again.voucher.pk == first.voucher.pk
    assert Voucher.objects.count() == 1
    assert available(member) == 400


def test_the_same_key_for_another_reward_is_refused(member):
    give(member, 500)
    redeem(member, RewardFactory(points_cost=100), key="k")
    with pytest.raises(IdempotencyKeyReused):
        redeem(member, RewardFactory(points_cost=100), key="k")


def test_too_few_points_changes_nothing(member):
    give(member, 99)
    reward = RewardFactory(points_cost=100, stock=5)

    with pytest.raises(InsufficientPoints) as error:
        redeem(member, reward)

    assert error.value.params == {"needed": 100, "available": 99}
    reward.refresh_from_db()
    assert reward.stock == 5 and not Voucher.objects.exists() and available(member) == 99


def test_stock_runs_out_and_the_last_unit_is_sold_once(member):
    give(member, 1000)
    reward = RewardFactory(points_cost=100, stock=2)

    redeem(member, reward, key="a")
    redeem(member, reward, key="b")
    with pytest.raises(RewardOutOfStock):
        redeem(member, reward, key="c")

    reward.refresh_from_db()
    assert reward.stock == 0 and available(member) == 800


def test_a_full_event_says_so(member):
    give(member, 1000)
    event = RewardFactory(
        kind="event", points_cost=100, stock=0, value=None, place="Roastery",
        event_at=timezone.now() + dt.timedelta(days=10),
    )
    with pytest.raises(EventFull):
        redeem(member, event)


def test_an_event_voucher_is_valid_until_the_end_of_the_event_day_in_the_program_zone(member, program):
    give(member, 1000)
    day = timezone.localdate(timezone=program.tz) + dt.timedelta(days=20)
    event_at = dt.datetime.combine(day, dt.time(23, 30), tzinfo=program.tz)  # 22:30 UTC in winter: the day before
    event = RewardFactory(kind="event", points_cost=100, stock=3, value=None, event_at=event_at, place="Roastery")

    voucher = redeem(member, event).voucher

    assert voucher.valid_until == dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=program.tz)


@pytest.mark.parametrize(
    ("period", "second_after", "allowed"),
    [("ever", dt.timedelta(days=300), False), ("day", dt.timedelta(hours=1), False),
     ("day", dt.timedelta(days=1), True), ("month", dt.timedelta(days=40), True)],
)
def test_the_per_member_limit_counts_redemptions_in_its_period(member, period, second_after, allowed):
    start = dt.datetime(2030, 5, 10, 9, 0, tzinfo=dt.UTC)
    give(member, 1000, at=start)
    reward = RewardFactory(points_cost=10, member_limit=1, member_limit_period=period)
    redeem(member, reward, key="first", now=start)

    if allowed:
        assert redeem(member, reward, key="second", now=start + second_after).created
    else:
        with pytest.raises(RewardLimitReached) as error:
            redeem(member, reward, key="second", now=start + second_after)
        assert error.value.params["limit"] == 1


def test_a_cancelled_voucher_does_not_count_against_the_limit(member, users_staff):
    from rewards.services.vouchers import voucher_cancel

    give(member, 1000)
    reward = RewardFactory(points_cost=10, member_limit=1)
    first = redeem(member, reward, key="first").voucher
    voucher_cancel(voucher=first, actor=users_staff, reason="wrong reward")

    assert redeem(member, reward, key="second").created


@pytest.fixture
def users_staff(program):
    from tests.factories import StaffFactory

    return StaffFactory(email="manager@example.com", role="manager")


def test_the_minimum_tier_is_checked(member):
    give(member, 1000)
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("100"))
    gold = TierFactory(code="gold", rank=2, threshold=Decimal("500"))
    reward = RewardFactory(points_cost=10, min_tier=gold)

    with pytest.raises(TierTooLow):
        redeem(member, reward, key="none")
    MemberTier.objects.create(member=member, tier=silver)
    with pytest.raises(TierTooLow) as error:
        redeem(member, reward, key="silver")
    assert error.value.params["tier"] == "Gold"
    MemberTier.objects.filter(member=member).update(tier=gold)
    assert redeem(member, reward, key="gold").created


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"status": "archived"}, "archived"), ({"in_catalog": False}, "archived"),
     ({"available_from": timezone.now() + dt.timedelta(days=2)}, "not_yet"),
     ({"available_until": timezone.now() - dt.timedelta(days=2)}, "ended")],
)
def test_a_reward_outside_the_catalog_or_its_window_cannot_be_redeemed(member, changes, reason):
    give(member, 1000)
    reward = RewardFactory(points_cost=10, **changes)
    with pytest.raises(RewardUnavailable) as error:
        redeem(member, reward)
    assert error.value.params["reason"] == reason
    assert available(member) == 1000


def test_a_blocked_member_cannot_redeem(member):
    give(member, 1000)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLOCKED)
    member.refresh_from_db()
    with pytest.raises(MemberNotActive):
        redeem(member, RewardFactory(points_cost=10))


def test_a_partner_reward_hands_out_each_code_once_then_runs_out(member):
    give(member, 1000)
    reward = RewardFactory(kind="partner", points_cost=10, value=None)
    PartnerCode.objects.bulk_create([PartnerCode(reward=reward, code=code) for code in ("P-1", "P-2")])

    codes = {redeem(member, reward, key=key).voucher.partner_code.code for key in ("a", "b")}
    with pytest.raises(RewardOutOfStock):
        redeem(member, reward, key="c")

    assert codes == {"P-1", "P-2"}


def test_a_donation_is_given_at_once_and_adds_to_the_charity_totals(member):
    give(member, 1000)
    charity = CharityFactory(code="shelter")
    reward = RewardFactory(kind="donation", points_cost=200, value=Decimal("5.00"), charity=charity)

    voucher = redeem(member, reward, key="a").voucher
    redeem(member, reward, key="b")

    assert voucher.status == Voucher.Status.USED and voucher.valid_until is None
    charity = Charity.objects.get(pk=charity.pk)
    assert (charity.donated_points, charity.donated_amount, charity.donations) == (400, Decimal("10.00"), 2)


def test_the_check_without_lock_says_why_a_reward_is_not_offered(member, program):
    reward = RewardFactory(points_cost=50, stock=0)
    with pytest.raises(InsufficientPoints):
        reward_redeemable_check(reward=reward, member=member, program=program, now=timezone.now(), account=None)
    give(member, 100)
    reward_redeemable_check(reward=reward, member=member, program=program, now=timezone.now(), account=None)
    with pytest.raises(RewardOutOfStock):
        reward_redeemable_check(
            reward=reward, member=member, program=program, now=timezone.now(), account=None, stock=True
        )
    assert Reward.objects.get(pk=reward.pk).stock == 0
