"""Tiers under concurrency on PostgreSQL: real threads released together by a
barrier (``tests/loyalty/test_concurrency.py``). A paid-tier fee sent by eight
threads is taken once; earns that cross a threshold together upgrade once; the
review and the expiry of paid tiers run concurrently change nothing twice."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import MemberTier, PointsAccount, Source, TierChange, VipFee
from loyalty.services.purchases import purchase_record
from loyalty.services.tiers import tiers_review, vip_expire_due, vip_fee_record
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, TierFactory
from tests.loyalty.test_concurrency import THREADS, in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_fee_sent_by_eight_threads_is_taken_once():
    ProgramFactory()
    vip = TierFactory(code="vip", rank=9, threshold=None, is_paid=True, fee=Decimal("99.00"), period_months=12)
    member = MemberFactory()
    paid_at = timezone.now()

    def pay(_):
        return vip_fee_record(member=member, tier=vip, external_id="FEE-1", paid_at=paid_at, source=Source.API)

    results = in_threads(THREADS, pay)
    assert len({result.fee.pk for result in results}) == 1
    assert sum(result.created for result in results) == 1
    assert VipFee.objects.count() == 1
    assert TierChange.objects.filter(member=member, reason=TierChange.Reason.VIP).count() == 1
    assert MemberTier.objects.get(member=member).vip_until == VipFee.objects.get().valid_until


def test_the_same_fee_id_for_eight_members_is_taken_once_and_refused_seven_times():
    ProgramFactory()
    vip = TierFactory(code="vip", rank=9, threshold=None, is_paid=True, fee=Decimal("99.00"), period_months=12)
    members = [MemberFactory() for _ in range(THREADS)]

    def pay(index):
        try:
            return vip_fee_record(member=members[index], tier=vip, external_id="FEE-1", source=Source.API)
        except Exception as error:  # the conflict, counted below
            return error

    results = in_threads(THREADS, pay)
    assert sum(1 for result in results if getattr(result, "created", False)) == 1
    assert sum(1 for result in results if type(result).__name__ == "VipFeeConflict") == THREADS - 1
    assert VipFee.objects.count() == 1 and MemberTier.objects.count() == 1


def test_earns_crossing_a_threshold_together_upgrade_once():
    ProgramFactory()
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("1000"))
    member = MemberFactory()
    store = StoreFactory(code="S1")

    def earn(index):
        now = timezone.now()
        return purchase_record(
            external_id=f"R-{index}", store=store, member=member, purchased_at=now, amount=Decimal("150.00"),
            source=Source.API, now=now,
        )

    in_threads(THREADS, earn)
    changes = TierChange.objects.filter(member=member)
    assert [(change.from_tier_id, change.to_tier_id, change.reason) for change in changes] == [
        (None, silver.pk, TierChange.Reason.QUALIFIED)
    ]
    assert MemberTier.objects.get(member=member).tier == silver
    assert PointsAccount.objects.get(member=member).available == THREADS * 150


def test_concurrent_reviews_and_expiries_change_each_member_once():
    ProgramFactory(tier_grace_days=30)
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("500"))
    gold = TierFactory(code="gold", rank=2, threshold=Decimal("1000"))
    vip = TierFactory(code="vip", rank=3, threshold=None, is_paid=True, fee=Decimal("99.00"), period_months=1)
    now = timezone.now()
    below = [MemberFactory() for _ in range(6)]
    for member in below:
        PointsAccount.objects.create(member=member)
        MemberTier.objects.create(member=member, tier=gold)
    paid = [MemberFactory() for _ in range(6)]
    fees = [vip_fee_record(member=member, tier=vip, external_id=f"F-{member.pk}", source=Source.API,
                           paid_at=now - dt.timedelta(days=40), now=now) for member in paid]
    assert silver and all(fee.created for fee in fees)

    def job(index):
        if index % 2:
            return tiers_review(now=now, batch_size=4)
        return vip_expire_due(now=now, batch_size=4)

    in_threads(THREADS, job)
    assert TierChange.objects.filter(reason=TierChange.Reason.GRACE).count() == len(below)
    assert TierChange.objects.filter(reason=TierChange.Reason.VIP_EXPIRED).count() == len(paid)
    assert not MemberTier.objects.filter(vip_until__isnull=False).exists()
    assert set(MemberTier.objects.filter(member__in=below).values_list("grace_until", flat=True)) == {
        now + dt.timedelta(days=30)
    }
