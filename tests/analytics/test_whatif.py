"""The what-if replay: the current program replayed equals the ledger; each change
moves what it should, by amounts worked out by hand; nothing is written.

Window: ``end=2026-01-01`` gives [2025-01-01, 2026-01-01) in Europe/Warsaw.
Histories are recorded through the live services at their own time (``now=``
the event's time), as tills and the periodic jobs would have written them.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.whatif import Scenario, scenario_from_data, whatif_replay
from loyalty.models import (
    EarnRule,
    LedgerEntry,
    MemberTier,
    PointsAccount,
    PointsLot,
    Purchase,
    Refund,
    RuleUsage,
    Source,
    StampCard,
    TierChange,
)
from loyalty.services.ledger import points_adjust, points_credit, points_expire_due, points_release_due
from loyalty.services.purchases import LineInput, purchase_record, refund_record
from loyalty.services.rules import rules_cache_clear
from loyalty.services.tiers import tiers_review
from loyalty.services.tiers.table import tiers_cache_clear
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_cancel
from tests.factories import (
    EarnRuleFactory,
    MemberFactory,
    ProgramFactory,
    RewardFactory,
    StaffFactory,
    StoreFactory,
    TierFactory,
)

pytestmark = pytest.mark.django_db

WAW = zoneinfo.ZoneInfo("Europe/Warsaw")
END = dt.date(2026, 1, 1)
WINDOW_END = dt.datetime(2026, 1, 1, tzinfo=WAW)


def at(year: int, month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=WAW)


class History:
    """Records events live, each at its own time."""

    def __init__(self, store) -> None:
        self.store = store
        self.counter = 0

    def buy(self, member, when, amount, lines=()):
        self.counter += 1
        return purchase_record(
            external_id=f"p{self.counter}", store=self.store, member=member, purchased_at=when,
            amount=Decimal(amount), lines=lines, source=Source.IMPORT, now=when,
        ).purchase

    def refund(self, purchase, when, amount):
        self.counter += 1
        refund_record(external_id=f"r{self.counter}", purchase=purchase, amount=Decimal(amount),
                      refunded_at=when, source=Source.IMPORT, now=when)


@pytest.fixture(autouse=True)
def _fresh_caches():
    rules_cache_clear()
    tiers_cache_clear()
    yield
    rules_cache_clear()
    tiers_cache_clear()


def run_jobs(until: dt.datetime, since: dt.datetime) -> None:
    """The periodic jobs as beat runs them: monthly reviews (1st, 02:30 UTC), then expiry and release."""
    moment = dt.datetime(since.year, since.month, 1, 2, 30, tzinfo=dt.UTC)
    while moment < until:
        if moment > since:
            points_release_due(as_of=moment)
            points_expire_due(as_of=moment)
            tiers_review(now=moment)
        moment = dt.datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, 2, 30, tzinfo=dt.UTC)
    points_release_due(as_of=until)
    points_expire_due(as_of=until)


# -- the baseline replay equals the ledger ------------------------------------------------


class Timeline:
    """Events run in time order, the monthly tier review (1st, 02:30 UTC) between them;
    at the end the release and expiry jobs catch up (their entries are dated when due)."""

    def __init__(self) -> None:
        self.events: list[tuple[dt.datetime, int, object]] = []

    def add(self, when: dt.datetime, action) -> None:
        self.events.append((when, len(self.events), action))

    def run(self, *, since: dt.datetime, until: dt.datetime) -> None:
        reviews = []
        moment = dt.datetime(since.year, since.month, 1, 2, 30, tzinfo=dt.UTC)
        while moment < until:
            if moment > since:
                reviews.append(moment)
            moment = dt.datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, 2, 30, tzinfo=dt.UTC)
        for when, _n, action in sorted(self.events, key=lambda event: event[:2]):
            while reviews and reviews[0] < when:
                points_release_due(as_of=reviews[0])
                points_expire_due(as_of=reviews[0])
                tiers_review(now=reviews.pop(0))
            action()
        for moment in reviews:
            points_release_due(as_of=moment)
            points_expire_due(as_of=moment)
            tiers_review(now=moment)
        points_release_due(as_of=until)
        points_expire_due(as_of=until)


@pytest.fixture
def busy_history(db):
    """Rules (a category multiplier, a weekend bonus), tiers with a multiplier and a grace
    period, refunds (of a purchase made before the window, and after a redemption: a debt),
    redemptions and a returned voucher, a bonus, a manual adjustment, lots expiring in the
    window, monthly reviews that start a grace period and move a member down."""
    ProgramFactory(timezone="Europe/Warsaw", return_window_days=14, expiry_months=12, tier_grace_days=30)
    store = StoreFactory(code="WAW", timezone="Europe/Warsaw")
    TierFactory(code="silver", rank=1, threshold=Decimal("500"), multiplier=Decimal("1"))
    TierFactory(code="gold", rank=2, threshold=Decimal("1500"), multiplier=Decimal("1.5"))
    EarnRuleFactory(name="Beans x3", kind="multiplier", value=Decimal("3"), categories=["beans"], priority=5)
    EarnRuleFactory(name="Weekend +20", kind="fixed", value=Decimal("20"), weekdays=[5, 6])
    rules_cache_clear()
    tiers_cache_clear()
    reward = RewardFactory(points_cost=100)
    manager = StaffFactory()
    h = History(store)
    a, b, c, d, e, f = (MemberFactory(enrolled_at=at(2024, 5, 1)) for _ in range(6))
    t = Timeline()
    bought = {}

    def buy(key, member, when, amount, lines=()):
        t.add(when, lambda: bought.__setitem__(key, h.buy(member, when, amount, lines)))

    def refund(key, when, amount):
        t.add(when, lambda: h.refund(bought[key], when, amount))

    def redeem(member, key, when):
        t.add(when, lambda: bought.__setitem__(key, reward_redeem(
            member=member, reward=reward, idempotency_key=key, channel="portal", now=when)))

    # a: bought before the window, refunded in part inside it; beans in February; redeems
    buy("a0", a, at(2024, 11, 20), "200.00")
    refund("a0", at(2025, 1, 10), "50.00")
    buy("a1", a, at(2025, 2, 3), "80.00", [LineInput(sku="B1", category="beans", amount=Decimal("30.00"))])
    redeem(a, "ra", at(2025, 3, 1))
    # b: silver, then gold (1.5x from the next purchase); two redemptions, one returned
    for month in range(1, 11):
        buy(f"b{month}", b, at(2025, month, 14), "180.00")
    redeem(b, "rb1", at(2025, 6, 20))
    redeem(b, "rb2", at(2025, 7, 20))
    t.add(at(2025, 7, 22), lambda: voucher_cancel(voucher=bought["rb2"].voucher, actor=manager, reason="no",
                                                  now=at(2025, 7, 22)))
    # c: silver in 2024, nothing since: grace at a review, moved down at a later one; points expire
    for month in (6, 8, 10):
        buy(f"c{month}", c, at(2024, month, 5), "200.00")
    # d: a bonus, a manual adjustment, a weekend purchase redeemed then refunded (a debt), a later purchase
    t.add(at(2025, 2, 1), lambda: points_credit(member=d, points=60, kind=LedgerEntry.Kind.BONUS,
                                                idempotency_key="signup", now=at(2025, 2, 1)))
    t.add(at(2025, 2, 2), lambda: points_adjust(member=d, points=40, reason="goodwill", actor=manager,
                                                idempotency_key="adj", now=at(2025, 2, 2)))
    buy("d1", d, at(2025, 4, 5), "120.00")  # a Saturday: +20
    redeem(d, "rd", at(2025, 5, 1))
    refund("d1", at(2025, 5, 2), "120.00")
    buy("d2", d, at(2025, 9, 9), "300.00")
    # e: beans on a Saturday, refunded in part
    buy("e1", e, at(2025, 8, 16), "100.00", [LineInput(sku="B2", category="beans", amount=Decimal("40.00"))])
    refund("e1", at(2025, 8, 20), "30.00")
    # f: a purchase days before the end: still pending then
    buy("f1", f, at(2025, 12, 28), "45.00")
    t.run(since=at(2024, 5, 1), until=WINDOW_END)
    return {"members": (a, b, c, d, e, f)}


def test_baseline_replay_equals_the_ledger(busy_history):
    result = whatif_replay(Scenario(earn_rate=Decimal("2")), end=END)
    actual, ledger = result.actual, result.ledger
    assert (actual.points_earned, actual.points_redeemed, actual.points_expired, actual.points_outstanding) == (
        ledger.points_earned, ledger.points_redeemed, ledger.points_expired, ledger.points_outstanding,
    )
    assert actual.liability == ledger.liability
    assert actual.breakage_rate == ledger.breakage_rate
    assert actual.tier_mix == ledger.tier_mix
    # The history did what it was built to do (so the equality above means something).
    assert ledger.points_expired > 0 and ledger.points_redeemed > 0
    assert ledger.tier_mix["gold"] == 1 and ledger.tier_mix.get("silver", 0) == 0
    assert TierChange.objects.filter(reason=TierChange.Reason.REVIEW).exists()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE).exists()
    assert result.purchases == 15 and result.refunds == 3

