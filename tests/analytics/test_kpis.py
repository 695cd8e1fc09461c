"""The KPIs of BRIEF.md on a hand-built program, each figure worked out by hand.

The program runs in America/New_York (UTC-5 in winter, UTC-4 from 8 March
2026), earns 1 point per 1.00, a point is worth 0.01, points are pending
14 days and expire after 12 months. The period is March 2026
([2026-03-01, 2026-04-01) local), the previous one [2026-01-29, 2026-03-01).

Stores A and B. Members (enrolled 2025-06-01 unless said):
  m0..m9 at A, m10..m19 at B; n0..n2 (A), n3, n4 (B) enrolled 2026-03-10;
  f0 (A) enrolled 2026-03-31 23:30 local (in the period), f1 (A) 2026-04-01
  00:30 local (after it); d0 (A) deleted, bought 200.00 on 2025-12-01.
Previous period: m0..m7 buy 50.00 at A, m10, m11 buy 50.00 at B (2026-02-10).
March:
  m0, m1: 100.00 (03-05) and 40.00 (03-20) at A        -> repeat buyers
  m2: 100.00 at A (03-05), 25.00 refunded on 03-15     -> 75.00, 25 points back
  m3: 100.00 at A (03-05), all refunded on 03-16       -> counts nowhere
  m4: 100.00 at A (03-05)
  m5: 10.00 at A on 03-31 23:30 local (still pending at the end)
  m6: 999.00 at A on 04-01 00:30 local                  -> not in March
  m10: 60.00 at B (03-06); m12, m13: 80.00 at B (03-07); n0: 30.00 at A (03-12)
  no member: 20.00 and 35.50 at A, 10.00 at A refunded in full, 15.00 at B
  n1: sign-up bonus 50 (03-10); m19: manual adjustment +500 (03-10, excluded)
  m19: bonus 100 given 2025-03-15, expires 2026-03-15  -> 100 expired (B)
  m4 redeems a 100-point reward (03-25); m0 redeems one (03-26), cancelled 03-27
  feedback in March: 10 (m0), 9 (m1), 8 (m2), 10 (m10), 3 (m11); 0 (m3) on 04-01 00:30
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zoneinfo
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from analytics.kpis import KPI_NAMES, ClvSummary, clv_none, kpis_compute
from loyalty.models import LedgerEntry, Source
from loyalty.services.ledger import points_adjust, points_credit, points_expire_due, points_release_due
from loyalty.services.purchases import purchase_record, refund_record
from members.models import Feedback, Member
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_cancel
from tests.factories import MemberFactory, ProgramFactory, RewardFactory, StaffFactory, StoreFactory

pytestmark = pytest.mark.django_db

NY = zoneinfo.ZoneInfo("America/New_York")
MARCH = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 4, 1)}


def local(month: int, day: int, hour: int = 12, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=NY)


class World:
    def __init__(self) -> None:
        self.counter = 0

    def buy(self, member, store, at, amount):
        self.counter += 1
        return purchase_record(
            external_id=f"p{self.counter}", store=store, member=member, purchased_at=at,
            amount=Decimal(amount), source=Source.IMPORT,
        ).purchase

    def refund(self, purchase, at, amount):
        self.counter += 1
        refund_record(
            external_id=f"r{self.counter}", purchase=purchase, amount=Decimal(amount),
            refunded_at=at, source=Source.IMPORT,
        )


@pytest.fixture
def world(db):
    ProgramFactory(timezone="America/New_York", return_window_days=14, expiry_months=12)
    w = World()
    a, b = StoreFactory(code="A"), StoreFactory(code="B")
    w.a, w.b = a, b
    old = local(6, 1, year=2025)
    m = [MemberFactory(enrolled_at=old, enrollment_store=a if i < 10 else b) for i in range(20)]
    n = [MemberFactory(enrolled_at=local(3, 10), enrollment_store=a if i < 3 else b) for i in range(5)]
    MemberFactory(enrolled_at=local(3, 31, 23, 30), enrollment_store=a)  # f0
    MemberFactory(enrolled_at=local(4, 1, 0, 30), enrollment_store=a)  # f1
    d0 = MemberFactory(enrolled_at=old, enrollment_store=a)
    manager = StaffFactory()

    # Chronological, as it would have happened.
    points_credit(
        member=m[19], points=100, kind=LedgerEntry.Kind.BONUS, idempotency_key="old-bonus", now=local(3, 15, year=2025)
    )
    w.buy(d0, a, local(12, 1, year=2025), "200.00")
    for i in range(8):
        w.buy(m[i], a, local(2, 10), "50.00")
    for i in (10, 11):
        w.buy(m[i], b, local(2, 10), "50.00")
    march = {i: w.buy(m[i], a, local(3, 5), "100.00") for i in range(5)}
    w.buy(m[10], b, local(3, 6), "60.00")
    w.buy(m[12], b, local(3, 7), "80.00")
    w.buy(m[13], b, local(3, 7), "80.00")
    w.buy(None, a, local(3, 8), "20.00")
    w.buy(None, a, local(3, 9), "35.50")
    w.refund(w.buy(None, a, local(3, 10), "10.00"), local(3, 11), "10.00")
    w.buy(None, b, local(3, 10), "15.00")
    points_credit(member=n[1], points=50, kind=LedgerEntry.Kind.BONUS, idempotency_key="signup", now=local(3, 10))
    points_adjust(
        member=m[19], points=500, reason="goodwill", actor=manager, idempotency_key="adj", now=local(3, 10)
    )
    w.buy(n[0], a, local(3, 12), "30.00")
    w.refund(march[2], local(3, 15), "25.00")
    w.refund(march[3], local(3, 16), "100.00")
    w.buy(m[0], a, local(3, 20), "40.00")
    w.buy(m[1], a, local(3, 20), "40.00")
    reward = RewardFactory(points_cost=100)
    reward_redeem(member=m[4], reward=reward, idempotency_key="r4", channel="portal", now=local(3, 25))
    cancelled = reward_redeem(member=m[0], reward=reward, idempotency_key="r0", channel="portal", now=local(3, 26))
    voucher_cancel(voucher=cancelled.voucher, actor=manager, reason="changed mind", now=local(3, 27))
    w.buy(m[5], a, local(3, 31, 23, 30), "10.00")
    w.buy(m[6], a, local(4, 1, 0, 30), "999.00")
    points_release_due()
    points_expire_due()
    for member, score in ((m[0], 10), (m[1], 9), (m[2], 8), (m[10], 10), (m[11], 3)):
        Feedback.objects.create(member=member, score=score, created_at=local(3, 18))
    Feedback.objects.create(member=m[3], score=0, created_at=local(4, 1, 0, 30))
    Member.objects.filter(pk=d0.pk).update(status=Member.Status.DELETED)
    return w


def test_march_for_the_whole_program(world):
    kpis = kpis_compute(**MARCH, clv=clv_none).kpis  # the CLV figures: tests/analytics/test_clv.py

    assert list(kpis) == list(KPI_NAMES)
    assert kpis["members_total"] == 26  # 20 old + 5 new + f0 (23:30 on 03-31); not f1, not d0 (deleted)
    assert kpis["new_members"] == 6  # n0..n4 + f0
    assert kpis["active_members"] == 9  # m0 m1 m2 m4 m5 m10 m12 m13 n0; m3 refunded all, m6 is April
    assert kpis["retention_rate"] == pytest.approx(6 / 10)  # of m0..m7 m10 m11: m0 m1 m2 m4 m5 m10
    assert kpis["repeat_purchase_rate"] == pytest.approx(2 / 9)  # m0, m1 of 9 active
    # earn 140+140+100+100+100+10+60+80+80+30 = 840 (m5's 10 still pending), reversals -25 -100,
    # bonus +50; the +500 adjustment and the releases are not earnings: 840 - 125 + 50 = 765
    assert kpis["points_earned"] == 765
    assert kpis["points_redeemed"] == 100  # 100 (m4) + 100 (m0) - 100 returned (m0's cancelled voucher)
    assert kpis["points_expired"] == 100  # m19's 2025-03-15 bonus, expired 2026-03-15
    assert kpis["redemption_rate"] == pytest.approx(100 / 765)
    assert kpis["breakage_rate"] == pytest.approx(100 / 765)
    # points held at 04-01 00:00 local: February 8*50 + 2*50 = 500, d0's 200 (erased members' points
    # stay), March 765 earned + 500 adjusted - 100 redeemed net, m19's 100 bonus: +100 -100 expired
    # = 500 + 200 + 765 + 500 - 100 = 1865 points x 0.01 (m6's April 999 not yet)
    assert kpis["points_liability"] == Decimal("18.65")
    # member purchases: 140 + 140 + 75 + 100 + 10 + 60 + 80 + 80 + 30 = 715 over 11 purchases
    assert kpis["aov_members"] == Decimal("65.00")
    assert kpis["aov_non_members"] == Decimal("23.50")  # (20 + 35.50 + 15) / 3; the refunded 10.00 not counted
    assert kpis["purchase_frequency"] == pytest.approx(11 / 9)
    # (February 500 + March 715) / 26 members = 46.7307...; d0's 200 is a deleted member's
    assert kpis["clv_historical"] == Decimal("46.73")
    assert kpis["clv_predicted_12m"] is None and kpis["churn_risk"] is None
    assert kpis["nps"] == pytest.approx(40.0)  # (3 promoters - 1 detractor) / 5 x 100; m3's 0 is April


def test_the_previous_period_is_computed_by_the_same_code(world):
    previous = kpis_compute(**MARCH).previous

    assert (previous.scope.start, previous.scope.end) == (dt.date(2026, 1, 29), dt.date(2026, 3, 1))  # 31 days
    kpis = previous.kpis
    assert kpis["members_total"] == 20  # the 20 old members; d0 deleted
    assert kpis["new_members"] == 0
    assert kpis["active_members"] == 10  # m0..m7, m10, m11
    assert kpis["retention_rate"] is None  # nobody bought in [12-29, 01-29)
    assert kpis["repeat_purchase_rate"] == 0.0  # 0 of 10
    assert kpis["points_earned"] == 500  # 10 x 50
    assert kpis["points_redeemed"] == 0 and kpis["points_expired"] == 0
    assert kpis["redemption_rate"] == 0.0 and kpis["breakage_rate"] == 0.0  # 0 / 500
    assert kpis["points_liability"] == Decimal("8.00")  # (500 + d0's 200 + m19's unexpired 100) x 0.01
    assert kpis["aov_members"] == Decimal("50.00")  # 500 / 10
    assert kpis["aov_non_members"] is None  # no purchase without a member: no data
    assert kpis["purchase_frequency"] == 1.0  # 10 / 10
    assert kpis["clv_historical"] == Decimal("25.00")  # 500 / 20
    assert kpis["nps"] is None  # no feedback


def test_store_a_counts_its_purchases_and_its_members(world):
    kpis = kpis_compute(**MARCH, store=world.a, previous=False).kpis

    assert kpis["members_total"] == 14  # m0..m9 + n0..n2 + f0
    assert kpis["new_members"] == 4  # n0..n2 + f0
    assert kpis["active_members"] == 6  # m0 m1 m2 m4 m5 n0 (purchases at A)
    assert kpis["retention_rate"] == pytest.approx(5 / 8)  # of m0..m7 (A in February): m0 m1 m2 m4 m5
    assert kpis["repeat_purchase_rate"] == pytest.approx(2 / 6)
    # at A: 140 + 140 + (100 - 25) + (100 - 100) + 100 + 10 + 30 = 495, + n1's bonus 50 (n1 enrolled at A)
    assert kpis["points_earned"] == 545
    assert kpis["points_redeemed"] == 100  # m4 and m0 are A members: 100 + 100 - 100
    assert kpis["points_expired"] == 0  # m19 is a B member
    assert kpis["breakage_rate"] == 0.0
    # A members' balances: February 400 + d0 200 + March 495 + 50 - 100 = 1045 x 0.01
    assert kpis["points_liability"] == Decimal("10.45")
    assert kpis["aov_members"] == Decimal("61.88")  # 495 / 8 = 61.875, half up
    assert kpis["aov_non_members"] == Decimal("27.75")  # (20 + 35.50) / 2
    assert kpis["purchase_frequency"] == pytest.approx(8 / 6)
    assert kpis["clv_historical"] == Decimal("63.93")  # (400 + 495) / 14 = 63.928...
    assert kpis["nps"] == pytest.approx(200 / 3)  # m0 10, m1 9, m2 8: (2 - 0) / 3 x 100


def test_store_b_counts_the_expiry_of_its_members_bonus(world):
    kpis = kpis_compute(**MARCH, store=world.b, previous=False).kpis

    assert kpis["points_earned"] == 220  # 60 + 80 + 80 at B
    assert kpis["points_expired"] == 100  # m19's bonus lot has no purchase: m19's store, B
    assert kpis["breakage_rate"] == pytest.approx(100 / 220)
    assert kpis["nps"] == 0.0  # m10 10, m11 3: (1 - 1) / 2


def test_a_member_who_enrolled_in_the_period_and_left_later_is_still_a_new_member_of_it(world):
    """BRIEF.md: members_total leaves deleted members out, new_members does not, so a
    past period's new members do not shrink when one of them is erased."""
    before = kpis_compute(**MARCH, clv=clv_none, previous=False).kpis
    gone = MemberFactory(enrolled_at=local(3, 15), enrollment_store=world.a)
    Member.objects.filter(pk=gone.pk).update(status=Member.Status.DELETED)
    after = kpis_compute(**MARCH, clv=clv_none, previous=False).kpis
    assert after["new_members"] == before["new_members"] + 1
    assert after["members_total"] == before["members_total"]


