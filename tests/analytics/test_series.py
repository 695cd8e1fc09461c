"""The dashboard's series on a hand-built program, each figure worked out by hand.

The program runs in Europe/Warsaw (UTC+1 until 02:00 on Sunday 29 March 2026,
UTC+2 after), earns 1 point per 1.00, a point is worth 0.01, points are
pending 7 days and expire after 12 months. The period is the 14 days
[2026-03-23, 2026-04-06) local: day buckets, indexes 0 (03-23) to 13 (04-05);
bucket 6, 29 March, lasts 23 hours.

Stores A and B. Members: a1, a2, a3 (A) and b1 (B) enrolled 2025-01-10;
gone (A, deleted); mid (B) 2026-03-25; n1 (A) 03-29 01:00 (CET);
n2 (B) 03-30 00:30 (CEST, 03-29 22:30 UTC); late (A) 04-06 00:30 (after it).

  before: a1 200.00 at A on 2025-03-25 (lot expires 2026-03-25 12:00 local),
          b1 300.00 at B on 2026-01-15                     -> 500 points held at 03-23
  b0 03-23  a1 100.00 at A                                  earn +100 (pending)
  b1 03-24  no member 20.00 (A), 15.50 (B); b1 40.00 at B   earn +40 (B)
  b2 03-25  mid 45.00 at B; a3 +500 adjusted (not earned);  earn +45, expire -200 (a1's lot, A)
            a1's 2025 lot expires
  b3 03-26  b1's 40.00 refunded in full                     reversal -40 (B); purchase counts nowhere
  b4 03-27  b1 redeems 100                                   redeem 100
  b5 03-28  b1's voucher cancelled                           returned 100 (redeemed -100)
  b6 03-29  a2 50.00 at 00:30 CET (03-28 23:30 UTC), n1's    earn +50 +30, bonus +50
            sign-up bonus 50, a2 30.00 at 23:30 CEST
  b7 03-30  a3 80.00 at 00:30 CEST (03-29 22:30 UTC)         earn +80
  b8 03-31  b1 redeems 100                                   redeem 100
  b9 04-01  no member 12.00 at A, refunded in full           nothing
  b10 04-02 a3 refunded 20.00 (80.00 -> 60.00)               reversal -20 (A)
  b11 04-03 a1 redeems 100                                   redeem 100
  b13 04-05 n1 25.00 at A at 23:30 (pending at the end)      earn +25
  after:    n2 10.00 at B on 2026-05-01 00:30 CEST (04-30 22:30 UTC)
Feedback: a1 10 "Great coffee" (03-24), a2 9 (03-29 00:30 CET), a3 6 "Slow till"
(03-29 23:30), b1 3 "Lost my points" (03-30 00:30 CEST), n1 8 "ok" (04-05),
a1 0 "outside" (04-06 00:30, after the period).
Tiers: Gold (rank 2) a1 and gone; Silver (rank 1) a2, b1, late; a3 holds a
MemberTier without a tier; an archived Bronze nobody holds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.kpis import clv_none, kpi_scope, kpis_compute
from analytics.models import MemberScore, ScoreRun
from analytics.selectors.series import (
    DASHBOARD_QUERIES,
    Series,
    bucketing,
    dashboard_series,
    liability_ageing,
    liability_series,
    members_series,
    nps_series,
    points_series,
    purchases_series,
    recent_comments,
    rfm_series,
    tier_distribution,
)
from loyalty.models import LedgerEntry, MemberTier, Program, Source
from loyalty.services.ledger import points_adjust, points_credit, points_expire_due, points_release_due
from loyalty.services.program import program_cache_clear, program_get
from loyalty.services.purchases import purchase_record, refund_record
from members.models import Feedback, Member
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_cancel
from tests.factories import MemberFactory, ProgramFactory, RewardFactory, StaffFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

WAW = zoneinfo.ZoneInfo("Europe/Warsaw")
PERIOD = {"start": dt.date(2026, 3, 23), "end": dt.date(2026, 4, 6)}
DAYS = [(dt.date(2026, 3, 23) + dt.timedelta(days=i)).isoformat() for i in range(14)]


def local(month: int, day: int, hour: int = 12, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=WAW)


def length(bucket) -> dt.timedelta:
    """Elapsed time (Python subtracts datetimes of one zone by the wall clock)."""
    return bucket.end.astimezone(dt.UTC) - bucket.start.astimezone(dt.UTC)


def values(series: Series, name: str) -> list:
    return next(dataset.values for dataset in series.datasets if dataset.name == name)


def at(*pairs: tuple[int, object], default: object = 0) -> list:
    """A 14-day list: ``default`` except at the given bucket indexes."""
    result = [default] * 14
    for index, value in pairs:
        result[index] = value
    return result


class World:
    def __init__(self) -> None:
        self.counter = 0

    def buy(self, member, store, when, amount):
        self.counter += 1
        return purchase_record(
            external_id=f"p{self.counter}", store=store, member=member, purchased_at=when,
            amount=Decimal(amount), source=Source.IMPORT,
        ).purchase

    def refund(self, purchase, when, amount):
        self.counter += 1
        refund_record(
            external_id=f"r{self.counter}", purchase=purchase, amount=Decimal(amount),
            refunded_at=when, source=Source.IMPORT,
        )

    def scope(self, *, start=PERIOD["start"], end=PERIOD["end"], store=None):
        return kpi_scope(start=start, end=end, store=store, program=program_get())


@pytest.fixture
def world(db):
    ProgramFactory(timezone="Europe/Warsaw", return_window_days=7, expiry_months=12)
    w = World()
    a, b = StoreFactory(code="A"), StoreFactory(code="B")
    w.a, w.b = a, b
    old = local(1, 10, year=2025)
    a1, a2, a3 = (MemberFactory(enrolled_at=old, enrollment_store=a, first_name=name) for name in ("Ala", "Ola", "Ela"))
    b1 = MemberFactory(enrolled_at=old, enrollment_store=b, first_name="Bea")
    gone = MemberFactory(enrolled_at=old, enrollment_store=a)
    mid = MemberFactory(enrolled_at=local(3, 25), enrollment_store=b)
    n1 = MemberFactory(enrolled_at=local(3, 29, 1), enrollment_store=a, first_name="Nina")
    n2 = MemberFactory(enrolled_at=local(3, 30, 0, 30), enrollment_store=b)
    late = MemberFactory(enrolled_at=local(4, 6, 0, 30), enrollment_store=a)
    manager = StaffFactory()
    reward = RewardFactory(points_cost=100)

    w.buy(a1, a, local(3, 25, year=2025), "200.00")
    w.buy(b1, b, local(1, 15), "300.00")
    w.buy(a1, a, local(3, 23, 10), "100.00")
    w.buy(None, a, local(3, 24), "20.00")
    w.buy(None, b, local(3, 24, 13), "15.50")
    refunded = w.buy(b1, b, local(3, 24, 14), "40.00")
    points_adjust(member=a3, points=500, reason="goodwill", actor=manager, idempotency_key="adj", now=local(3, 25, 10))
    w.buy(mid, b, local(3, 25, 15), "45.00")
    w.refund(refunded, local(3, 26), "40.00")
    cancelled = reward_redeem(member=b1, reward=reward, idempotency_key="b1-1", channel="portal", now=local(3, 27))
    voucher_cancel(voucher=cancelled.voucher, actor=manager, reason="changed mind", now=local(3, 28))
    w.buy(a2, a, local(3, 29, 0, 30), "50.00")
    points_credit(member=n1, points=50, kind=LedgerEntry.Kind.BONUS, idempotency_key="signup", now=local(3, 29, 1))
    w.buy(a2, a, local(3, 29, 23, 30), "30.00")
    partly = w.buy(a3, a, local(3, 30, 0, 30), "80.00")
    reward_redeem(member=b1, reward=reward, idempotency_key="b1-2", channel="portal", now=local(3, 31))
    w.refund(w.buy(None, a, local(4, 1), "12.00"), local(4, 1, 13), "12.00")
    w.refund(partly, local(4, 2), "20.00")
    reward_redeem(member=a1, reward=reward, idempotency_key="a1-1", channel="portal", now=local(4, 3))
    w.buy(n1, a, local(4, 5, 23, 30), "25.00")
    w.buy(n2, b, local(5, 1, 0, 30), "10.00")
    points_release_due()
    points_expire_due()

    for member, score, comment, when in (
        (a1, 10, "Great coffee", local(3, 24)),
        (a2, 9, "", local(3, 29, 0, 30)),
        (a3, 6, "Slow till", local(3, 29, 23, 30)),
        (b1, 3, "Lost my points", local(3, 30, 0, 30)),
        (n1, 8, "ok", local(4, 5)),
        (a1, 0, "outside", local(4, 6, 0, 30)),
    ):
        Feedback.objects.create(member=member, score=score, comment=comment, created_at=when)

    silver, gold = TierFactory(code="silver", rank=1), TierFactory(code="gold", rank=2)
    TierFactory(code="bronze", rank=3, archived=True)
    for member, tier in ((a1, gold), (gone, gold), (a2, silver), (b1, silver), (late, silver), (a3, None)):
        MemberTier.objects.update_or_create(member=member, defaults={"tier": tier})
    Member.objects.filter(pk=gone.pk).update(status=Member.Status.DELETED)
    w.members = {"a1": a1, "n1": n1}
    return w


# -- buckets ------------------------------------------------------------------------


def test_up_to_31_days_the_buckets_are_days_and_the_dst_day_lasts_23_hours(world):
    buckets = bucketing(world.scope())

    assert [bucket.label for bucket in buckets] == DAYS
    assert buckets[0].start == local(3, 23, 0) and buckets[-1].end == local(4, 6, 0)
    assert length(buckets[6]) == dt.timedelta(hours=23)  # 29 March: 02:00 -> 03:00
    assert all(earlier.end == later.start for earlier, later in itertools.pairwise(buckets))
    assert len(bucketing(world.scope(start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 1)))) == 31


def test_from_32_days_the_buckets_are_iso_weeks_clipped_to_the_period(world):
    buckets = bucketing(world.scope(start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 2)))  # 32 days, from a Sunday

    assert [bucket.label for bucket in buckets] == [
        "2026-03-01", "2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30",
    ]
    assert buckets[0].end == local(3, 2, 0)  # the Sunday alone
    assert length(buckets[4]) == dt.timedelta(days=7, hours=-1)  # the week of the spring change
    assert buckets[-1].start == local(3, 30, 0) and buckets[-1].end == local(4, 2, 0)
    autumn = bucketing(world.scope(start=dt.date(2026, 10, 19), end=dt.date(2026, 11, 30)))
    assert length(autumn[0]) == dt.timedelta(days=7, hours=1)  # 25 October: 03:00 -> 02:00


def test_beyond_26_weeks_the_buckets_are_months(world):
    weeks = bucketing(world.scope(start=dt.date(2026, 1, 1), end=dt.date(2026, 7, 2)))  # 182 days: still weeks
    assert [bucket.label for bucket in weeks] == ["2026-01-01"] + [
        (dt.date(2026, 1, 5) + dt.timedelta(weeks=i)).isoformat() for i in range(26)
    ]
    buckets = bucketing(world.scope(start=dt.date(2026, 1, 15), end=dt.date(2026, 7, 17)))  # 183 days
    assert [bucket.label for bucket in buckets] == [
        "2026-01-15", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01", "2026-07-01",
    ]
    assert buckets[0].end == local(2, 1, 0) and buckets[-1].end == local(7, 17, 0)
    year_end = bucketing(world.scope(start=dt.date(2025, 11, 1), end=dt.date(2026, 6, 1)))
    assert [bucket.label for bucket in year_end][1:3] == ["2025-12-01", "2026-01-01"]


# -- each chart ---------------------------------------------------------------------


def test_members_at_each_days_end_new_and_active(world):
    series = members_series(world.scope())

    assert series.labels == DAYS and series.extra["unit"] == "day"
    # a1 a2 a3 b1 before the period (gone is deleted); mid on 03-25, n1 at 01:00 on 03-29, n2 at 00:30
    # CEST on 03-30 (22:30 UTC on 03-29); late after the end
    assert values(series, "Members") == [4, 4, 5, 5, 5, 5, 6, 7, 7, 7, 7, 7, 7, 7]
    assert values(series, "New members") == at((2, 1), (6, 1), (7, 1))
    # a1 (03-23), mid (03-25), a2 (twice on 03-29), a3 (03-30 00:30 CEST), n1 (04-05 23:30); b1's refunded in full
    assert values(series, "Active members") == at((0, 1), (2, 1), (6, 1), (7, 1), (13, 1))


def test_purchases_and_aov_by_day_for_members_and_non_members(world):
    series = purchases_series(world.scope())

    assert values(series, "Purchases by members") == at((0, 1), (2, 1), (6, 2), (7, 1), (13, 1))
    assert values(series, "Purchases without a member") == at((1, 2))  # 04-01's 12.00 refunded in full
    assert values(series, "AOV, members") == at(
        (0, Decimal("100.00")), (2, Decimal("45.00")), (6, Decimal("40.00")),  # (50 + 30) / 2
        (7, Decimal("60.00")), (13, Decimal("25.00")), default=None,  # a3's 80.00 less 20.00 refunded
    )
    assert values(series, "AOV, non-members") == at((1, Decimal("17.75")), default=None)  # (20 + 15.50) / 2
    assert [dataset.kind for dataset in series.datasets] == ["count", "count", "money", "money"]


def test_points_earned_redeemed_and_expired_by_day(world):
    series = points_series(world.scope())

    # earns counted at the purchase (pending), less reversals on the refund's day; the +500 adjustment out
    assert values(series, "Earned") == at((0, 100), (1, 40), (2, 45), (3, -40), (6, 130), (7, 80), (10, -20), (13, 25))
    # b1's voucher returned on 03-28 nets a day without a redemption below zero
    assert values(series, "Redeemed") == at((4, 100), (5, -100), (8, 100), (11, 100))
    assert values(series, "Expired") == at((2, 200))  # a1's 2025 lot at 12:00 on 03-25


def test_liability_at_each_days_end_is_a_running_total_from_the_opening_balance(world):
    series = liability_series(world.scope(), program_get())

    # 500 held at 03-23 00:00; then +100, +40, +45 +500 -200, -40, -100, +100, +130, +80 (releases net 0),
    # -100, 0, -20, -100, 0, +25
    held = [600, 640, 985, 945, 845, 945, 1075, 1155, 1055, 1055, 1035, 935, 935, 960]
    assert values(series, "Points held") == held
    assert values(series, "Liability") == [Decimal(points) / 100 for points in held]


def test_liability_ageing_shows_the_lots_now_by_local_expiry_month(world):
    series = liability_ageing(world.scope(), program_get())

    # a2 50 + 30, a3 500 + 60 (80 less 20), n1 50 bonus, b1 100 returned, mid 45 expire in March 2027;
    # b1's January lot (300 - 100 - 100 = 100) in January; n1's 25 in April; n2's 10, bought after the
    # period at 00:30 on 1 May (22:30 UTC on 30 April), in May: 970 = 960 held at the end + n2's 10
    assert series.labels == ["2027-01-01", "2027-03-01", "2027-04-01", "2027-05-01"]
    assert values(series, "Points held") == [100, 835, 25, 10]
    assert values(series, "Liability") == [Decimal("1.00"), Decimal("8.35"), Decimal("0.25"), Decimal("0.10")]
    assert series.title == "Points held now by expiry month" and series.extra["at_end"] is False


def test_liability_ageing_of_a_period_ending_later_is_the_liability_at_its_end_never_expiring_apart(world):
    Program.objects.update(expiry_months=None)
    program_cache_clear()
    points_credit(member=world.members["n1"], points=7, kind=LedgerEntry.Kind.BONUS, idempotency_key="forever")
    today = timezone.localdate(timezone=WAW)
    scope = world.scope(start=today, end=today + dt.timedelta(days=1))

    series = liability_ageing(scope, program_get())

    assert series.labels[-1] == "Never expires" and values(series, "Points held")[-1] == 7
    assert series.extra["at_end"] is True and series.title == "Points held by expiry month"
    liability = kpis_compute(start=scope.start, end=scope.end, previous=False, clv=clv_none).kpis["points_liability"]
    assert sum(values(series, "Liability")) == liability == Decimal("9.77")  # 960 + 10 + 7


def test_tiers_count_the_periods_members_on_their_current_tier(world):
    series = tier_distribution(world.scope())

    # best first; gone is deleted, late enrolled after the end; a3 (no tier), mid, n1, n2 (no row) have none;
    # the archived Bronze that nobody holds is left out
    assert series.labels == ["Gold", "Silver", "No tier"]
    assert values(series, "Members") == [1, 2, 4]
    assert series.chart == "doughnut"


def test_nps_by_day_with_the_number_of_answers(world):
    series = nps_series(world.scope())

    assert values(series, "Answers") == at((1, 1), (6, 2), (7, 1), (13, 1))
    # 03-24: a1's 10; 03-29: a2's 9 (00:30 CET) and a3's 6; 03-30: b1's 3 (00:30 CEST); 04-05: n1's 8
    assert values(series, "NPS") == at((1, 100.0), (6, 0.0), (7, -100.0), (13, 0.0), default=None)


def test_recent_comments_newest_first_with_the_first_name_only(world):
    series = recent_comments(world.scope())

    assert series.labels == ["2026-04-05", "2026-03-30", "2026-03-29", "2026-03-24"]  # local dates
    assert values(series, "Score") == [8, 3, 6, 10]
    assert values(series, "Comment") == ["ok", "Lost my points", "Slow till", "Great coffee"]
    assert values(series, "First name") == ["Nina", "Bea", "Ela", "Ala"]
    assert series.header() == ["Date", "Score", "Comment", "First name"]
    assert recent_comments(world.scope(), limit=2).labels == ["2026-04-05", "2026-03-30"]


def test_weeks_use_the_local_week_of_each_instant(world):
    """From Wednesday 25 March, 41 days: a2's purchases of Sunday 29 March truncate to Monday
    23 March, before the period, and belong to the clipped first week; a3's at 00:30 CEST on
    Monday 30 March (22:30 UTC on Sunday) to the second."""
    series = purchases_series(world.scope(start=dt.date(2026, 3, 25), end=dt.date(2026, 5, 5)))

    assert series.labels == ["2026-03-25", "2026-03-30", "2026-04-06", "2026-04-13", "2026-04-20", "2026-04-27",
                             "2026-05-04"]
    assert series.label_header == "Week starting"
    assert values(series, "Purchases by members") == [3, 2, 0, 0, 0, 1, 0]  # mid, a2 x2; a3, n1; n2


# -- store filter ---------------------------------------------------------------------


def test_store_a_counts_its_members_purchases_and_ledger(world):
    scope = world.scope(store=world.a)

    assert values(members_series(scope), "Members") == [3] * 6 + [4] * 8  # a1 a2 a3, then n1
    purchases = purchases_series(scope)
    assert values(purchases, "Purchases by members") == at((0, 1), (6, 2), (7, 1), (13, 1))  # not mid's at B
    assert values(purchases, "Purchases without a member") == at((1, 1))  # 20.00 at A
    points = points_series(scope)
    # n1's bonus has no purchase: n1's store, A; a1's expired lot is of a purchase at A
    assert values(points, "Earned") == at((0, 100), (6, 130), (7, 80), (10, -20), (13, 25))
    assert values(points, "Redeemed") == at((11, 100))
    assert values(points, "Expired") == at((2, 200))
    assert values(liability_series(scope, program_get()), "Points held")[-1] == 715  # 200 + 100 + 300 + 130 ...
    assert values(tier_distribution(scope), "Members") == [1, 1, 2]  # a1 Gold; a2 Silver; a3, n1
    assert values(nps_series(scope), "NPS") == at((1, 100.0), (6, 0.0), (13, 0.0), default=None)


def test_store_b_ageing_holds_its_members_lots(world):
    series = liability_ageing(world.scope(store=world.b), program_get())

    assert values(series, "Points held") == [100, 145, 10]  # b1's January lot; b1's 100 + mid's 45; n2
    assert series.labels == ["2027-01-01", "2027-03-01", "2027-05-01"]


# -- consistency with the KPIs ----------------------------------------------------------


@pytest.mark.parametrize("store_code", [None, "A", "B"])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.date(2026, 3, 23), dt.date(2026, 4, 6)),  # days
        (dt.date(2026, 3, 25), dt.date(2026, 5, 5)),  # weeks, the first clipped
        (dt.date(2025, 1, 1), dt.date(2026, 12, 1)),  # months
    ],
)
def test_the_buckets_add_up_to_the_periods_kpis(world, start, end, store_code):
    store = {None: None, "A": world.a, "B": world.b}[store_code]
    scope = world.scope(start=start, end=end, store=store)
    kpis = kpis_compute(start=start, end=end, store=store, previous=False, clv=clv_none).kpis
    series = dashboard_series(scope, program_get())

    points = series["points"]
    assert sum(values(points, "Earned")) == kpis["points_earned"]
    assert sum(values(points, "Redeemed")) == kpis["points_redeemed"]
    assert sum(values(points, "Expired")) == kpis["points_expired"]
    members = series["members"]
    assert values(members, "Members")[-1] == kpis["members_total"]
    assert sum(values(members, "New members")) == kpis["new_members"]
    member_purchases = sum(values(series["purchases"], "Purchases by members"))
    assert member_purchases == round((kpis["purchase_frequency"] or 0) * kpis["active_members"])
    assert values(series["liability"], "Liability")[-1] == kpis["points_liability"]
    assert sum(values(series["tiers"], "Members")) == kpis["members_total"]
    nps, answers = values(series["nps"], "NPS"), values(series["nps"], "Answers")
    net = sum(score * count / 100 for score, count in zip(nps, answers, strict=True) if count)
    assert (100 * net / sum(answers) if sum(answers) else None) == pytest.approx(kpis["nps"])


# -- the RFM grid ------------------------------------------------------------------------


def test_the_rfm_grid_counts_members_per_r_and_f_score_of_the_last_run(world):
    run = ScoreRun.objects.create(as_of=local(4, 1, 0), status=ScoreRun.Status.DONE)
    a1, n1 = world.members["a1"], world.members["n1"]
    b1 = Member.objects.get(first_name="Bea")
    gone = Member.objects.get(status=Member.Status.DELETED)
    scored = ((a1, 5, 5, "champions"), (n1, 5, 1, "new"), (b1, 1, 1, "lost"), (gone, 5, 5, "champions"))
    for member, r, f, group in scored:
        MemberScore.objects.create(member=member, run=run, r_score=r, f_score=f, m_score=f, rfm_group=group)

    series = rfm_series(world.scope())

    assert series.labels == ["5", "4", "3", "2", "1"] and series.chart == "grid"
    assert [dataset.name for dataset in series.datasets] == [f"Frequency {f}" for f in range(1, 6)]
    assert series.rows()[0] == ["5", 1, 0, 0, 0, 1]  # n1 (R5 F1), a1 (R5 F5); gone is deleted
    assert series.rows()[4] == ["1", 1, 0, 0, 0, 0]  # b1
    groups = dict(series.extra["groups"])
    assert groups["Champions"] == 1 and groups["New"] == 1 and groups["Lost"] == 1 and groups["Loyal"] == 0
    assert series.extra["scored"] == 3 and series.extra["as_of"] == local(4, 1, 0).isoformat()
    assert rfm_series(world.scope(store=world.b)).extra["scored"] == 1  # b1


# -- the dashboard ----------------------------------------------------------------------


def test_the_dashboard_gives_every_chart_in_page_order(world):
    series = dashboard_series(world.scope(), program_get())

    assert list(series) == [
        "members", "purchases", "points", "liability", "liability-ageing", "tiers", "rfm", "nps", "comments",
    ]
    assert series["members"] == members_series(world.scope())
    assert series["liability"] == liability_series(world.scope(), program_get())
    assert series["rfm"].extra["as_of"] is None  # no scoring run yet: an empty grid


@pytest.mark.parametrize(
    ("start", "end"), [(dt.date(2026, 3, 23), dt.date(2026, 3, 24)), (dt.date(2024, 1, 1), dt.date(2026, 12, 1))]
)
def test_the_dashboard_takes_a_fixed_number_of_queries(world, start, end, django_assert_num_queries):
    """Members 1, purchases 1 (shared with the active members), the period's ledger 1 (points
    and the liability's changes), the opening liability 1, ageing 1, tiers 2, RFM grid 3, NPS 1,
    comments 1: 12, however many buckets (1 day or 35 months) and however many members."""
    program = program_get()
    MemberFactory.create_batch(5, enrollment_store=world.a, enrolled_at=local(3, 24))
    with django_assert_num_queries(12):
        dashboard_series(world.scope(start=start, end=end, store=world.a), program)
    assert DASHBOARD_QUERIES == 12
