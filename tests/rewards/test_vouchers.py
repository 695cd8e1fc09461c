"""A voucher after issue: checked, used once, cancelled with its points back, expired
without them; wrong codes throttled; event places passed down the waitlist."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.test import override_settings
from django.utils import timezone

from loyalty.models import LedgerEntry, PointsAccount
from loyalty.services.ledger import points_credit
from rewards.codes import voucher_code_new
from rewards.exceptions import (
    AlreadyWaiting,
    CancelReasonRequired,
    VoucherChecksThrottled,
    VoucherCodeMistyped,
    VoucherNotCancellable,
    VoucherNotFound,
    VoucherNotUsable,
    WaitlistNotOpen,
)
from rewards.models import Reward, Voucher, WaitlistEntry
from rewards.services.redemption import reward_redeem
from rewards.services.throttle import VoucherThrottle
from rewards.services.vouchers import voucher_cancel, voucher_check, voucher_use, vouchers_expire_due
from rewards.services.waitlist import event_waitlist_promote, waitlist_join, waitlist_leave
from rewards.tasks import expire_vouchers
from tests.factories import MemberFactory, ProgramFactory, RewardFactory, StaffFactory, StoreFactory, code_mistyped

pytestmark = pytest.mark.django_db
TILL = Voucher.Channel.TILL


@pytest.fixture
def program(db):
    return ProgramFactory()


@pytest.fixture
def store(program):
    return StoreFactory(code="WAW", name="Warsaw Centre")


@pytest.fixture
def manager(program):
    return StaffFactory(email="manager@example.com", role="manager")


def member_with(points: int):
    member = MemberFactory()
    if points:
        points_credit(member=member, points=points, kind=LedgerEntry.Kind.BONUS, idempotency_key="gift")
    return member


def available(member) -> int:
    return PointsAccount.objects.get(member=member).available


def voucher_for(member, reward=None, key="r", **kwargs) -> Voucher:
    reward = reward or RewardFactory(points_cost=100, stock=5)
    return reward_redeem(member=member, reward=reward, idempotency_key=key, channel="portal", **kwargs).voucher


def test_check_reads_the_voucher_typed_with_dashes_and_lower_case(program):
    voucher = voucher_for(member_with(500))
    typed = voucher.display_code.lower()

    check = voucher_check(code=typed)

    assert check.voucher.pk == voucher.pk and check.usable
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"


def test_a_mistyped_code_is_caught_before_any_lookup(program, django_assert_num_queries):
    code = voucher_for(member_with(500)).code
    swapped = code_mistyped(code)
    with django_assert_num_queries(0), pytest.raises(VoucherCodeMistyped):
        voucher_check(code=swapped)


def test_a_well_formed_code_of_no_voucher_is_not_found(program):
    with pytest.raises(VoucherNotFound):
        voucher_check(code=voucher_code_new())


def test_a_voucher_is_used_once_and_then_says_when_and_where(program, store):
    cashier = StaffFactory(email="cashier@example.com", role="cashier")
    voucher = voucher_for(member_with(500))

    used = voucher_use(code=voucher.code, channel=TILL, store=store, user=cashier, receipt="R-1")
    with pytest.raises(VoucherNotUsable) as error:
        voucher_use(code=voucher.code, channel=TILL, store=store, user=cashier, receipt="R-2")

    assert used.created and used.voucher.status == "used" and used.voucher.used_receipt == "R-1"
    assert error.value.reason == "used" and "Warsaw Centre" in error.value.message
    check = voucher_check(code=voucher.code)
    assert not check.usable and check.problem.reason == "used"


def test_the_same_receipt_sent_again_gets_the_first_use(program, store):
    voucher = voucher_for(member_with(500))
    first = voucher_use(code=voucher.code, channel="api", store=store, client="pos-1", receipt="R-9")
    again = voucher_use(code=voucher.code, channel="api", store=store, client="pos-1", receipt="R-9")
    assert first.created and not again.created and again.voucher.used_at == first.voucher.used_at


def test_an_expired_voucher_cannot_be_used_even_before_the_task_marks_it(program, store):
    reward = RewardFactory(points_cost=100, voucher_valid_days=7)
    voucher = voucher_for(member_with(500), reward)
    later = timezone.now() + dt.timedelta(days=8)

    with pytest.raises(VoucherNotUsable) as error:
        voucher_use(code=voucher.code, channel=TILL, store=store, now=later)

    assert error.value.reason == "expired"


def test_a_campaign_voucher_is_not_usable_before_its_start(program, store):
    from rewards.services.gifts import campaign_create, campaign_issue

    member = member_with(0)
    start = timezone.now() + dt.timedelta(days=3)
    campaign = campaign_create(
        name="Win-back", reward=RewardFactory(), valid_from=start, valid_until=start + dt.timedelta(days=10)
    )
    campaign_issue(campaign=campaign, member_ids=[member.pk])
    voucher = campaign.vouchers.get()

    with pytest.raises(VoucherNotUsable) as error:
        voucher_use(code=voucher.code, channel=TILL, store=store)
    assert error.value.reason == "not_yet"
    assert voucher_use(code=voucher.code, channel=TILL, store=store, now=start).created


def test_cancelling_returns_the_points_once_as_a_new_lot_and_the_stock(program, manager):
    member = member_with(500)
    reward = RewardFactory(points_cost=100, stock=5)
    voucher = voucher_for(member, reward)
    assert available(member) == 400

    cancelled = voucher_cancel(voucher=voucher, actor=manager, reason="Member changed their mind")
    with pytest.raises(VoucherNotCancellable) as error:
        voucher_cancel(voucher=voucher, actor=manager, reason="again")

    assert error.value.reason == "cancelled"
    assert cancelled.status == "cancelled" and cancelled.return_entry.kind == LedgerEntry.Kind.REDEEM_CANCEL
    assert cancelled.return_entry.points == 100 and cancelled.return_entry.actor == manager
    assert available(member) == 500
    assert Reward.objects.get(pk=reward.pk).stock == 5


def test_cancelling_needs_a_reason(program, manager):
    voucher = voucher_for(member_with(500))
    with pytest.raises(CancelReasonRequired):
        voucher_cancel(voucher=voucher, actor=manager, reason="  ")
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"


def test_used_and_expired_vouchers_cannot_be_cancelled_and_expired_points_stay_spent(program, manager, store):
    member = member_with(500)
    used = voucher_for(member, key="a")
    voucher_use(code=used.code, channel=TILL, store=store)
    expiring = voucher_for(member, RewardFactory(points_cost=100, voucher_valid_days=1), key="b")
    assert vouchers_expire_due(now=timezone.now() + dt.timedelta(days=2)) == 1

    with pytest.raises(VoucherNotCancellable) as used_error:
        voucher_cancel(voucher=used, actor=manager, reason="x")
    with pytest.raises(VoucherNotCancellable) as expired_error:
        voucher_cancel(voucher=expiring, actor=manager, reason="x")

    assert used_error.value.reason == "used"
    assert expired_error.value.reason == "expired" and "not returned" in expired_error.value.message
    assert available(member) == 300


def test_the_expiry_task_is_idempotent_and_leaves_used_vouchers_alone(program, store):
    member = member_with(1000)
    reward = RewardFactory(points_cost=100, voucher_valid_days=1)
    used = voucher_for(member, reward, key="a")
    voucher_use(code=used.code, channel=TILL, store=store)
    voucher_for(member, reward, key="b")
    later = (timezone.now() + dt.timedelta(days=2)).isoformat()

    assert expire_vouchers(as_of=later) == 1
    assert expire_vouchers(as_of=later) == 0
    assert sorted(Voucher.objects.values_list("status", flat=True)) == ["expired", "used"]


@override_settings(VOUCHER_WRONG_CODES_LIMIT=3, VOUCHER_WRONG_CODES_WINDOW=300)
def test_a_burst_of_wrong_codes_blocks_every_code_and_logs_no_code(program, caplog):
    cashier = StaffFactory(email="cashier@example.com", role="cashier")
    real = voucher_for(member_with(500))
    throttle = VoucherThrottle.for_user(cashier)
    wrong = [voucher_code_new() for _ in range(4)]

    with caplog.at_level(logging.WARNING, logger="rewards.services.throttle"):
        for code in wrong:
            with pytest.raises(VoucherNotFound):
                voucher_check(code=code, throttle=throttle)
        with pytest.raises(VoucherChecksThrottled) as error:
            voucher_check(code=real.code, throttle=throttle)

    assert error.value.status == 429 and error.value.params == {"minutes": 5}
    assert len(caplog.records) == 1 and f"user:{cashier.pk}" in caplog.text
    assert all(code not in caplog.text for code in [*wrong, real.code])
    other = VoucherThrottle.for_user(StaffFactory(email="c2@example.com", role="cashier"))
    assert voucher_check(code=real.code, throttle=other).usable  # another cashier is not blocked


def event(stock: int) -> Reward:
    return RewardFactory(
        kind="event", points_cost=100, stock=stock, value=None, place="Roastery",
        event_at=timezone.now() + dt.timedelta(days=30),
    )


def test_the_waitlist_opens_only_when_the_event_is_full(program):
    member = member_with(500)
    with pytest.raises(WaitlistNotOpen):
        waitlist_join(member=member, reward=event(stock=1))
    full = event(stock=0)
    waitlist_join(member=member, reward=full)
    with pytest.raises(AlreadyWaiting):
        waitlist_join(member=member, reward=full)
    assert waitlist_leave(member=member, reward=full)
    assert not waitlist_leave(member=member, reward=full)


def test_a_cancelled_place_goes_to_the_first_waiting_member_who_still_qualifies(
    program, manager, django_capture_on_commit_callbacks
):
    holder, broke, patient = member_with(500), member_with(100), member_with(300)
    full = event(stock=1)
    place = voucher_for(holder, full)
    waitlist_join(member=broke, reward=full)
    waitlist_join(member=patient, reward=full)
    points_credit(member=broke, points=1, kind="bonus", idempotency_key="x")  # still 101: qualifies
    from rewards.services.redemption import reward_redeem as redeem

    redeem(member=broke, reward=RewardFactory(points_cost=50), idempotency_key="spend", channel="portal")

    with django_capture_on_commit_callbacks(execute=True):
        voucher_cancel(voucher=place, actor=manager, reason="cannot come")

    entries = {entry.member_id: entry for entry in WaitlistEntry.objects.all()}
    assert entries[broke.pk].status == "skipped" and entries[broke.pk].note == "insufficient_points"
    assert entries[patient.pk].status == "given"
    assert entries[patient.pk].voucher.member == patient and available(patient) == 200
    assert Reward.objects.get(pk=full.pk).stock == 0
    assert event_waitlist_promote(reward_id=full.pk) == 0  # nothing left to give


@override_settings(VOUCHER_WRONG_CODES_LIMIT=1, VOUCHER_WRONG_CODES_WINDOW=60)
def test_an_api_client_is_throttled_on_its_own_key(program):
    real = voucher_for(member_with(500))
    pos = VoucherThrottle.for_client("pos-7")
    for _ in range(2):
        with pytest.raises(VoucherNotFound):
            voucher_check(code=voucher_code_new(), throttle=pos)
    with pytest.raises(VoucherChecksThrottled) as error:
        voucher_use(code=real.code, channel="api", client="pos-7", throttle=pos)
    assert error.value.params == {"minutes": 1}
    assert Voucher.objects.get(pk=real.pk).status == "issued"
    assert voucher_check(code=real.code, throttle=VoucherThrottle.for_client("pos-8")).usable


def test_only_owners_and_managers_cancel_a_voucher(program):
    from loyalty.exceptions import NotAllowed

    member = member_with(500)
    voucher = voucher_for(member)
    marketing = StaffFactory(email="marketing@example.com", role="marketing")

    with pytest.raises(NotAllowed):
        voucher_cancel(voucher=voucher, actor=marketing, reason="goodwill")

    assert Voucher.objects.get(pk=voucher.pk).status == "issued" and available(member) == 400
