"""Concurrency on PostgreSQL: real threads, each with its own connection, all
released at once by a barrier, then the sums are checked.

Earns, redemptions, refunds, releases and expiries on one member never lose an
update, never overdraw and never take an external id twice; the time-driven
jobs give the same ledger however concurrently they run.
"""

import contextlib
import datetime as dt
import io
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.models import Sum
from django.utils import timezone

from loyalty.exceptions import InsufficientPoints, RefundTooLarge
from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Purchase, Refund, Source
from loyalty.services.ledger import points_expire_due, points_redeem, points_release_due
from loyalty.services.purchases import purchase_record, refund_record
from tests.factories import MemberFactory, ProgramFactory, StoreFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def in_threads(count, work):
    """Run ``work(index)`` in ``count`` threads started together; return the results.

    Any unexpected exception in a thread fails the test. Each thread closes
    its database connection when done.
    """
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def target(index):
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as error:  # reported in the main thread below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


def assert_ledger_verified():
    out = io.StringIO()
    call_command("verify_ledger", stdout=out, stderr=io.StringIO())  # raises when any account is off
    assert "every balance equals" in out.getvalue()


def balances(member):
    account = PointsAccount.objects.get(member=member)
    return account.available, account.pending, account.debt


def buy(member, external_id, amount, *, at=None, store=None):
    now = timezone.now()
    return purchase_record(
        external_id=external_id, store=store, member=member, purchased_at=at or now,
        amount=Decimal(amount), source=Source.API, now=max(now, at or now),
    )


def test_concurrent_earns_on_one_member_lose_no_update():
    ProgramFactory()
    member = MemberFactory()
    store = StoreFactory()
    per_thread = 25

    def work(index):
        return sum(
            buy(member, f"T{index}-{n}", f"{10 + index}.{n:02d}", store=store).points
            for n in range(per_thread)
        )

    earned = sum(in_threads(THREADS, work))
    assert earned == sum((10 + index) * per_thread for index in range(THREADS))
    assert balances(member) == (earned, 0, 0)
    assert LedgerEntry.objects.filter(kind="earn").count() == THREADS * per_thread
    assert_ledger_verified()


def test_concurrent_redemptions_never_overdraw():
    ProgramFactory()
    member = MemberFactory()
    store = StoreFactory()
    for n in range(10):
        buy(member, f"SEED-{n}", "100.00", store=store)  # 1,000 points in ten lots

    def work(index):
        taken = 0
        for n in range(5):
            try:
                points_redeem(member=member, points=30, idempotency_key=f"r-{index}-{n}", reason="reward")
                taken += 1
            except InsufficientPoints:
                pass
        return taken

    succeeded = sum(in_threads(THREADS, work))  # 40 attempts of 30 points: 1,200 > 1,000
    assert succeeded == 1000 // 30
    assert balances(member) == (1000 - 30 * succeeded, 0, 0)
    assert LedgerEntry.objects.filter(kind="redeem").count() == succeeded
    assert_ledger_verified()


def test_concurrent_refunds_never_exceed_the_purchase_amount():
    ProgramFactory()
    member = MemberFactory()
    store = StoreFactory()
    purchase = buy(member, "P1", "100.00", store=store).purchase

    def work(index):
        try:
            return refund_record(
                external_id=f"RF-{index}", purchase=purchase, amount="20.00", source=Source.API
            ).points_reversed
        except RefundTooLarge:
            return None

    results = in_threads(THREADS, work)
    assert sum(result is not None for result in results) == 5
    assert sum(result for result in results if result is not None) == 100
    purchase.refresh_from_db()
    assert (purchase.refunded_amount, purchase.points_kept) == (Decimal("100.00"), 0)
    assert Refund.objects.aggregate(total=Sum("amount"))["total"] == Decimal("100.00")
    assert balances(member) == (0, 0, 0)
    assert_ledger_verified()


def test_the_same_external_id_sent_by_many_threads_is_taken_once():
    ProgramFactory()
    member = MemberFactory()
    store = StoreFactory()
    at = timezone.now() - dt.timedelta(minutes=1)

    results = in_threads(THREADS, lambda index: buy(member, "POS-42", "55.00", at=at, store=store))
    assert Counter(result.created for result in results) == {True: 1, False: THREADS - 1}
    assert {result.purchase.pk for result in results} == {Purchase.objects.get().pk}
    assert balances(member) == (55, 0, 0)

    purchase = Purchase.objects.get()
    refunds = in_threads(
        THREADS,
        lambda index: refund_record(external_id="RF-42", purchase=purchase, amount="5.00",
                                    refunded_at=at, source=Source.API),
    )
    assert Counter(result.created for result in refunds) == {True: 1, False: THREADS - 1}
    assert Refund.objects.count() == 1 and balances(member) == (50, 0, 0)
    assert_ledger_verified()


