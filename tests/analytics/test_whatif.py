"""The what-if replay: the current program replayed equals the ledger; each change
moves what it should, by amounts worked out by hand; nothing is written.

Window: ``end=2026-01-01`` gives [2025-01-01, 2026-01-01) in Europe/Warsaw.
Histories are recorded through the live services at their own time (``now=``
the event's time), as tills and the periodic jobs would have written them.
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.whatif import Scenario, scenario_from_data, whatif_replay
from loyalty.models import (
    ActionBonus,
    EarnRule,
    LedgerEntry,
    MemberTier,
    PointsAccount,
    PointsLot,
    Program,
    Purchase,
    Refund,
    RuleUsage,
    Source,
    StampCard,
    TierChange,
)
from loyalty.services.bonuses.grants import action_bonuses_cache_clear, bonus_grant
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



def test_baseline_replay_reads_in_batches_and_gives_the_same(busy_history):
    one = whatif_replay(Scenario(expiry_months=6), end=END).as_data()
    small = whatif_replay(Scenario(expiry_months=6), end=END, batch_members=2).as_data()
    for data in (one, small):
        data.pop("seconds")
    assert one == small


# -- hand-worked changes ------------------------------------------------------------------


@pytest.fixture
def plain(db):
    """1 point per 1.00, a point worth 0.01, available at once, lots expire after 24 months."""
    ProgramFactory(timezone="Europe/Warsaw", return_window_days=0, expiry_months=24)
    return History(StoreFactory(code="WAW", timezone="Europe/Warsaw"))


def test_doubling_the_earn_rate_doubles_the_base_points(plain):
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    for when, amount in ((at(2025, 3, 3), "10.00"), (at(2025, 6, 3), "25.00"), (at(2025, 9, 3), "40.00")):
        plain.buy(member, when, amount)
    result = whatif_replay(Scenario(earn_rate=Decimal("2")), end=END)
    # 10 + 25 + 40 = 75 at 1 point per 1.00; 20 + 50 + 80 = 150 at 2.
    assert (result.actual.points_base, result.scenario.points_base) == (75, 150)
    assert (result.actual.points_earned, result.scenario.points_earned) == (75, 150)
    # Nothing redeemed or expired: the liability doubles too, 0.75 -> 1.50.
    assert (result.actual.liability, result.scenario.liability) == (Decimal("0.75"), Decimal("1.50"))
    assert result.purchases_changed == 3


def test_the_earn_rate_rounds_down_per_purchase(plain):
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    plain.buy(member, at(2025, 3, 3), "10.50")
    result = whatif_replay(Scenario(earn_rate=Decimal("1.5")), end=END)
    # floor(10.50 x 1) = 10; floor(10.50 x 1.5) = floor(15.75) = 15.
    assert (result.actual.points_base, result.scenario.points_base) == (10, 15)


def test_a_shorter_expiry_raises_breakage(plain):
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    plain.buy(member, at(2025, 2, 10), "100.00")
    plain.buy(member, at(2025, 10, 10), "50.00")
    result = whatif_replay(Scenario(expiry_months=6), end=END)
    # 24 months: nothing expires in 2025; earned 150, breakage 0, 150 points outstanding.
    assert (result.actual.points_expired, result.actual.breakage_rate) == (0, 0.0)
    # 6 months: the February lot (100) expires on 2025-08-10, the October one on 2026-04-10 (after).
    assert result.scenario.points_expired == 100
    assert result.scenario.breakage_rate == pytest.approx(100 / 150)
    assert result.scenario.points_outstanding == 50
    assert result.scenario.liability == Decimal("0.50")
    # Earning is the same: the change is only when points expire.
    assert result.purchases_changed == 0


def test_a_shorter_expiry_takes_redemptions_from_the_oldest_lots_first(plain):
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    reward = RewardFactory(points_cost=60)
    plain.buy(member, at(2025, 2, 10), "100.00")
    reward_redeem(member=member, reward=reward, idempotency_key="r", channel="portal", now=at(2025, 3, 1))
    result = whatif_replay(Scenario(expiry_months=6), end=END)
    # The redemption took 60 of the February lot: 40 are left to expire in August.
    assert (result.scenario.points_redeemed, result.scenario.points_expired) == (60, 40)
    assert result.scenario.breakage_rate == pytest.approx(40 / 100)


def test_redemptions_are_capped_by_the_replayed_balance(plain):
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    reward = RewardFactory(points_cost=100)
    plain.buy(member, at(2025, 2, 10), "150.00")
    reward_redeem(member=member, reward=reward, idempotency_key="r", channel="portal", now=at(2025, 3, 1))
    result = whatif_replay(Scenario(earn_rate=Decimal("0.5")), end=END)
    # At 0.5 the purchase gives 75: the 100-point redemption can take only 75.
    assert (result.actual.points_redeemed, result.scenario.points_redeemed) == (100, 75)
    assert (result.actual.points_outstanding, result.scenario.points_outstanding) == (50, 0)


def test_changing_a_rule_changes_only_the_purchases_it_matches(plain):
    rule = EarnRuleFactory(name="Beans x3", kind="multiplier", value=Decimal("3"), categories=["beans"])
    rules_cache_clear()
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    beans = [LineInput(sku="B1", category="beans", amount=Decimal("20.00")),
             LineInput(sku="C1", category="cups", amount=Decimal("30.00"))]
    plain.buy(member, at(2025, 4, 1), "50.00", beans)
    plain.buy(member, at(2025, 4, 2), "30.00", [LineInput(sku="C1", category="cups", amount=Decimal("30.00"))])
    result = whatif_replay(
        scenario_from_data({"rule": {"action": "change", "id": rule.pk, "fields": {"value": "4"}}}), end=END
    )
    # Beans purchase: base 50 + floor(20 x 1) x (3 - 1) = 40 -> 90; with x4: 20 x 3 = 60 -> 110.
    # The cups purchase: base 30 either way.
    assert (result.actual.points_rules, result.scenario.points_rules) == (40, 60)
    assert (result.actual.points_earned, result.scenario.points_earned) == (120, 140)
    assert result.purchases_changed == 1
    rule.refresh_from_db()
    assert rule.value == Decimal("3")  # the rule itself is untouched


def test_removing_and_adding_rules(plain):
    rule = EarnRuleFactory(name="Every purchase +10", kind="fixed", value=Decimal("10"))
    rules_cache_clear()
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    plain.buy(member, at(2025, 4, 1), "50.00")
    plain.buy(member, at(2025, 4, 5), "30.00")  # a Saturday
    removed = whatif_replay(scenario_from_data({"rule": {"action": "remove", "id": rule.pk}}), end=END)
    assert (removed.actual.points_earned, removed.scenario.points_earned) == (100, 80)
    added = whatif_replay(scenario_from_data({"rule": {"action": "add", "fields": {
        "name": "Weekend x2", "kind": "multiplier", "value": "2", "weekdays": [5, 6]}}}), end=END)
    # Only the Saturday purchase doubles its base: +30.
    assert (added.actual.points_earned, added.scenario.points_earned) == (100, 130)
    assert added.purchases_changed == 1
    assert EarnRule.objects.count() == 1


def test_a_lower_tier_threshold_moves_the_tier_mix(plain):
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("500"), multiplier=Decimal("2"))
    tiers_cache_clear()
    low, high = MemberFactory(enrolled_at=at(2024, 1, 1)), MemberFactory(enrolled_at=at(2024, 1, 1))
    MemberFactory(enrolled_at=at(2024, 1, 1))  # bought nothing: no tier either way
    plain.buy(low, at(2025, 3, 1), "300.00")
    plain.buy(low, at(2025, 4, 1), "100.00")
    plain.buy(high, at(2025, 3, 1), "600.00")
    result = whatif_replay(scenario_from_data({"tier_thresholds": {str(silver.pk): "250"}}), end=END)
    assert result.ledger.tier_mix == {"silver": 1, "": 2}
    assert result.actual.tier_mix == {"silver": 1, "": 2}
    assert result.scenario.tier_mix == {"silver": 2, "": 1}
    # At 250, low is silver after the 300.00 purchase, so the 100.00 one earns 100 + 100 (x2).
    assert (result.actual.points_tier, result.scenario.points_tier) == (0, 100)


def test_a_bonus_that_reaches_a_points_tier_moves_the_member_up_at_once(plain):
    """A bonus counts towards a points tier and upgrades at once (``bonus_grant``), as a purchase does."""
    Program.objects.filter(pk=1).update(tier_metric="points")
    TierFactory(code="silver", rank=1, threshold=Decimal("100"), multiplier=Decimal("2"))
    ActionBonus.objects.create(kind=ActionBonus.Kind.SIGNUP, points=30)
    tiers_cache_clear()
    action_bonuses_cache_clear()
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    plain.buy(member, at(2025, 3, 2), "80.00")  # 80 points
    bonus_grant(member=member, kind=ActionBonus.Kind.SIGNUP, occasion="x", now=at(2025, 3, 5))  # 110: silver
    plain.buy(member, at(2025, 3, 10), "50.00")  # silver: 50 x 2
    assert TierChange.objects.filter(member=member, reason=TierChange.Reason.QUALIFIED).count() == 1
    result = whatif_replay(Scenario(point_value=Decimal("0.02")), end=END)
    assert result.ledger.points_earned == 80 + 30 + 100
    assert result.actual.points_earned == result.ledger.points_earned
    assert result.actual.points_tier == 50


def test_raised_thresholds_move_members_down_at_reviews_that_moved_nobody_really(plain):
    """The review runs every month (the beat schedule), also when it really changed nobody's tier."""
    Program.objects.filter(pk=1).update(tier_grace_days=0)
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("500"))
    tiers_cache_clear()
    member = MemberFactory(enrolled_at=at(2024, 1, 1))
    plain.buy(member, at(2024, 12, 10), "600.00")  # silver before the window
    plain.buy(member, at(2025, 6, 10), "300.00")  # 900 over 12 months: still silver at every review
    run_jobs(until=WINDOW_END, since=at(2024, 12, 1))
    assert not TierChange.objects.filter(reason__in=[TierChange.Reason.GRACE, TierChange.Reason.REVIEW]).exists()
    result = whatif_replay(scenario_from_data({"tier_thresholds": {str(silver.pk): "1000"}}), end=END)
    assert result.ledger.tier_mix == result.actual.tier_mix == {"silver": 1, "": 0}
    # At 1000 the review of 2025-01-01 finds 600 (no grace days): moved down; 900 never reaches it again.
    assert result.scenario.tier_mix == {"": 1}


