"""Redemptions and vouchers under concurrency on PostgreSQL: real threads, each
with its own connection, released together by a barrier
(``tests/loyalty/test_concurrency.py``); then the counts and the ledger are checked.

A voucher is used once however many tills send its code at the same moment;
a reward's stock, a partner's code pool, a member's points and a per-member
limit are never overspent; a retried redemption gives the first voucher; a
cancel racing a use ends one way or the other, never both; an event's freed
place goes to one waiting member however many promotions run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from loyalty.exceptions import InsufficientPoints
from loyalty.models import LedgerEntry, PointsAccount
from loyalty.services.ledger import account_lock, points_credit
from rewards.exceptions import (
    EventFull,
    RewardLimitReached,
    RewardOutOfStock,
    VoucherNotCancellable,
    VoucherNotUsable,
)
from rewards.models import PartnerCode, Reward, Voucher, WaitlistEntry
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_cancel, voucher_use
from rewards.services.waitlist import event_waitlist_promote, waitlist_join
from rewards.tasks import promote_event_waitlist
from tests.factories import MemberFactory, ProgramFactory, RewardFactory, StaffFactory, StoreFactory
from tests.loyalty.test_concurrency import THREADS, assert_ledger_verified, in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
PORTAL = Voucher.Channel.PORTAL


@pytest.fixture
def program():
    return ProgramFactory()


def member_with(points: int):
    member = MemberFactory()
    points_credit(member=member, points=points, kind=LedgerEntry.Kind.BONUS, idempotency_key="gift")
    return member


def available(member) -> int:
    return PointsAccount.objects.get(member=member).available


def attempt(call):
    """``call()``'s result, or the ``LoyaltyError`` it raised (counted by the test)."""
    try:
        return call()
    except (VoucherNotUsable, RewardOutOfStock, InsufficientPoints, RewardLimitReached) as error:
        return error


def outcomes(results) -> Counter:
    return Counter(type(result).__name__ for result in results)


def redeem(member, reward, key: str):
    return reward_redeem(member=member, reward=reward, idempotency_key=key, channel=PORTAL)


# -- using one code -------------------------------------------------------------------


def test_twenty_tills_using_one_code_at_once_use_it_once(program):
    member = member_with(100)
    voucher = redeem(member, RewardFactory(points_cost=100), "r-1").voucher
    stores = [StoreFactory(code=f"T{n:02d}") for n in range(20)]
    cashier = StaffFactory(role="cashier")

    def use(index):
        return attempt(lambda: voucher_use(
            code=voucher.display_code, channel=Voucher.Channel.TILL, store=stores[index], user=cashier,
            receipt=f"RCPT-{index}",
        ))

    results = in_threads(20, use)

    assert outcomes(results) == {"VoucherUse": 1, "VoucherNotUsable": 19}
    [winner] = [result for result in results if not isinstance(result, Exception)]
    assert winner.created
    winning_store = stores[results.index(winner)]
    assert {error.reason for error in results if isinstance(error, Exception)} == {"used"}
    assert {error.params["store"] for error in results if isinstance(error, Exception)} == {winning_store.name}
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_store, voucher.used_receipt) == (
        "used", winning_store, f"RCPT-{results.index(winner)}"
    )
    assert available(member) == 0  # using moves no points


# -- stock, balance, limits and idempotency -------------------------------------------


def test_fifty_members_redeeming_a_reward_with_stock_ten_get_exactly_ten(program):
    reward = RewardFactory(points_cost=100, stock=10)
    members = [member_with(150) for _ in range(50)]

    results = in_threads(50, lambda index: attempt(lambda: redeem(members[index], reward, f"r-{index}")))

    assert outcomes(results) == {"Redemption": 10, "RewardOutOfStock": 40}
    assert Voucher.objects.filter(reward=reward).count() == 10
    assert Reward.objects.get(pk=reward.pk).stock == 0
    won = {members[index].pk for index, result in enumerate(results) if not isinstance(result, Exception)}
    assert set(Voucher.objects.filter(reward=reward).values_list("member_id", flat=True)) == won
    for member in members:
        assert available(member) == (50 if member.pk in won else 150)  # the 40 are untouched
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).count() == 10
    assert_ledger_verified()


