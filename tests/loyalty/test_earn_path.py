"""The PostgreSQL write path of the ledger: a live operation's entries, lots and
balance are one statement, with the same rows the ORM path writes."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.ledger.storage import account_select_for_update
from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Purchase, Source
from loyalty.services.ledger import points_redeem
from loyalty.services.program import program_get
from loyalty.services.purchases import LineInput, purchase_record
from tests.factories import MemberFactory, ProgramFactory, StaffFactory, StoreFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

T0 = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)


def test_an_earn_on_an_existing_account_is_a_lock_and_one_write(django_assert_num_queries):
    ProgramFactory(return_window_days=14, expiry_months=12)
    member, store = MemberFactory(), StoreFactory()
    purchase_record(external_id="warm", store=store, member=member, purchased_at=T0, amount="1.00",
                    source=Source.API, now=T0)
    program_get()
    # savepoint, lock (taking the purchase's id), one write (purchase + lot + entry + balance), release
    with django_assert_num_queries(4) as captured:
        result = purchase_record(external_id="R1", store=store, member=member, purchased_at=T0, amount="10.00",
                                 source=Source.API, now=T0)
    lock, write = (query["sql"] for query in captured.captured_queries[1:3])
    assert "FOR UPDATE" in lock and "nextval" in lock
    assert all(table in write for table in ("loyalty_purchase", "loyalty_pointslot", "loyalty_ledgerentry"))
    purchase = Purchase.objects.get(external_id="R1")
    assert result.purchase.pk == purchase.pk and not result.purchase._state.adding
    assert (purchase.amount, purchase.points, purchase.points_kept, purchase.member_id, purchase.store_id) == (
        Decimal("10.00"), 10, 10, member.pk, store.pk,
    )
    assert purchase.payload_hash == result.purchase.payload_hash and purchase.recorded_at == T0
    entry = LedgerEntry.objects.get(purchase=purchase)
    assert (entry.kind, entry.idempotency_key) == ("earn", f"purchase:{purchase.pk}")
    assert entry.lot.purchase_id == purchase.pk
    assert PointsAccount.objects.get(pk=member.pk).pending == 11


def test_a_purchase_with_lines_is_written_with_its_lines_in_the_same_statement(django_assert_num_queries):
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    purchase_record(external_id="warm", store=store, member=member, purchased_at=T0, amount="1.00",
                    source=Source.API, now=T0)
    lines = [LineInput(sku="A", amount=Decimal("4.00"), quantity=Decimal("2"), category="food"),
             LineInput(sku="B", amount=Decimal("6.00"))]
    with django_assert_num_queries(4):
        result = purchase_record(external_id="L1", store=store, member=member, purchased_at=T0,
                                 amount="10.00", lines=lines, source=Source.TILL, now=T0)
    saved = sorted(result.purchase.lines.values_list("sku", "category", "quantity", "amount"))
    assert saved == [("A", "food", Decimal("2.000"), Decimal("4.00")), ("B", "", Decimal("1.000"), Decimal("6.00"))]


def test_the_same_external_id_again_returns_the_first_purchase_and_writes_nothing():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    first = purchase_record(external_id="D1", store=store, member=member, purchased_at=T0, amount="10.00",
                            source=Source.API, now=T0)
    again = purchase_record(external_id="D1", store=store, member=member, purchased_at=T0, amount="10.00",
                            source=Source.API, now=T0)
    assert (again.created, again.purchase.pk, again.points) == (False, first.purchase.pk, 10)
    assert (Purchase.objects.count(), PointsLot.objects.count(), LedgerEntry.objects.count()) == (1, 1, 1)
    assert PointsAccount.objects.get(pk=member.pk).available == 10


def test_entries_of_lots_created_in_the_same_write_point_at_them():
    ProgramFactory(return_window_days=14, expiry_months=1)
    member = MemberFactory()
    # Recorded late: the earn, its release and its expiry are written together.
    result = purchase_record(external_id="LATE", store=StoreFactory(), member=member, purchased_at=T0,
                             amount=Decimal("25.00"), source=Source.IMPORT, now=T0 + dt.timedelta(days=60))
    lot = PointsLot.objects.get()
    entries = {entry.kind: entry for entry in LedgerEntry.objects.all()}
    assert set(entries) == {"earn", "release", "expire"}
    assert {entry.lot_id for entry in entries.values()} == {lot.pk}
    assert entries["earn"].idempotency_key == f"purchase:{result.purchase.pk}"
    assert entries["release"].idempotency_key == f"release:{lot.pk}"
    assert entries["expire"].idempotency_key == f"expire:{lot.pk}"
    assert (lot.status, lot.remaining, lot.purchase_id) == ("expired", 0, result.purchase.pk)
    assert entries["earn"].breakdown == [{"rule": "base", "label": "Base rate", "points": 25}]
    account = PointsAccount.objects.get()
    assert (account.available, account.pending, account.debt, account.next_due_at) == (0, 0, 0, None)


def test_returned_entry_is_the_saved_row():
    ProgramFactory()
    member = MemberFactory()
    purchase_record(external_id="R1", store=StoreFactory(), member=member, purchased_at=T0, amount="50.00",
                    source=Source.TILL, now=T0)
    entry = points_redeem(member=member, points=20, idempotency_key="k", reason="reward", now=T0)
    saved = LedgerEntry.objects.get(pk=entry.pk)
    assert (saved.kind, saved.points, saved.reason, saved.available_delta) == ("redeem", -20, "reward", -20)
    assert (entry.kind, entry.points, entry.reason, entry.idempotency_key) == ("redeem", -20, "reward", "k")


def test_account_select_for_update_returns_the_row_or_none():
    ProgramFactory()
    member = MemberFactory()
    assert account_select_for_update(member.pk) is None
    PointsAccount.objects.create(member=member, available=7, next_due_at=T0)
    account = account_select_for_update(member.pk)
    assert (account.pk, account.available, account.next_due_at) == (member.pk, 7, T0)


def test_the_one_statement_purchase_row_is_the_row_the_orm_would_write():
    ProgramFactory(currency="PLN")
    member, store, cashier = MemberFactory(), StoreFactory(), StaffFactory()
    purchase_record(external_id="warm", store=store, member=member, purchased_at=T0, amount="1.00",
                    source=Source.API, now=T0)
    result = purchase_record(external_id="ROW1", store=store, member=member, purchased_at=T0,
                             amount=Decimal("12.34"), currency="pln", source=Source.TILL, recorded_by=cashier,
                             now=T0 + dt.timedelta(seconds=5))
    stored = Purchase.objects.filter(pk=result.purchase.pk).values().get()
    assert stored == {
        "id": result.purchase.pk, "external_id": "ROW1", "store_id": store.pk, "member_id": member.pk,
        "purchased_at": T0, "amount": Decimal("12.34"), "currency": "PLN", "refunded_amount": Decimal("0.00"),
        "points": 12, "points_kept": 12, "payload_hash": result.purchase.payload_hash, "source": "till",
        "recorded_by_id": cashier.pk, "recorded_at": T0 + dt.timedelta(seconds=5),
    }
    # The instance returned is the saved row, with its relations at hand.
    assert result.purchase.store is store and result.purchase.recorded_by is cashier


def test_a_purchase_that_earns_nothing_is_still_written_with_the_lock_and_one_statement(django_assert_num_queries):
    ProgramFactory(earn_rate=Decimal("0.5"))
    member, store = MemberFactory(), StoreFactory()
    purchase_record(external_id="warm", store=store, member=member, purchased_at=T0, amount="10.00",
                    source=Source.API, now=T0)
    with django_assert_num_queries(4):
        result = purchase_record(external_id="ZERO", store=store, member=member, purchased_at=T0,
                                 amount="1.50", source=Source.API, now=T0)
    assert (result.created, result.points) == (True, 0)
    assert Purchase.objects.filter(external_id="ZERO", points=0, points_kept=0).exists()
    assert not PointsLot.objects.filter(purchase=result.purchase).exists()
    assert PointsAccount.objects.get(pk=member.pk).available == 5