# -- nothing is written ------------------------------------------------------------------


def _state():
    return {
        model.__name__: list(model.objects.order_by("pk").values_list())
        for model in (LedgerEntry, PointsLot, PointsAccount, Purchase, Refund, TierChange, MemberTier, StampCard,
                      RuleUsage, EarnRule)
    }


def test_a_replay_writes_nothing(busy_history):
    rule = EarnRule.objects.get(name="Beans x3")
    scenario = scenario_from_data({
        "earn_rate": "1.5", "expiry_months": 3, "tier_thresholds": {},
        "rule": {"action": "change", "id": rule.pk, "fields": {"value": "5", "member_cap": "30"}},
    })
    before = _state()
    with CaptureQueriesContext(connection) as queries:
        whatif_replay(scenario, end=END)
    assert _state() == before
    writes = [q["sql"] for q in queries.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []


# -- bad input names the field ------------------------------------------------------------


@pytest.mark.parametrize(("data", "key", "label"), [
    ({"earn_rate": "abc"}, "earn_rate", "Earn rate"),
    ({"earn_rate": "-1"}, "earn_rate", "Earn rate"),
    ({"point_value": "0.123456"}, "point_value", "Point value"),
    ({"expiry_months": "0"}, "expiry_months", "Expiry (months)"),
    ({"expiry_months": "soon"}, "expiry_months", "Expiry (months)"),
    ({"rule": {"action": "explode"}}, "rule", "Earning rule"),
    ({"rule": {"action": "remove", "id": 999}}, "rule", "Earning rule"),
    ({"rule": {"action": "add", "fields": {"name": "x", "kind": "multiplier", "value": "0.5"}}},
     "rule.value", "Value"),
    ({"rule": {"action": "add", "fields": {"kind": "fixed", "value": "5"}}}, "rule.name", "Name"),
    ({}, "__all__", "changes nothing"),
])
def test_a_bad_scenario_names_the_field(plain, data, key, label):
    with pytest.raises(ValidationError) as raised:
        scenario_from_data(data)
    errors = raised.value.message_dict
    assert key in errors, errors
    assert label in " ".join(errors[key])


def test_tier_thresholds_must_keep_their_order(plain):
    TierFactory(code="silver", rank=1, threshold=Decimal("500"))
    gold = TierFactory(code="gold", rank=2, threshold=Decimal("1500"))
    with pytest.raises(ValidationError) as raised:
        scenario_from_data({"tier_thresholds": {str(gold.pk): "400"}})
    assert "gold (400) must need more than silver (500.00)" in raised.value.message_dict["tier_thresholds"][0]


def test_a_scenario_survives_its_json(plain):
    rule = EarnRuleFactory(kind="fixed", value=Decimal("10"))
    data = {"earn_rate": "1.25", "point_value": "0.02", "expiry_months": "never",
            "rule": {"action": "change", "id": rule.pk, "fields": {"value": "15"}}}
    scenario = scenario_from_data(data)
    assert scenario_from_data(scenario.as_data()) == scenario


# -- PostgreSQL: a task delivered twice at once runs once -----------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_the_task_at_once_run_the_simulation_once(monkeypatch):
    from analytics.models import Simulation
    from analytics.services import whatif as service

    ProgramFactory(timezone="Europe/Warsaw")
    History(StoreFactory(code="WAW", timezone="Europe/Warsaw")).buy(
        MemberFactory(enrolled_at=at(2024, 1, 1)), timezone.now() - dt.timedelta(days=30), "10.00")
    simulation = Simulation.objects.create(scenario={"earn_rate": "2"})
    replays = []
    replay = service.whatif_replay

    def counted(scenario):
        replays.append(threading.current_thread().name)
        return replay(scenario)

    monkeypatch.setattr(service, "whatif_replay", counted)
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def deliver(name: str) -> None:
        try:
            barrier.wait(10)
            results[name] = service.simulation_run(simulation_id=simulation.pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(name,), name=name) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(result is None for result in results.values()) == [False, True]
    assert len(replays) == 1
    simulation.refresh_from_db()
    assert simulation.status == Simulation.Status.DONE
    assert simulation.result["scenario"]["points_earned"] == 2 * simulation.result["actual"]["points_earned"] == 20