@pytest.mark.parametrize("attempts", [2, THREADS])
def test_a_member_with_points_for_one_reward_redeeming_at_once_gets_one(program, attempts):
    member = member_with(100)
    reward = RewardFactory(points_cost=100)

    results = in_threads(attempts, lambda index: attempt(lambda: redeem(member, reward, f"tap-{index}")))

    assert outcomes(results) == {"Redemption": 1, "InsufficientPoints": attempts - 1}
    assert Voucher.objects.filter(member=member).count() == 1
    account = PointsAccount.objects.get(member=member)
    assert (account.available, account.debt) == (0, 0)
    assert LedgerEntry.objects.filter(account=account, kind=LedgerEntry.Kind.REDEEM).get().points == -100
    assert_ledger_verified()


@pytest.mark.parametrize("attempts", [2, THREADS])
def test_the_same_idempotency_key_sent_at_once_gives_one_voucher_to_every_caller(program, attempts):
    member = member_with(1000)
    reward = RewardFactory(points_cost=100, stock=5)

    results = in_threads(attempts, lambda index: redeem(member, reward, "retry-me"))

    assert Counter(result.created for result in results) == {True: 1, False: attempts - 1}
    assert len({result.voucher.pk for result in results}) == 1
    assert {result.voucher.code for result in results} == {Voucher.objects.get(member=member).code}
    assert {result.balance for result in results} == {900} == {available(member)}
    assert Reward.objects.get(pk=reward.pk).stock == 4
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).count() == 1
    assert_ledger_verified()


def test_a_limit_of_one_per_member_holds_against_five_redemptions_at_once(program):
    member = member_with(10_000)
    reward = RewardFactory(points_cost=100, member_limit=1, member_limit_period=Reward.LimitPeriod.EVER)

    results = in_threads(5, lambda index: attempt(lambda: redeem(member, reward, f"k-{index}")))

    assert outcomes(results) == {"Redemption": 1, "RewardLimitReached": 4}
    assert Voucher.objects.filter(member=member, reward=reward).count() == 1
    assert available(member) == 9_900
    assert_ledger_verified()


def test_twenty_redemptions_of_ten_partner_codes_hand_out_each_code_once(program):
    reward = RewardFactory(kind=Reward.Kind.PARTNER, points_cost=50, value=None)
    PartnerCode.objects.bulk_create([PartnerCode(reward=reward, code=f"PARTNER-{n}") for n in range(10)])
    members = [member_with(80) for _ in range(20)]

    results = in_threads(20, lambda index: attempt(lambda: redeem(members[index], reward, f"p-{index}")))

    assert outcomes(results) == {"Redemption": 10, "RewardOutOfStock": 10}
    vouchers = list(Voucher.objects.filter(reward=reward).select_related("partner_code"))
    assert len(vouchers) == 10
    assert sorted(voucher.partner_code.code for voucher in vouchers) == sorted(f"PARTNER-{n}" for n in range(10))
    assert not PartnerCode.objects.filter(reward=reward, voucher__isnull=True).exists()
    won = {voucher.member_id for voucher in vouchers}
    assert sorted(available(member) for member in members) == [30] * 10 + [80] * 10
    assert all(available(member) == 30 for member in members if member.pk in won)
    assert_ledger_verified()


# -- cancel racing use ----------------------------------------------------------------


def test_a_cancel_racing_a_use_ends_one_way_and_points_come_back_only_when_cancel_won(program):
    pairs = THREADS // 2  # each voucher gets a cancel and a use at the same moment, in three rounds
    reward = RewardFactory(points_cost=100, stock=100)
    store = StoreFactory(code="RACE", name="Race Street")
    manager = StaffFactory(role="manager")
    cashier = StaffFactory(role="cashier")
    results: list = []
    vouchers: list[Voucher] = []
    for round_number in range(3):
        members = [member_with(100) for _ in range(pairs)]
        batch = [redeem(member, reward, f"race-{round_number}").voucher for member in members]

        def race(index, batch=batch):
            voucher = batch[index // 2]
            if index % 2 == 0:
                return attempt(lambda: voucher_cancel(voucher=voucher, actor=manager, reason="customer asked"))
            return attempt(lambda: voucher_use(
                code=voucher.code, channel=Voucher.Channel.TILL, store=store, user=cashier, receipt=f"R-{index}",
            ))

        round_results = in_threads(2 * pairs, race)
        results += [tuple(round_results[2 * n:2 * n + 2]) for n in range(pairs)]
        vouchers += batch

    for (cancel, use), voucher in zip(results, vouchers, strict=True):
        voucher.refresh_from_db()
        cancel_won = isinstance(cancel, Voucher)
        use_won = not isinstance(use, Exception)
        assert cancel_won != use_won, (cancel, use)
        if cancel_won:
            assert isinstance(use, VoucherNotUsable) and use.reason == "cancelled"
            assert voucher.status == "cancelled" and voucher.return_entry.points == 100
            assert available(voucher.member) == 100
        else:
            assert type(cancel) is VoucherNotCancellable and cancel.reason == "used"
            assert voucher.status == "used" and voucher.return_entry is None
            assert available(voucher.member) == 0
    cancelled = sum(isinstance(cancel, Voucher) for cancel, _use in results)
    assert Reward.objects.get(pk=reward.pk).stock == 100 - len(vouchers) + cancelled  # stock back once per cancel
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM_CANCEL).count() == cancelled
    assert_ledger_verified()


