"""Tiers: qualification, upgrades at once, configuration, the review with its grace period, paid tiers."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from loyalty.models import LedgerEntry, MemberTier, PointsAccount, Purchase, Source, Tier, TierChange, VipFee
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.tiers import (
    TierNotForSale,
    VipFeeConflict,
    next_review_at,
    tier_archive,
    tier_save,
    tier_table,
    tier_upgrade_if_qualified,
    tier_value,
    tier_window_start,
    tiers_review,
    vip_expire_due,
    vip_fee_record,
)
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
Reason = TierChange.Reason


@pytest.fixture
def program():
    return ProgramFactory(tier_window_months=12, tier_grace_days=30)


@pytest.fixture
def ladder(program):
    return {
        "silver": TierFactory(code="silver", rank=1, threshold=Decimal("500")),
        "gold": TierFactory(code="gold", rank=2, threshold=Decimal("1000")),
        "platinum": TierFactory(code="platinum", rank=4, threshold=Decimal("3000")),
    }


@pytest.fixture
def vip(program):
    return TierFactory(code="vip", rank=3, threshold=None, is_paid=True, fee=Decimal("99.00"), period_months=12)


def spend(member, amount, *, at=NOW, refunded="0"):
    """A purchase row alone (no ledger): what the spend metric counts."""
    return Purchase.objects.create(
        external_id=f"P-{member.pk}-{Purchase.objects.count()}", store=StoreFactory(code="S1"), member=member,
        purchased_at=at, amount=Decimal(amount), refunded_amount=Decimal(refunded), currency="PLN",
        payload_hash="-", source=Source.IMPORT,
    )


def member_with_account(**kwargs):
    member = MemberFactory(**kwargs)
    PointsAccount.objects.create(member=member)
    return member


def upgrade(member, now=NOW, program=None):
    return tier_upgrade_if_qualified(member_id=member.pk, now=now, program=program or program_get())


def status_of(member):
    return MemberTier.objects.filter(member=member).select_related("tier").first()


def tier_of(member):
    status = status_of(member)
    return status.tier.code if status and status.tier else None


def reasons(member):
    return list(TierChange.objects.filter(member=member).order_by("at", "pk").values_list("reason", flat=True))


# -- the qualifying value -----------------------------------------------------------


def test_window_is_calendar_months_in_the_program_zone(program):
    # 15 June 12:00 in Warsaw (CEST) minus 12 months is 15 June 2025 12:00 CEST.
    assert tier_window_start(as_of=NOW, program=program) == dt.datetime(2025, 6, 15, 10, 0, tzinfo=dt.UTC)
    # 31 March minus one month clamps to the end of February (CET then).
    program.tier_window_months = 1
    start = tier_window_start(as_of=dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC), program=program)
    assert start == dt.datetime(2026, 2, 28, 11, 0, tzinfo=dt.UTC)


def test_spend_counts_purchases_in_the_window_less_refunds(program):
    member = MemberFactory()
    spend(member, "400.00", at=tier_window_start(as_of=NOW, program=program))  # the start is excluded
    spend(member, "300.00", at=NOW - 10 * DAY, refunded="50.00")
    spend(member, "200.00", at=NOW)  # the end is included
    spend(member, "900.00", at=NOW + DAY)  # after
    assert tier_value(member_id=member.pk, as_of=NOW, program=program) == Decimal("450.00")


def test_points_metric_counts_earns_bonuses_and_reversals(program):
    program.tier_metric = "points"
    program.save()
    member = MemberFactory()
    first = purchase_record(
        external_id="R1", store=StoreFactory(code="S1"), member=member, purchased_at=NOW - 5 * DAY,
        amount=Decimal("300.00"), source=Source.TILL, now=NOW,
    )
    refund_record(external_id="RF1", purchase=first.purchase, amount=Decimal("100.00"), source=Source.TILL, now=NOW)
    assert tier_value(member_id=member.pk, as_of=NOW, program=program) == Decimal("200")


# -- the upgrade at once --------------------------------------------------------------


def test_no_qualifying_tier_means_no_query(program, django_assert_num_queries):
    TierFactory(code="vip", rank=9, threshold=None, is_paid=True, fee=Decimal("10"), period_months=1)
    member = MemberFactory()
    tier_table()
    with django_assert_num_queries(0):
        assert upgrade(member, program=program) is None


def test_upgrade_goes_at_once_to_the_highest_tier_reached(ladder):
    member = MemberFactory()
    spend(member, "1200.00")
    change = upgrade(member)
    assert tier_of(member) == "gold"
    assert (change.from_tier, change.to_tier, change.reason, change.at) == (None, ladder["gold"], Reason.QUALIFIED, NOW)
    assert upgrade(member) is None  # again: nothing more
    assert TierChange.objects.count() == 1


def test_upgrade_reads_two_queries(program, ladder, django_assert_num_queries):
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=ladder["silver"])
    spend(member, "600.00")
    tier_table()
    with django_assert_num_queries(2):  # the member's tier, one aggregate
        assert upgrade(member, program=program) is None


def test_top_tier_member_is_not_measured(program, ladder, django_assert_num_queries):
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=ladder["platinum"])
    tier_table()
    with django_assert_num_queries(1):
        assert upgrade(member, program=program) is None


def test_below_every_threshold_changes_nothing(ladder):
    member = MemberFactory()
    spend(member, "100.00")
    assert upgrade(member) is None
    assert not MemberTier.objects.exists()


def test_paid_tier_in_force_counts_with_its_rank(ladder, vip):
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=vip, vip_until=NOW + 100 * DAY)
    spend(member, "1500.00")
    assert upgrade(member) is None
    assert tier_of(member) == "vip"
    spend(member, "2000.00")
    assert upgrade(member).to_tier == ladder["platinum"]


def test_regaining_the_tier_clears_the_grace_period(ladder):
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=ladder["gold"], grace_until=NOW + 10 * DAY)
    spend(member, "1000.00")
    change = upgrade(member)
    assert (change.from_tier, change.to_tier, change.reason) == (ladder["gold"], ladder["gold"], Reason.QUALIFIED)
    assert status_of(member).grace_until is None


def test_archived_tier_is_not_reached(ladder):
    tier_archive(tier=ladder["gold"])
    member = MemberFactory()
    spend(member, "1200.00")
    upgrade(member)
    assert tier_of(member) == "silver"


# -- configuring tiers ------------------------------------------------------------------


def errors_of(tier) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        tier_save(tier=tier)
    return caught.value.message_dict


def test_thresholds_must_rise_with_rank(ladder):
    errors = errors_of(Tier(code="bronze", name_en="Bronze", rank=3, threshold=Decimal("900")))
    assert "Overlapping thresholds" in errors["threshold"][0]
    assert "Gold (rank 2)" in errors["threshold"][0]
    errors = errors_of(Tier(code="steel", name_en="Steel", rank=3, threshold=Decimal("3000")))
    assert "Overlapping thresholds" in errors["threshold"][0] and "Platinum" in errors["threshold"][0]
    saved = tier_save(tier=Tier(code="diamond", name_en="Diamond", rank=3, threshold=Decimal("2000")))
    assert saved.pk and tier_table().get(saved.pk).threshold == Decimal("2000")  # the cache was cleared


def test_editing_a_tier_checks_it_against_the_others_only(ladder):
    gold = ladder["gold"]
    gold.threshold = Decimal("1500")
    tier_save(tier=gold)  # compared with Silver and Platinum, not with its old self
    gold.threshold = Decimal("400")
    assert "Overlapping thresholds" in errors_of(gold)["threshold"][0]


def test_archived_tiers_do_not_overlap(ladder):
    tier_archive(tier=ladder["gold"])
    tier_save(tier=Tier(code="bronze", name_en="Bronze", rank=3, threshold=Decimal("900")))


def test_a_qualifying_tier_needs_a_threshold_and_no_fee(program):
    errors = errors_of(Tier(code="x", name_en="X", rank=1, fee=Decimal("10"), period_months=3))
    assert set(errors) == {"threshold", "fee", "period_months"}


def test_a_paid_tier_needs_a_fee_and_a_period_and_no_threshold(program):
    errors = errors_of(Tier(code="x", name_en="X", rank=1, is_paid=True, threshold=Decimal("10")))
    assert set(errors) == {"threshold", "fee", "period_months"}
    tier_save(tier=Tier(code="y", name_en="Y", rank=2, is_paid=True, fee=Decimal("49"), period_months=6))


def test_multiplier_below_one_and_a_taken_rank_are_refused(ladder):
    errors = errors_of(Tier(code="x", name_en="X", rank=2, threshold=Decimal("5000"), multiplier=Decimal("0.5")))
    assert "below 1" in errors["multiplier"][0]
    assert "Rank 2 is taken by Gold" in errors["rank"][0]


def test_a_held_tier_cannot_turn_paid(ladder):
    MemberTier.objects.create(member=MemberFactory(), tier=ladder["silver"])
    silver = ladder["silver"]
    silver.is_paid, silver.threshold, silver.fee, silver.period_months = True, None, Decimal("10"), 1
    assert "1 member holds this tier" in errors_of(silver)["is_paid"][0]


# -- the review ---------------------------------------------------------------------------


def test_review_gives_grace_first_then_moves_down(ladder):
    member = member_with_account()
    MemberTier.objects.create(member=member, tier=ladder["gold"], since=NOW - 200 * DAY)
    spend(member, "600.00", at=NOW - 20 * DAY)

    result = tiers_review(now=NOW)
    status = status_of(member)
    assert (status.tier, status.grace_until) == (ladder["gold"], NOW + 30 * DAY)
    assert result.grace_started == 1 and reasons(member) == [Reason.GRACE]

    assert tiers_review(now=NOW) == tiers_review(now=NOW)  # idempotent: nothing more
    assert reasons(member) == [Reason.GRACE]
    tiers_review(now=NOW + 20 * DAY)  # still in grace
    assert tier_of(member) == "gold"

    result = tiers_review(now=NOW + 31 * DAY)
    status = status_of(member)
    assert (status.tier, status.grace_until, status.since) == (ladder["silver"], None, NOW + 31 * DAY)
    assert result.moved_down == 1 and reasons(member) == [Reason.GRACE, Reason.REVIEW]
    tiers_review(now=NOW + 31 * DAY)
    assert reasons(member) == [Reason.GRACE, Reason.REVIEW]


def test_review_moves_down_to_no_tier_when_nothing_is_reached(ladder):
    member = member_with_account()
    MemberTier.objects.create(member=member, tier=ladder["silver"], grace_until=NOW - DAY)
    tiers_review(now=NOW)
    assert status_of(member).tier is None
    assert TierChange.objects.get(member=member).to_tier is None


def test_back_above_the_threshold_ends_the_grace(ladder):
    member = member_with_account()
    MemberTier.objects.create(member=member, tier=ladder["gold"], grace_until=NOW + 5 * DAY)
    spend(member, "1000.00")
    assert tiers_review(now=NOW).regained == 1
    assert status_of(member).grace_until is None and tier_of(member) == "gold"


def test_no_grace_days_moves_down_at_the_first_review(program, ladder):
    program.tier_grace_days = 0
    program.save()
    member = member_with_account()
    MemberTier.objects.create(member=member, tier=ladder["gold"])
    spend(member, "700.00")
    tiers_review(now=NOW)
    assert tier_of(member) == "silver" and reasons(member) == [Reason.REVIEW]


def test_review_upgrades_members_who_qualify_without_a_tier(ladder):
    imported = member_with_account()
    spend(imported, "3100.00", at=NOW - 100 * DAY)
    nobody = member_with_account()
    assert tiers_review(now=NOW).upgraded == 1
    assert tier_of(imported) == "platinum" and tier_of(nobody) is None


def test_review_never_touches_a_paid_tier_in_force(ladder, vip):
    member = member_with_account()
    MemberTier.objects.create(member=member, tier=vip, vip_until=NOW + DAY)
    tiers_review(now=NOW)
    assert tier_of(member) == "vip" and not TierChange.objects.exists()


def test_a_paid_tier_in_force_is_the_floor_of_a_higher_tier(ladder, vip):
    member = member_with_account()
    fee = vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.STAFF, now=NOW - 10 * DAY)
    MemberTier.objects.filter(member=member).update(tier=ladder["platinum"], grace_until=NOW - DAY)
    spend(member, "600.00")
    tiers_review(now=NOW)
    status = status_of(member)
    assert (status.tier, status.vip_until) == (vip, fee.fee.valid_until)


def test_archived_tier_holders_move_at_the_review_without_grace(ladder):
    member = member_with_account()
    MemberTier.objects.create(member=member, tier=ladder["gold"])
    spend(member, "1200.00")
    tier_archive(tier=ladder["gold"])
    assert tier_table().get(ladder["gold"].pk).multiplier == ladder["gold"].multiplier  # still known to the earn
    tiers_review(now=NOW)
    assert tier_of(member) == "silver" and reasons(member) == [Reason.REVIEW]


def test_a_refund_never_downgrades_at_once_only_the_review(ladder):
    member = MemberFactory()
    bought = purchase_record(
        external_id="R1", store=StoreFactory(code="S1"), member=member, purchased_at=NOW - DAY,
        amount=Decimal("1200.00"), source=Source.TILL, now=NOW,
    )
    upgrade(member)  # the earn path does it; calling it again changes nothing
    assert tier_of(member) == "gold"
    refund_record(external_id="RF1", purchase=bought.purchase, amount=Decimal("600.00"), source=Source.TILL, now=NOW)
    upgrade(member)
    assert tier_of(member) == "gold" and status_of(member).grace_until is None
    tiers_review(now=NOW)
    assert status_of(member).grace_until == NOW + 30 * DAY
    tiers_review(now=NOW + 30 * DAY)
    assert tier_of(member) == "silver"


def test_review_reads_a_fixed_number_of_queries_per_batch(ladder, django_assert_max_num_queries):
    members = [member_with_account() for _ in range(12)]
    for n, member in enumerate(members):
        MemberTier.objects.create(member=member, tier=ladder["gold"], grace_until=NOW - DAY if n % 2 else None)
        spend(member, "600.00")
    tier_table(), program_get()
    # Per batch of 5: its savepoint, the locks, the tiers, one aggregate, one update, one insert of the
    # changes, the release; the last, empty batch: three. Never a query per member.
    with django_assert_max_num_queries(3 * 7 + 3):
        result = tiers_review(now=NOW, batch_size=5)
    assert (result.members, result.grace_started, result.moved_down) == (12, 6, 6)


def test_next_review_is_the_first_of_the_next_month():
    assert next_review_at(now=NOW) == dt.datetime(2026, 7, 1, 2, 30, tzinfo=dt.UTC)
    assert next_review_at(now=dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.UTC)) == dt.datetime(
        2026, 7, 1, 2, 30, tzinfo=dt.UTC
    )
    assert next_review_at(now=dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC)) == dt.datetime(
        2027, 1, 1, 2, 30, tzinfo=dt.UTC
    )


# -- paid tiers -----------------------------------------------------------------------------


def test_a_fee_grants_the_paid_tier_for_its_period_and_earns_no_points(ladder, vip):
    member = MemberFactory()
    result = vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.STAFF, now=NOW)
    assert result.created and result.fee.amount == Decimal("99.00") and result.fee.currency == "PLN"
    # Twelve calendar months in Warsaw: 15 June 2027 12:00 CEST.
    assert result.fee.valid_until == dt.datetime(2027, 6, 15, 10, 0, tzinfo=dt.UTC)
    status = status_of(member)
    assert (status.tier, status.vip_until) == (vip, result.fee.valid_until)
    assert (result.change.reason, result.change.to_tier) == (Reason.VIP, vip)
    assert not LedgerEntry.objects.exists()
    assert PointsAccount.objects.get(member=member).available == 0


def test_the_same_fee_sent_again_is_taken_once(vip):
    member = MemberFactory()
    first = vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.TILL, now=NOW, paid_at=NOW)
    again = vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.TILL, now=NOW, paid_at=NOW)
    assert (again.fee.pk, again.created) == (first.fee.pk, False)
    assert VipFee.objects.count() == 1 and TierChange.objects.count() == 1
    with pytest.raises(VipFeeConflict) as caught:
        vip_fee_record(member=member, tier=vip, external_id="F1", amount="50.00", source=Source.TILL, now=NOW,
                       paid_at=NOW)
    assert "paid tier fee" in caught.value.message and caught.value.field == "external_id"
    with pytest.raises(VipFeeConflict):
        vip_fee_record(member=MemberFactory(), tier=vip, external_id="F1", source=Source.TILL, now=NOW, paid_at=NOW)


def test_a_renewal_extends_the_running_period(vip):
    member = MemberFactory()
    first = vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.STAFF, now=NOW)
    renewal = vip_fee_record(
        member=member, tier=vip, external_id="F2", source=Source.STAFF, now=NOW + 100 * DAY,
    )
    assert renewal.fee.valid_until == dt.datetime(2028, 6, 15, 10, 0, tzinfo=dt.UTC)
    assert status_of(member).vip_until == renewal.fee.valid_until > first.fee.valid_until


def test_a_member_on_a_better_tier_keeps_it_with_the_fee(ladder, vip):
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=ladder["platinum"])
    result = vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.STAFF, now=NOW)
    assert tier_of(member) == "platinum" and status_of(member).vip_until == result.fee.valid_until


def test_only_a_paid_tier_that_is_not_archived_is_sold(ladder, vip):
    member = MemberFactory()
    with pytest.raises(TierNotForSale):
        vip_fee_record(member=member, tier=ladder["gold"], external_id="F1", source=Source.STAFF, now=NOW)
    tier_archive(tier=vip)
    with pytest.raises(TierNotForSale):
        vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.STAFF, now=NOW)
    assert not VipFee.objects.exists()


def test_expired_paid_tier_falls_to_the_tier_the_member_qualifies_for(ladder, vip):
    member = MemberFactory()
    fee = vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.STAFF, now=NOW).fee
    spend(member, "700.00", at=fee.valid_until - DAY)
    assert vip_expire_due(now=fee.valid_until - dt.timedelta(seconds=1)).ended == 0
    result = vip_expire_due(now=fee.valid_until)
    status = status_of(member)
    assert (status.tier, status.vip_until) == (ladder["silver"], None)
    assert (result.ended, result.moved) == (1, 1)
    assert reasons(member) == [Reason.VIP, Reason.VIP_EXPIRED]
    assert vip_expire_due(now=fee.valid_until).ended == 0  # idempotent
    assert reasons(member) == [Reason.VIP, Reason.VIP_EXPIRED]


def test_expiry_leaves_a_better_qualifying_tier(ladder, vip):
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=ladder["platinum"])
    fee = vip_fee_record(member=member, tier=vip, external_id="F1", source=Source.STAFF, now=NOW).fee
    assert vip_expire_due(now=fee.valid_until) .moved == 0
    status = status_of(member)
    assert (status.tier, status.vip_until) == (ladder["platinum"], None)


def test_the_beat_schedule_runs_the_review_when_next_review_at_says():
    from django.conf import settings

    schedule = settings.CELERY_BEAT_SCHEDULE["review-tiers"]["schedule"]
    review = next_review_at(now=NOW)
    assert (schedule.minute, schedule.hour, schedule.day_of_month) == ({review.minute}, {review.hour}, {review.day})
    assert settings.CELERY_BEAT_SCHEDULE["expire-paid-tiers"]["task"] == "loyalty.tasks.expire_paid_tiers"


def test_tasks_run_the_review_and_the_expiry(ladder, vip):
    from loyalty.tasks import expire_paid_tiers, review_tiers

    member = member_with_account()
    MemberTier.objects.create(member=member, tier=ladder["gold"])
    paid = MemberFactory()
    fee = vip_fee_record(member=paid, tier=vip, external_id="F1", source=Source.STAFF, now=NOW).fee
    assert review_tiers.delay(as_of=NOW.isoformat()).get()["grace_started"] == 1
    assert expire_paid_tiers.delay(as_of=fee.valid_until.isoformat()).get() == {"ended": 1, "moved": 1}


def test_the_upgrade_counts_purchases_dated_up_to_the_clock_skew(ladder):
    from loyalty.services import purchases
    from loyalty.services.tiers.table import CLOCK_SKEW

    assert CLOCK_SKEW == purchases.CLOCK_SKEW
    member = MemberFactory()
    spend(member, "400.00", at=NOW)
    spend(member, "200.00", at=NOW + dt.timedelta(minutes=4))  # a concurrent earn on a clock a little ahead
    assert upgrade(member).to_tier == ladder["silver"]