def test_the_period_ends_at_local_midnight(world):
    """23:30 on 03-31 in New York is 03:30 UTC on 04-01 and counts in March; 00:30 local does not."""
    last_day = kpis_compute(start=dt.date(2026, 3, 31), end=dt.date(2026, 4, 1), previous=False).kpis
    next_day = kpis_compute(start=dt.date(2026, 4, 1), end=dt.date(2026, 4, 2), previous=False).kpis

    assert last_day["active_members"] == 1 and last_day["aov_members"] == Decimal("10.00")  # m5
    assert last_day["points_earned"] == 10 and last_day["new_members"] == 1  # m5's pending 10; f0
    assert next_day["active_members"] == 1 and next_day["aov_members"] == Decimal("999.00")  # m6
    assert next_day["new_members"] == 1 and next_day["nps"] == -100.0  # f1; m3's 0


def test_the_clv_figures_come_from_the_provider_given(world):
    def provider(scope):
        return ClvSummary(clv_predicted_12m=Decimal("12.345"), churn_risk=0.25)

    kpis = kpis_compute(**MARCH, clv=provider, previous=False).kpis

    assert kpis["clv_predicted_12m"] == Decimal("12.35") and kpis["churn_risk"] == 0.25


def test_the_command_prints_briefs_json(world):
    out = io.StringIO()
    call_command("kpis", "--start", "2026-03-01", "--end", "2026-04-01", "--store", "A", "--json", stdout=out)
    data = json.loads(out.getvalue())

    assert set(data) == {"period", "currency", "kpis", "clv_model", "previous"}
    assert data["period"] == {"start": "2026-03-01", "end": "2026-04-01"}
    assert data["currency"] == "PLN"
    assert list(data["kpis"]) == list(KPI_NAMES)
    assert data["kpis"]["points_liability"] == "10.45" and data["kpis"]["aov_members"] == "61.88"
    assert data["kpis"]["members_total"] == 14
    assert Decimal(data["kpis"]["clv_predicted_12m"]) > 0 and 0 <= data["kpis"]["churn_risk"] <= 1
    assert set(data["clv_model"]) == {"bgnbd", "gamma_gamma"}
    assert data["clv_model"]["bgnbd"]["time_unit"] == "day"
    bgnbd, gamma_gamma = data["clv_model"]["bgnbd"], data["clv_model"]["gamma_gamma"]
    fitted = [*gamma_gamma.values(), *(bgnbd[name] for name in ("r", "alpha", "a", "b"))]
    assert all(isinstance(value, float) and value > 0 for value in fitted)
    assert data["previous"]["period"] == {"start": "2026-01-29", "end": "2026-03-01"}
    assert data["previous"]["kpis"]["active_members"] == 8  # m0..m7 at A in February


def test_the_command_prints_a_table_without_json(world):
    out = io.StringIO()
    call_command("kpis", "--start", "2026-03-01", "--end", "2026-04-01", stdout=out)

    lines = out.getvalue().splitlines()
    assert any(line.split()[:3] == ["points_liability", "18.65", "8.00"] for line in lines)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--start", "2026-13-01", "--end", "2026-04-01"], "--start"),
        (["--start", "2026-03-01", "--end", "april"], "--end"),
        (["--start", "2026-03-01", "--end", "2026-03-01"], "--end"),
        (["--start", "2026-03-01", "--end", "2026-04-01", "--store", "NOPE"], "--store"),
    ],
)
def test_the_command_refuses_bad_options_naming_them(world, args, option):
    with pytest.raises(CommandError, match=option):
        call_command("kpis", *args)


def test_a_period_and_its_previous_take_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    kpis_compute(**MARCH, clv=clv_none)  # the program is cached after the first read
    with django_assert_max_num_queries(16):  # 8 aggregates a period, however many members and purchases
        kpis_compute(**MARCH, clv=clv_none)