def ledger_rows():
    return sorted(
        LedgerEntry.objects.values_list("account_id", "kind", "points", "available_delta",
                                        "pending_delta", "debt_delta", "effective_at", "lot_id")
    )


def test_release_and_expiry_run_concurrently_give_the_ledger_of_one_run():
    ProgramFactory(return_window_days=7, expiry_months=1)
    store = StoreFactory()
    members = MemberFactory.create_batch(12)
    start = dt.datetime(2025, 1, 1, 10, 0, tzinfo=dt.UTC)
    for index, member in enumerate(members):
        for day in range(0, 60, 4):
            at = start + dt.timedelta(days=day, minutes=index)
            purchase_record(external_id=f"H-{member.pk}-{day}", store=store, member=member,
                            purchased_at=at, amount="10.00", source=Source.IMPORT, now=at)
    as_of = start + dt.timedelta(days=75)
    due_releases = {(lot.pk, lot.available_at) for lot in PointsLot.objects.filter(status="pending")
                    if lot.available_at <= as_of}
    assert due_releases

    def work(index):
        job = points_release_due if index % 2 == 0 else points_expire_due
        return job(as_of=as_of, batch_size=5)  # small batches: the threads interleave

    in_threads(THREADS, work)
    concurrent = ledger_rows()
    releases = {(lot, at) for _a, kind, *_d, at, lot in concurrent if kind == "release"}
    assert due_releases <= releases
    expiries = [row for row in concurrent if row[1] == "expire"]
    assert len({row[-1] for row in expiries}) == len(expiries)  # each lot expired at most once
    assert all(
        at == lot.expires_at
        for (*_row, at, lot_id) in expiries
        for lot in [PointsLot.objects.get(pk=lot_id)]
    )
    # Running once more, serially, finds nothing left: the concurrent runs did exactly one run's work.
    assert points_release_due(as_of=as_of).entries == 0
    assert points_expire_due(as_of=as_of).entries == 0
    assert ledger_rows() == concurrent
    assert not PointsLot.objects.filter(status="pending", available_at__lte=as_of).exists()
    assert not PointsLot.objects.filter(status="available", remaining__gt=0, expires_at__lte=as_of).exists()
    assert_ledger_verified()


def test_mixed_earns_redemptions_refunds_and_expiry_on_one_member_keep_the_ledger_exact():
    ProgramFactory(expiry_months=1)
    member = MemberFactory()
    store = StoreFactory()
    now = timezone.now()
    old = [buy(member, f"OLD-{n}", "50.00", at=now - dt.timedelta(days=60 + n), store=store).purchase
           for n in range(4)]  # expired by now
    recent = [buy(member, f"NEW-{n}", "80.00", at=now - dt.timedelta(days=3, minutes=n), store=store).purchase
              for n in range(4)]

    def work(index):
        role = index % 4
        for n in range(8):
            if role == 0:
                buy(member, f"E-{index}-{n}", "12.00", store=store)
            elif role == 1:
                with contextlib.suppress(InsufficientPoints):
                    points_redeem(member=member, points=25, idempotency_key=f"R-{index}-{n}", reason="x")
            elif role == 2:
                target = (recent + old)[(index + n) % 8]
                with contextlib.suppress(RefundTooLarge):
                    refund_record(external_id=f"F-{index}-{n}", purchase=target, amount="9.00",
                                  source=Source.API)
            else:
                points_expire_due(batch_size=1)

    in_threads(THREADS, work)
    available, pending, debt = balances(member)
    assert min(available, pending, debt) >= 0
    totals = LedgerEntry.objects.aggregate(
        a=Sum("available_delta"), p=Sum("pending_delta"), d=Sum("debt_delta")
    )
    assert (available, pending, debt) == (totals["a"], totals["p"], totals["d"])
    for purchase in Purchase.objects.all():
        assert purchase.refunded_amount <= purchase.amount
    assert LedgerEntry.objects.filter(kind="expire").values("lot").distinct().count() == \
        LedgerEntry.objects.filter(kind="expire").count()
    assert_ledger_verified()
