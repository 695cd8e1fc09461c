"""Tiers: qualification, upgrades at once, the review with its grace period, paid tiers."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.models import MemberTier, Source, TierChange
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.tiers import tier_upgrade_if_qualified, tier_value, tier_window_start
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def program():
    return ProgramFactory(tier_window_months=12, tier_grace_days=30)


@pytest.fixture
def ladder(program):
    return {
        "silver": TierFactory(code="silver", rank=1, threshold=Decimal("500")),
        "gold": TierFactory(code="gold", rank=2, threshold=Decimal("1000")),
        "platinum": TierFactory(code="platinum", rank=3, threshold=Decimal("3000")),
    }


def buy(member, amount, *, at=NOW, external_id=None):
    return purchase_record(
        external_id=external_id or f"R-{member.pk}-{at.isoformat()}-{amount}",
        store=StoreFactory(code="S1"), member=member, purchased_at=at, amount=Decimal(amount),
        source=Source.TILL, now=max(at, NOW),
    )


def upgrade(member, now=NOW):
    return tier_upgrade_if_qualified(member_id=member.pk, now=now, program=program_get())


def tier_of(member):
    status = MemberTier.objects.filter(member=member).select_related("tier").first()
    return status.tier.code if status and status.tier else None


def test_window_is_calendar_months_in_the_program_zone(program):
    # 15 June 12:00 in Warsaw (CEST) minus 12 months is 15 June 2025 12:00 CEST.
    start = tier_window_start(as_of=dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC), program=program)
    assert start == dt.datetime(2025, 6, 15, 10, 0, tzinfo=dt.UTC)
    # 31 March minus one month clamps to the end of February.
    program.tier_window_months = 1
    start = tier_window_start(as_of=dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC), program=program)
    assert start == dt.datetime(2026, 2, 28, 11, 0, tzinfo=dt.UTC)  # CET in February


def test_spend_counts_purchases_in_the_window_less_refunds(program, ladder):
    member = MemberFactory()
    old = buy(member, "400.00", at=NOW - dt.timedelta(days=400))
    inside = buy(member, "300.00", at=NOW - dt.timedelta(days=10))
    buy(member, "200.00", at=NOW)
    refund_record(external_id="RF1", purchase=inside.purchase, amount=Decimal("50.00"), source=Source.TILL, now=NOW)
    assert old.purchase  # outside the window
    assert tier_value(member_id=member.pk, as_of=NOW, program=program) == Decimal("450.00")


def test_points_metric_counts_earns_bonuses_and_reversals(program, ladder):
    program.tier_metric = "points"
    program.save()
    member = MemberFactory()
    first = buy(member, "300.00", at=NOW - dt.timedelta(days=5))
    refund_record(external_id="RF1", purchase=first.purchase, amount=Decimal("100.00"), source=Source.TILL, now=NOW)
    assert tier_value(member_id=member.pk, as_of=NOW, program=program) == Decimal("200")


def test_no_qualifying_tier_means_no_query(program, django_assert_num_queries):
    member = MemberFactory()
    program_get()
    from loyalty.services.tiers import tier_table

    tier_table()
    with django_assert_num_queries(0):
        assert upgrade(member) is None


def test_upgrade_goes_at_once_to_the_highest_tier_reached(program, ladder):
    member = MemberFactory()
    buy(member, "1200.00")
    change = upgrade(member)
    assert tier_of(member) == "gold"
    assert (change.from_tier, change.to_tier, change.reason) == (None, ladder["gold"], TierChange.Reason.QUALIFIED)
    assert upgrade(member) is None  # again: nothing more
    assert TierChange.objects.count() == 1


def test_below_every_threshold_changes_nothing(program, ladder):
    member = MemberFactory()
    buy(member, "100.00")
    assert upgrade(member) is None
    assert not MemberTier.objects.exists()


def test_paid_tier_in_force_counts_with_its_rank(program, ladder):
    vip = TierFactory(code="vip", rank=5, threshold=None, is_paid=True, fee=Decimal("99"), period_months=12)
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=vip, vip_until=NOW + dt.timedelta(days=100))
    buy(member, "3500.00")
    assert upgrade(member) is None
    assert tier_of(member) == "vip"


def test_regaining_the_tier_clears_the_grace_period(program, ladder):
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=ladder["gold"], grace_until=NOW + dt.timedelta(days=10))
    buy(member, "1000.00")
    change = upgrade(member)
    assert change.to_tier == ladder["gold"] and change.from_tier == ladder["gold"]
    assert MemberTier.objects.get(member=member).grace_until is None