# -- an event's waitlist --------------------------------------------------------------


@pytest.mark.parametrize(("runs", "freed"), [(2, 1), (THREADS, 2)])
def test_promotions_run_concurrently_after_a_cancel_give_each_freed_place_once(program, monkeypatch, runs, freed):
    monkeypatch.setattr(promote_event_waitlist, "delay", lambda **kwargs: None)  # the test runs the promotions
    event = RewardFactory(kind=Reward.Kind.EVENT, points_cost=100, stock=freed, value=None, place="Roastery",
                          event_at=timezone.now() + dt.timedelta(days=30))
    holders = [member_with(100) for _ in range(freed)]
    places = [redeem(holder, event, "place").voucher for holder in holders]
    waiting = [member_with(300) for _ in range(freed + 2)]
    for member in waiting:
        waitlist_join(member=member, reward=event)
    manager = StaffFactory(role="manager")
    for place in places:
        voucher_cancel(voucher=place, actor=manager, reason="cannot come")
    assert Reward.objects.get(pk=event.pk).stock == freed

    given = in_threads(runs, lambda index: event_waitlist_promote(reward_id=event.pk))

    assert sum(given) == freed
    entries = WaitlistEntry.objects.filter(reward=event).order_by("joined_at", "pk")
    assert [entry.status for entry in entries] == ["given"] * freed + ["waiting"] * 2  # first come, first served
    issued = Voucher.objects.filter(reward=event, status="issued")
    assert sorted(issued.values_list("member_id", flat=True)) == sorted(member.pk for member in waiting[:freed])
    assert Reward.objects.get(pk=event.pk).stock == 0
    assert [available(member) for member in waiting] == [200] * freed + [300] * 2
    with pytest.raises(EventFull):
        redeem(waiting[-1], event, "direct")
    assert_ledger_verified()


def test_a_waiting_member_redeeming_the_freed_place_while_the_promotion_runs_does_not_deadlock(
    program, monkeypatch
):
    """The app's lock order is the account, then the reward. The member redeems
    directly (holding their account, about to take the place) while the promotion
    has picked their waitlist entry: the promotion must not hold the reward's row
    while it waits for the member's account."""
    monkeypatch.setattr(promote_event_waitlist, "delay", lambda **kwargs: None)
    event = RewardFactory(kind=Reward.Kind.EVENT, points_cost=100, stock=1, value=None, place="Roastery",
                          event_at=timezone.now() + dt.timedelta(days=30))
    place = redeem(member_with(100), event, "place").voucher
    first = member_with(300)
    waitlist_join(member=first, reward=event)
    voucher_cancel(voucher=place, actor=StaffFactory(role="manager"), reason="cannot come")
    holding, go = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def run(name, work):
        try:
            results[name] = work()
        except BaseException as error:  # reported below
            results[name] = error
        finally:
            connections.close_all()

    def direct():
        with transaction.atomic():
            account_lock(member_id=first.pk)  # the portal's redemption has taken the account...
            holding.set()
            go.wait(timeout=30)
            return attempt(lambda: redeem(first, event, "direct"))  # ...and now takes the place

    threads = [threading.Thread(target=run, args=("direct", direct))]
    threads[0].start()
    assert holding.wait(timeout=30)
    threads.append(threading.Thread(target=run, args=("promote", lambda: event_waitlist_promote(reward_id=event.pk))))
    threads[1].start()
    with connection.cursor() as cursor:  # wait until the promotion waits for the member's account
        for _ in range(300):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the promotion never waited for the member's account")
    go.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert not isinstance(results["direct"], Exception), results["direct"]
    assert not isinstance(results["promote"], BaseException), results["promote"]
    assert results["promote"] == 0  # the member took the place themselves
    assert Voucher.objects.filter(reward=event, status="issued").get().member == first
    assert Reward.objects.get(pk=event.pk).stock == 0 and available(first) == 200
    assert_ledger_verified()
