"""The ledger's rules, through the services that the faces and the API call."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.exceptions import (
    CurrencyMismatch,
    ExternalIdConflict,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidAmount,
    InvalidTime,
    NotAllowed,
    RefundTooLarge,
)
from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Purchase, Refund, Source
from loyalty.services.ledger import points_adjust, points_expire_due, points_redeem, points_release_due
from loyalty.services.purchases import LineInput, purchase_record, refund_points_kept, refund_record
from tests.factories import MemberFactory, ProgramFactory, StaffFactory, StoreFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def buy(member, amount, *, at=T0, external_id=None, store=None, now=NOW, **kwargs):
    return purchase_record(
        external_id=external_id or f"R-{at.isoformat()}-{amount}",
        store=store or StoreFactory(code="S1"),
        member=member, purchased_at=at, amount=Decimal(amount), source=Source.TILL,
        now=now, **kwargs,
    )


def balances(member):
    account = PointsAccount.objects.get(member=member)
    return account.available, account.pending, account.debt


def test_purchase_earns_base_points_rounded_down():
    ProgramFactory(earn_rate=Decimal("1.5"))
    member = MemberFactory()
    result = buy(member, "10.99")
    assert result.points == 16  # 10.99 x 1.5 = 16.485
    assert balances(member) == (16, 0, 0)
    entry = LedgerEntry.objects.get(purchase=result.purchase)
    assert entry.kind == "earn" and entry.effective_at == T0
    assert entry.breakdown == [{"rule": "base", "label": "Base rate", "points": 16}]


def test_purchase_without_member_moves_no_points():
    ProgramFactory()
    result = buy(None, "50.00")
    assert result.points == 0 and result.account is None
    assert not LedgerEntry.objects.exists()


def test_points_stay_pending_for_the_return_window_then_are_released_dated_when_due():
    ProgramFactory(return_window_days=14)
    member = MemberFactory()
    buy(member, "100.00", now=T0)
    assert balances(member) == (0, 100, 0)
    points_release_due(as_of=T0 + dt.timedelta(days=13))
    assert balances(member) == (0, 100, 0)
    result = points_release_due(as_of=T0 + dt.timedelta(days=30))
    assert result.entries == 1
    assert balances(member) == (100, 0, 0)
    release = LedgerEntry.objects.get(kind="release")
    assert release.effective_at == T0 + dt.timedelta(days=14)
    assert points_release_due(as_of=T0 + dt.timedelta(days=60)).entries == 0
    assert LedgerEntry.objects.filter(kind="release").count() == 1


def test_late_purchase_releases_at_once_when_its_window_is_over():
    ProgramFactory(return_window_days=14)
    member = MemberFactory()
    buy(member, "100.00", at=T0, now=T0 + dt.timedelta(days=20))
    assert balances(member) == (100, 0, 0)
    kinds = list(LedgerEntry.objects.order_by("effective_at").values_list("kind", "effective_at"))
    assert kinds == [("earn", T0), ("release", T0 + dt.timedelta(days=14))]


def test_lots_expire_n_calendar_months_after_earning_in_program_time():
    ProgramFactory(expiry_months=6)
    member = MemberFactory()
    buy(member, "30.00", at=T0, now=T0)
    lot = PointsLot.objects.get()
    # 13:00 in Warsaw (CET) on 10 January; 13:00 in Warsaw (CEST) on 10 July is 11:00 UTC.
    assert lot.expires_at == dt.datetime(2026, 7, 10, 11, 0, tzinfo=dt.UTC)
    points_expire_due(as_of=dt.datetime(2026, 7, 10, 10, 59, tzinfo=dt.UTC))
    assert balances(member) == (30, 0, 0)
    points_expire_due(as_of=NOW)
    points_expire_due(as_of=NOW)
    assert balances(member) == (0, 0, 0)
    expiry = LedgerEntry.objects.get(kind="expire")
    assert (expiry.points, expiry.effective_at) == (-30, lot.expires_at)


def test_redeem_takes_oldest_lots_first_and_never_overdraws():
    ProgramFactory(expiry_months=12)
    member = MemberFactory()
    buy(member, "30.00", at=T0)
    buy(member, "50.00", at=T0 + dt.timedelta(days=30))
    points_redeem(member=member, points=40, idempotency_key="r1", reason="reward", now=NOW)
    lots = list(PointsLot.objects.order_by("earned_at").values_list("remaining", flat=True))
    assert lots == [0, 40]
    with pytest.raises(InsufficientPoints) as error:
        points_redeem(member=member, points=41, idempotency_key="r2", reason="reward", now=NOW)
    assert error.value.params == {"needed": 41, "available": 40}
    assert balances(member) == (40, 0, 0)


def test_redeem_is_idempotent_and_refuses_a_reused_key_with_other_points():
    ProgramFactory()
    member = MemberFactory()
    buy(member, "100.00")
    first = points_redeem(member=member, points=30, idempotency_key="k", reason="x", now=NOW)
    again = points_redeem(member=member, points=30, idempotency_key="k", reason="x", now=NOW)
    assert again.pk == first.pk
    assert balances(member) == (70, 0, 0)
    with pytest.raises(IdempotencyKeyReused):
        points_redeem(member=member, points=31, idempotency_key="k", reason="x", now=NOW)


def test_same_external_id_is_taken_once_and_other_payload_refused():
    ProgramFactory()
    member = MemberFactory()
    first = buy(member, "20.00", external_id="POS-1")
    again = buy(member, "20.00", external_id="POS-1")
    assert (again.created, again.purchase.pk) == (False, first.purchase.pk)
    assert Purchase.objects.count() == 1 and balances(member) == (20, 0, 0)
    with pytest.raises(ExternalIdConflict) as error:
        buy(member, "21.00", external_id="POS-1")
    assert error.value.field == "external_id"
    assert balances(member) == (20, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"amount": "0"}, InvalidAmount, "amount"),
        ({"amount": "-5.00"}, InvalidAmount, "amount"),
        ({"amount": "1.234"}, InvalidAmount, "amount"),
        ({"amount": "abc"}, InvalidAmount, "amount"),
        ({"amount": "10.00", "currency": "EUR"}, CurrencyMismatch, "currency"),
        ({"amount": "10.00", "at": NOW + dt.timedelta(days=1)}, InvalidTime, "purchased_at"),
    ],
)
def test_bad_purchase_input_is_refused_naming_the_field_and_writes_nothing(kwargs, error, field):
    ProgramFactory()
    member = MemberFactory()
    amount = kwargs.pop("amount")
    with pytest.raises(error) as raised:
        purchase_record(
            external_id="X", store=StoreFactory(), member=member,
            purchased_at=kwargs.pop("at", T0), amount=amount, source=Source.TILL, now=NOW, **kwargs,
        )
    assert raised.value.field == field
    assert not Purchase.objects.exists() and not LedgerEntry.objects.exists()


def test_purchase_lines_are_stored():
    ProgramFactory()
    result = buy(MemberFactory(), "12.00", lines=[
        LineInput(sku="BEANS-1", category="coffee", quantity=Decimal("2"), amount=Decimal("10.00")),
        LineInput(sku="CUP", amount=Decimal("2.00")),
    ])
    assert sorted(result.purchase.lines.values_list("sku", flat=True)) == ["BEANS-1", "CUP"]


@pytest.mark.parametrize(
    ("points", "amount", "refunded", "kept"),
    [(100, "100.00", "0", 100), (100, "100.00", "33.33", 66), (7, "9.99", "0.01", 6), (7, "9.99", "9.99", 0)],
)
def test_refund_keeps_floor_of_points_times_remaining_share(points, amount, refunded, kept):
    assert refund_points_kept(points=points, amount=Decimal(amount), refunded=Decimal(refunded)) == kept


def test_partial_refunds_reverse_the_refunded_share_and_never_exceed_the_amount():
    ProgramFactory()
    member = MemberFactory()
    purchase = buy(member, "100.00").purchase
    first = refund_record(external_id="RF-1", purchase=purchase, amount="33.33", source=Source.TILL,
                          refunded_at=T0 + dt.timedelta(days=1), now=NOW)
    assert first.points_reversed == 34  # keeps floor(100 x 66.67 / 100) = 66
    assert balances(member) == (66, 0, 0)
    with pytest.raises(RefundTooLarge) as error:
        refund_record(external_id="RF-2", purchase=purchase, amount="66.68", source=Source.TILL, now=NOW)
    assert error.value.field == "amount"
    last = refund_record(external_id="RF-3", purchase=purchase, amount="66.67", source=Source.TILL, now=NOW)
    assert last.points_reversed == 66
    assert balances(member) == (0, 0, 0)
    purchase.refresh_from_db()
    assert (purchase.refunded_amount, purchase.points_kept) == (Decimal("100.00"), 0)


def test_refund_twice_with_same_id_is_taken_once():
    ProgramFactory()
    member = MemberFactory()
    purchase = buy(member, "100.00").purchase
    refund_record(external_id="RF", purchase=purchase, amount="50.00", source=Source.API, now=NOW)
    again = refund_record(external_id="RF", purchase=purchase, amount="50.00", source=Source.API, now=NOW)
    assert again.created is False
    assert Refund.objects.count() == 1 and balances(member) == (50, 0, 0)


def test_refund_of_pending_purchase_voids_its_lot():
    ProgramFactory(return_window_days=14)
    member = MemberFactory()
    purchase = buy(member, "40.00", now=T0).purchase
    refund_record(external_id="RF", purchase=purchase, amount="40.00", source=Source.TILL,
                  refunded_at=T0 + dt.timedelta(days=2), now=T0 + dt.timedelta(days=2))
    assert balances(member) == (0, 0, 0)
    assert PointsLot.objects.get().status == "voided"
    assert points_release_due(as_of=NOW).entries == 0


def test_refund_after_redemption_leaves_a_debt_that_later_earnings_repay_first():
    ProgramFactory()
    member = MemberFactory()
    purchase = buy(member, "100.00").purchase
    points_redeem(member=member, points=80, idempotency_key="r", reason="reward", now=NOW)
    refund_record(external_id="RF", purchase=purchase, amount="100.00", source=Source.TILL, now=NOW)
    assert balances(member) == (0, 0, 80)
    buy(member, "50.00", at=NOW - dt.timedelta(hours=1), external_id="R2")
    assert balances(member) == (0, 0, 30)
    buy(member, "50.00", at=NOW - dt.timedelta(minutes=30), external_id="R3")
    assert balances(member) == (20, 0, 0)


def test_refund_after_redemption_forgives_the_rest_when_debts_are_off():
    ProgramFactory(allow_debt=False)
    member = MemberFactory()
    purchase = buy(member, "100.00").purchase
    points_redeem(member=member, points=80, idempotency_key="r", reason="reward", now=NOW)
    refund_record(external_id="RF", purchase=purchase, amount="100.00", source=Source.TILL, now=NOW)
    assert balances(member) == (0, 0, 0)
    assert LedgerEntry.objects.get(kind="reversal").points == -100


def test_release_repays_debt_first():
    ProgramFactory(return_window_days=7)
    member = MemberFactory()
    first = buy(member, "100.00", at=T0, now=T0 + dt.timedelta(days=8)).purchase
    points_redeem(member=member, points=100, idempotency_key="r", reason="x", now=T0 + dt.timedelta(days=8))
    buy(member, "30.00", at=T0 + dt.timedelta(days=9), external_id="R2", now=T0 + dt.timedelta(days=9))
    refund_record(external_id="RF", purchase=first, amount="100.00", source=Source.TILL,
                  now=T0 + dt.timedelta(days=10))
    assert balances(member) == (0, 30, 100)
    points_release_due(as_of=T0 + dt.timedelta(days=20))
    assert balances(member) == (0, 0, 70)


def test_adjustment_needs_owner_or_manager_and_a_reason():
    ProgramFactory()
    member = MemberFactory()
    manager = StaffFactory()
    entry = points_adjust(member=member, points=25, reason="goodwill", actor=manager, idempotency_key="a")
    assert (entry.kind, entry.actor, entry.reason) == ("adjust", manager, "goodwill")
    assert balances(member) == (25, 0, 0)
    with pytest.raises(NotAllowed):
        points_adjust(member=member, points=5, reason="x", actor=StaffFactory(role="marketing"),
                      idempotency_key="b")
    with pytest.raises(InsufficientPoints):
        points_adjust(member=member, points=-26, reason="fix", actor=manager, idempotency_key="c")
    points_adjust(member=member, points=-25, reason="fix", actor=manager, idempotency_key="d")
    assert balances(member) == (0, 0, 0)


def test_entries_carry_effective_and_recorded_times():
    ProgramFactory()
    member = MemberFactory()
    buy(member, "10.00", at=T0, now=NOW)
    entry = LedgerEntry.objects.get()
    assert (entry.effective_at, entry.recorded_at) == (T0, NOW)
