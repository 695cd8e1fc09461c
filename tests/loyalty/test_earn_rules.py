"""Earning rules in the earn paths: the model's checks, the cached active rules, the
live and bulk paths giving the same points and breakdown."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from loyalty.earning import earning_simulate, purchase_earning
from loyalty.ledger.bulk import BulkLedger
from loyalty.models import (
    EarnRule,
    LedgerEntry,
    MemberTier,
    Purchase,
    RuleUsage,
    Source,
    StampCard,
    Tier,
    TierChange,
)
from loyalty.segments import member_segments, members_segments, segment_register, segment_resolver
from loyalty.services.program import program_get
from loyalty.services.purchases import LineInput, purchase_record, refund_record
from loyalty.services.rules import SIMULATED_RULE_ID, active_rules, rule_delete, rule_save, rule_snapshot
from loyalty.services.tiers import tier_table, tiers_cache_clear
from members.models import Member
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)  # Monday 11:30 in Warsaw
LINES = [LineInput(sku="BEANS", category="coffee", quantity=Decimal("2"), amount=Decimal("30.00")),
         LineInput(sku="MUG", category="kitchen", amount=Decimal("15.50"))]


def make_rule(**kwargs) -> EarnRule:
    stores, tiers = kwargs.pop("stores", None), kwargs.pop("tiers", None)
    fields = {"name": "Promo", "kind": EarnRule.Kind.FIXED, "value": Decimal("10")} | kwargs
    return rule_save(rule=EarnRule(**fields), stores=stores, tiers=tiers)


def record(external_id, *, member, store, at=T0, amount="45.50", lines=LINES):
    return purchase_record(external_id=external_id, store=store, member=member, purchased_at=at, amount=amount,
                           lines=lines, source=Source.API, now=at + dt.timedelta(minutes=1))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"value": Decimal("0")}, "value"),
        ({"kind": EarnRule.Kind.MULTIPLIER, "value": Decimal("0.5")}, "value"),
        ({"starts_at": T0, "ends_at": T0}, "ends_at"),
        ({"weekdays": [7]}, "weekdays"),
        ({"weekdays": ["1"]}, "weekdays"),
        ({"hours_start": dt.time(9)}, "hours_end"),
        ({"hours_start": dt.time(9), "hours_end": dt.time(9)}, "hours_end"),
        ({"categories": "coffee"}, "categories"),
        ({"mode": EarnRule.Mode.BEST_OF_GROUP}, "group"),
    ],
)
def test_contradictory_settings_are_refused(fields, field):
    with pytest.raises(ValidationError) as caught:
        make_rule(**fields)
    assert field in caught.value.message_dict
    assert not EarnRule.objects.exists()


def test_a_live_purchase_stores_the_breakdown_base_first():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    double = make_rule(name="Double Monday", kind=EarnRule.Kind.MULTIPLIER, value=Decimal("2"), weekdays=[0])
    beans = make_rule(name="+5 a bag", kind=EarnRule.Kind.PER_UNIT, value=Decimal("5"), categories=["coffee"],
                      priority=1)
    result = record("P1", member=member, store=store)
    assert result.points == 45 + 10 + 45
    entry = LedgerEntry.objects.get(purchase=result.purchase, kind=LedgerEntry.Kind.EARN)
    assert entry.breakdown == [
        {"rule": "base", "label": "Base rate", "points": 45},
        {"rule": beans.pk, "label": "+5 a bag", "points": 10},
        {"rule": double.pk, "label": "Double Monday", "points": 45},
    ]


def test_store_conditions_and_local_hours_use_the_purchase_store():
    ProgramFactory()
    member, warsaw, new_york = MemberFactory(), StoreFactory(), StoreFactory(timezone="America/New_York")
    make_rule(hours_start=dt.time(11), hours_end=dt.time(12), stores=[warsaw, new_york])
    assert record("W", member=member, store=warsaw).points == 45 + 10
    assert record("N", member=member, store=new_york).points == 45  # 05:30 in New York


def test_the_first_purchase_bonus_is_given_once():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    make_rule(first_purchase_only=True, value=Decimal("50"))
    assert record("P1", member=member, store=store).points == 95
    assert record("P2", member=member, store=store, at=T0 + dt.timedelta(days=1)).points == 45
    # a purchase imported later but made before the first one was the first
    assert record("P0", member=member, store=store, at=T0 - dt.timedelta(days=1)).points == 95


def test_the_birthday_week_bonus_reads_the_member():
    ProgramFactory()
    store = StoreFactory()
    make_rule(birthday_week=True, value=Decimal("20"))
    assert record("B1", member=MemberFactory(birth_date=dt.date(1990, 6, 4)), store=store).points == 65
    assert record("B2", member=MemberFactory(birth_date=dt.date(1990, 7, 4)), store=store).points == 45


def test_history_is_earned_under_the_rules_in_force_at_purchased_at():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    make_rule(starts_at=T0 - dt.timedelta(days=7), ends_at=T0)
    assert record("OLD", member=member, store=store, at=T0 - dt.timedelta(days=1)).points == 55
    assert record("NOW", member=member, store=store).points == 45


def test_saving_and_deleting_a_rule_through_the_service_reaches_the_next_earn():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    assert record("P1", member=member, store=store).points == 45
    rule = make_rule()
    assert record("P2", member=member, store=store).points == 55
    rule.value = Decimal("30")
    rule_save(rule=rule)
    assert record("P3", member=member, store=store).points == 75
    rule.status = EarnRule.Status.PAUSED
    rule_save(rule=rule)
    assert record("P4", member=member, store=store).points == 45
    rule.status = EarnRule.Status.ACTIVE
    rule_save(rule=rule)
    rule_delete(rule=rule)
    assert record("P5", member=member, store=store).points == 45


def test_fifty_rules_cost_no_query_per_rule(django_assert_num_queries):
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    for n in range(50):
        make_rule(name=f"R{n}", value=Decimal("1"), weekdays=[n % 7], hours_start=dt.time(8), hours_end=dt.time(20),
                  categories=["coffee"] if n % 2 else [], stores=[store] if n % 3 else None,
                  min_spend=Decimal("10"), priority=n % 5)
    assert len(active_rules().rules) == 50
    tier_table()
    program = program_get()
    purchase = Purchase(store_id=store.pk, member_id=member.pk, purchased_at=T0, amount=Decimal("45.50"))
    with django_assert_num_queries(0):
        earning = purchase_earning(purchase=purchase, program=program)
    assert earning.points == 45 + sum(1 for n in range(50) if n % 7 == 0 and n % 2 == 0)


def test_reloading_the_rules_is_a_fixed_number_of_queries(django_assert_num_queries):
    store = StoreFactory()
    for n in range(50):
        make_rule(name=f"R{n}", stores=[store], hours_start=dt.time(8), hours_end=dt.time(20))
    with django_assert_num_queries(4):  # the rules, their stores and tiers, the stores' time zones
        active_rules()


def test_a_first_purchase_rule_costs_one_query_and_others_none(django_assert_num_queries):
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    make_rule()
    program = program_get()
    purchase = Purchase(store=store, member=member, purchased_at=T0, amount=Decimal("45.50"))
    active_rules(), tier_table()
    with django_assert_num_queries(0):
        purchase_earning(purchase=purchase, program=program)
    make_rule(first_purchase_only=True)
    active_rules()
    with django_assert_num_queries(1):
        assert purchase_earning(purchase=purchase, program=program).points == 65


def bulk_import(program, member, store, purchases):
    with BulkLedger(program=program, source=Source.IMPORT, now=T0 + dt.timedelta(days=30), threaded=False) as bulk:
        bulk.accounts_prepare([member.pk])
        for external_id, at in purchases:
            bulk.purchase_add(external_id=external_id, store_id=store.pk, member_id=member.pk, purchased_at=at,
                              amount=Decimal("45.50"), lines=LINES)
        bulk.account_close(member.pk)


def test_the_bulk_path_earns_what_the_live_path_earns():
    ProgramFactory()
    store = StoreFactory()
    live, bulk = MemberFactory(birth_date=dt.date(1990, 6, 3)), MemberFactory(birth_date=dt.date(1990, 6, 3))
    make_rule(name="Welcome", first_purchase_only=True, value=Decimal("50"), mode=EarnRule.Mode.EXCLUSIVE, priority=5)
    make_rule(name="Birthday", birthday_week=True, value=Decimal("20"), mode=EarnRule.Mode.BEST_OF_GROUP, group="g")
    make_rule(name="Beans", kind=EarnRule.Kind.PER_UNIT, value=Decimal("15"), categories=["coffee"],
              mode=EarnRule.Mode.BEST_OF_GROUP, group="g")
    make_rule(name="Lunch", hours_start=dt.time(11), hours_end=dt.time(14), kind=EarnRule.Kind.PERCENT,
              value=Decimal("10"))
    times = [("1", T0), ("2", T0 + dt.timedelta(hours=1)), ("3", T0 + dt.timedelta(hours=3))]
    for external_id, at in times:
        record(f"live-{external_id}", member=live, store=store, at=at)
    bulk_import(program_get(), bulk, store, [(f"bulk-{external_id}", at) for external_id, at in times])

    def earned(member):
        return [
            (purchase.points, [item["label"] for item in purchase.entries.get(kind="earn").breakdown])
            for purchase in Purchase.objects.filter(member=member).order_by("purchased_at")
        ]

    assert earned(live) == earned(bulk) == [
        (95, ["Base rate", "Welcome"]),  # exclusive: nothing of lower priority
        (79, ["Base rate", "Beans", "Lunch"]),  # 12:30 local; Beans (30) beats Birthday (20)
        (75, ["Base rate", "Beans"]),  # 14:30 local: no lunch
    ]


# -- the simulator and the till's preview --------------------------------------------


def test_a_draft_rule_is_simulated_with_its_stores_before_it_is_saved(django_assert_num_queries):
    ProgramFactory()
    store, other = StoreFactory(), StoreFactory()
    make_rule(name="Live", value=Decimal("5"))
    draft = EarnRule(name="Draft beans", kind=EarnRule.Kind.PER_UNIT, value=Decimal("3"), categories=["coffee"])
    snapshot = rule_snapshot(draft, rule_id=SIMULATED_RULE_ID, stores=[store])
    before = (Purchase.objects.count(), LedgerEntry.objects.count(), EarnRule.objects.count())
    result = earning_simulate(store=store, purchased_at=T0, amount=Decimal("45.50"), lines=LINES,
                              extra_rules=[snapshot])
    assert result.breakdown == [
        {"rule": "base", "label": "Base rate", "points": 45},
        {"rule": SIMULATED_RULE_ID, "label": "Draft beans", "points": 6},  # same priority, lower id
        {"rule": EarnRule.objects.get().pk, "label": "Live", "points": 5},
    ]
    elsewhere = earning_simulate(store=other, purchased_at=T0, amount=Decimal("45.50"), lines=LINES,
                                 extra_rules=[snapshot])
    assert elsewhere.points == 50  # the draft is for the first store only
    assert (Purchase.objects.count(), LedgerEntry.objects.count(), EarnRule.objects.count()) == before


def test_a_paused_rule_or_an_unsaved_edit_replaces_the_live_rule_in_a_simulation():
    ProgramFactory()
    store = StoreFactory()
    live = make_rule(name="Bonus", value=Decimal("5"))
    paused = make_rule(name="Paused", value=Decimal("7"), status=EarnRule.Status.PAUSED)
    live.value = Decimal("20")  # edited in the form, not saved
    result = earning_simulate(store=store, purchased_at=T0, amount=Decimal("10"),
                              extra_rules=[rule_snapshot(live), rule_snapshot(paused)])
    assert [(item["label"], item["points"]) for item in result.breakdown] == [
        ("Base rate", 10), ("Bonus", 20), ("Paused", 7),
    ]
    assert earning_simulate(store=store, purchased_at=T0, amount=Decimal("10")).points == 15


def test_a_simulation_takes_a_tier_or_the_members_own_context():
    ProgramFactory()
    store = StoreFactory()
    gold = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=Decimal("1000"), multiplier=Decimal("1.5"))
    tiers_cache_clear()
    make_rule(name="Gold only", value=Decimal("10"), tiers=[gold])
    make_rule(name="Welcome", value=Decimal("50"), first_purchase_only=True)
    anonymous = earning_simulate(store=store, purchased_at=T0, amount=Decimal("40"))
    assert anonymous.points == 40
    as_gold = earning_simulate(store=store, purchased_at=T0, amount=Decimal("40"), tier=gold)
    assert as_gold.breakdown == [
        {"rule": "base", "label": "Base rate", "points": 40},
        {"rule": "tier", "tier": gold.pk, "label": "gold", "points": 20},
        {"rule": EarnRule.objects.get(name="Gold only").pk, "label": "Gold only", "points": 10},
    ]
    member = MemberFactory()
    MemberTier.objects.create(member=member, tier=gold)
    own = earning_simulate(store=store, purchased_at=T0, amount=Decimal("40"), member=member)
    assert own.points == 40 + 20 + 10 + 50
    record("P1", member=member, store=store, amount="40")
    later = earning_simulate(store=store, purchased_at=T0 + dt.timedelta(days=1), amount=Decimal("40"), member=member)
    assert later.points == 40 + 20 + 10  # no longer the first purchase


def test_a_simulation_ignores_caps_unless_asked():
    ProgramFactory()
    store, member = StoreFactory(), MemberFactory()
    make_rule(name="Capped", value=Decimal("30"), member_cap=40, member_cap_period=EarnRule.CapPeriod.RULE)
    record("P1", member=member, store=store, amount="10")  # 30 of the 40 used
    plain = earning_simulate(store=store, purchased_at=T0, amount=Decimal("10"), member=member)
    assert plain.points == 40
    capped = earning_simulate(store=store, purchased_at=T0, amount=Decimal("10"), member=member, caps=True)
    assert capped.breakdown[-1] == {"rule": EarnRule.objects.get().pk, "label": "Capped", "points": 10,
                                    "capped": True}
    assert capped.points == 20


# -- tiers and segments in the earn --------------------------------------------------


def test_a_members_tier_multiplies_the_base_in_the_live_earn():
    ProgramFactory()
    store, member = StoreFactory(), MemberFactory()
    gold = TierFactory(code="gold", multiplier=Decimal("1.5"), threshold=Decimal("100000"))
    MemberTier.objects.create(member=member, tier=gold)
    make_rule(name="Bonus", value=Decimal("10"))
    result = record("P1", member=member, store=store, lines=[])
    entry = LedgerEntry.objects.get(purchase=result.purchase, kind=LedgerEntry.Kind.EARN)
    assert entry.breakdown == [
        {"rule": "base", "label": "Base rate", "points": 45},
        {"rule": "tier", "tier": gold.pk, "label": "gold", "points": 22},
        {"rule": EarnRule.objects.get().pk, "label": "Bonus", "points": 10},
    ]
    assert result.points == 77


def test_the_purchase_that_reaches_a_tier_upgrades_at_once_and_the_next_earns_with_it():
    ProgramFactory()
    store, member = StoreFactory(), MemberFactory()
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("100"), multiplier=Decimal("2"))
    first = record("P1", member=member, store=store, amount="60.00", lines=[])
    assert first.points == 60 and not MemberTier.objects.filter(member=member, tier=silver).exists()
    second = record("P2", member=member, store=store, amount="50.00", lines=[], at=T0 + dt.timedelta(hours=1))
    assert second.points == 50  # the upgrade comes with this earn, the multiplier from the next one
    assert MemberTier.objects.get(member=member).tier == silver
    assert member.tier_changes.get().to_tier == silver
    third = record("P3", member=member, store=store, amount="10.00", lines=[], at=T0 + dt.timedelta(hours=2))
    assert third.points == 20


def test_the_tier_is_read_only_when_a_tier_multiplies_or_a_rule_names_tiers(django_assert_num_queries):
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    plain = TierFactory(code="plain", multiplier=Decimal("1"))
    MemberTier.objects.create(member=member, tier=plain)
    program = program_get()
    purchase = Purchase(store=store, member=member, purchased_at=T0, amount=Decimal("45.50"))
    tier_table(), active_rules()
    with django_assert_num_queries(0):
        assert purchase_earning(purchase=purchase, program=program).points == 45
    make_rule(name="Plain members", tiers=[plain])
    tier_table(), active_rules()
    with django_assert_num_queries(1):
        assert purchase_earning(purchase=purchase, program=program).points == 55


def test_segments_come_from_the_registered_resolver_one_query_per_segment(django_assert_num_queries):
    ProgramFactory()
    store = StoreFactory()
    inside, outside = MemberFactory(first_name="Ada"), MemberFactory(first_name="Bob")
    rule = make_rule(name="Ada's segment", segments=[11, 12])
    assert record("P0", member=inside, store=store).points == 45  # no such segments: nobody is in them
    previous = segment_resolver()
    segment_register(lambda segment_id: Member.objects.filter(first_name="Ada") if segment_id == 11 else None)
    try:
        with django_assert_num_queries(1):  # segment 12 is unknown: no query for it
            assert member_segments(inside.pk, [11, 12]) == frozenset({11})
        assert member_segments(outside.pk, [11]) == frozenset()
        assert record("P1", member=inside, store=store).points == 55
        assert record("P2", member=outside, store=store).points == 45
        assert earning_simulate(store=store, purchased_at=T0, amount=Decimal("45.50"), member=inside).points == 55
        assert members_segments([inside.pk, outside.pk], [11, 12]) == {inside.pk: frozenset({11})}
    finally:
        segment_register(previous)  # the app's own (analytics)
    assert rule.segments == [11, 12]


@pytest.mark.parametrize("threaded", [False, True])  # the writer's thread: PostgreSQL only
def test_the_bulk_path_gives_the_live_paths_caps_stamps_and_tier_points(threaded):
    ProgramFactory()
    store = StoreFactory()
    gold = TierFactory(code="gold", multiplier=Decimal("1.5"), threshold=Decimal("100000"))
    live, bulk = MemberFactory(), MemberFactory()
    for member in (live, bulk):
        MemberTier.objects.create(member=member, tier=gold)
    card = make_rule(name="Card", kind=EarnRule.Kind.STAMPS, value=Decimal("30"), stamps_needed=2)
    beans = make_rule(name="Beans", kind=EarnRule.Kind.PER_UNIT, value=Decimal("10"), categories=["coffee"],
                      member_cap=35, member_cap_period=EarnRule.CapPeriod.DAY)
    times = [("1", T0), ("2", T0 + dt.timedelta(hours=1)), ("3", T0 + dt.timedelta(hours=2)),
             ("4", T0 + dt.timedelta(days=1))]
    for external_id, at in times:
        record(f"live-{external_id}", member=live, store=store, at=at)
    refund_at = T0 + dt.timedelta(days=2)
    refund_record(external_id="live-r", purchase=Purchase.objects.get(external_id="live-4"), amount="45.50",
                  refunded_at=refund_at, source=Source.API, now=refund_at)
    with BulkLedger(program=program_get(), source=Source.IMPORT, now=T0 + dt.timedelta(days=30),
                    threaded=threaded) as loader:
        loader.accounts_prepare([bulk.pk])
        added = {}
        for external_id, at in times:
            added[external_id] = loader.purchase_add(
                external_id=f"bulk-{external_id}", store_id=store.pk, member_id=bulk.pk, purchased_at=at,
                amount=Decimal("45.50"), lines=LINES,
            )
        loader.refund_add(external_id="bulk-r", purchase=added["4"], amount=Decimal("45.50"), refunded_at=refund_at)
        loader.account_close(bulk.pk)

    def earned(member):
        return [
            (purchase.points, purchase.points_kept, purchase.entries.get(kind="earn").breakdown)
            for purchase in Purchase.objects.filter(member=member).order_by("purchased_at")
        ]

    def usage(member):
        return sorted((scope.split(":")[1], points) for scope, points in RuleUsage.objects.filter(
            scope__startswith=f"m{member.pk}:").values_list("scope", "points"))

    assert earned(live) == earned(bulk)
    tier_item = {"rule": "tier", "tier": gold.pk, "label": "gold", "points": 22}
    assert earned(live)[:3] == [
        (45 + 22 + 20, 87, [BASE, tier_item, {"rule": beans.pk, "label": "Beans", "points": 20},
                            {"rule": card.pk, "label": "Card", "points": 0, "stamps": 1, "cards": 0}]),
        (45 + 22 + 15 + 30, 112, [BASE, tier_item, {"rule": beans.pk, "label": "Beans", "points": 15, "capped": True},
                                  {"rule": card.pk, "label": "Card", "points": 30, "stamps": 1, "cards": 1}]),
        (45 + 22, 67, [BASE, tier_item, {"rule": card.pk, "label": "Card", "points": 0, "stamps": 1, "cards": 0}]),
    ]
    assert usage(live) == usage(bulk) == [("2025-06-02", 35), ("2025-06-03", 20)]
    # the fourth purchase filled the second card; its refund takes the stamp back from the new, empty card
    assert StampCard.objects.get(member=live).stamps == StampCard.objects.get(member=bulk).stamps == 0
    assert StampCard.objects.get(member=live).completed == StampCard.objects.get(member=bulk).completed == 2


BASE = {"rule": "base", "label": "Base rate", "points": 45}


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"kind": "fixed", "value": Decimal("50"), "stamps_needed": 5}, "stamps_needed", "stamps_needed_not_stamps"),
        ({"kind": "fixed", "value": Decimal("50"), "member_cap_period": "day"}, "member_cap_period",
         "cap_period_without_cap"),
        ({"kind": "fixed", "value": Decimal("50"), "budget": 40}, "budget", "budget_below_bonus"),
    ],
)
def test_the_model_refuses_settings_that_contradict_each_other(fields, field, code):
    rule = EarnRule(name="Contradiction", **fields)
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert [error.code for error in caught.value.error_dict[field]] == [code]


def test_the_bulk_path_knows_first_purchases_without_a_query_per_purchase(django_assert_max_num_queries):
    """A load asks the database for earlier purchases once per chunk of accounts,
    and counts a purchase already in the database and one queued earlier in the load."""
    ProgramFactory()
    store = StoreFactory()
    make_rule(name="Welcome", first_purchase_only=True, value=Decimal("50"))
    old, fresh = MemberFactory(), MemberFactory()
    record("old-1", member=old, store=store, at=T0 - dt.timedelta(days=3))
    members = [old, fresh, *MemberFactory.create_batch(8)]
    with BulkLedger(program=program_get(), source=Source.IMPORT, now=T0 + dt.timedelta(days=30),
                    threaded=False) as bulk:
        bulk.accounts_prepare([member.pk for member in members])
        with django_assert_max_num_queries(4):  # blocks of ids only, whatever the count
            for day in range(3):
                for member in members:
                    bulk.purchase_add(external_id=f"b-{member.pk}-{day}", store_id=store.pk, member_id=member.pk,
                                      purchased_at=T0 + dt.timedelta(days=day), amount=Decimal("10.00"))
        bulk.account_close(fresh.pk)
        # Opened again while its purchases may still be queued: still not a first purchase.
        bulk.accounts_prepare([fresh.pk])
        bulk.purchase_add(external_id="b-fresh-late", store_id=store.pk, member_id=fresh.pk,
                          purchased_at=T0 + dt.timedelta(days=5), amount=Decimal("10.00"))
        for member in members:
            bulk.account_close(member.pk)
    firsts = {
        purchase.external_id for purchase in Purchase.objects.filter(source=Source.IMPORT)
        if any(item["label"] == "Welcome" for item in purchase.entries.get(kind="earn").breakdown)
    }
    assert firsts == {f"b-{member.pk}-0" for member in members if member != old}


# -- tiers reached in the middle of a history ------------------------------------------

HISTORY = [  # (kind, name, hours after T0, amount): the member crosses silver (100) with P3
    ("p", "P1", 0, "60.00"), ("r", "P1", 1, "30.00"), ("p", "P2", 2, "50.00"), ("p", "P3", 3, "30.00"),
    ("p", "P4", 4, "10.00"), ("p", "P5", 5, "200.00"), ("p", "P6", 6, "10.00"),
]


def replay_live(member, store, events, *, prefix="live"):
    copies = {}
    for kind, name, hours, amount in events:
        at = T0 + dt.timedelta(hours=hours)
        if kind == "p":
            copies[name] = purchase_record(external_id=f"{prefix}-{name}", store=store, member=member, purchased_at=at,
                                           amount=amount, source=Source.API, now=at).purchase
        else:
            refund_record(external_id=f"{prefix}-r-{name}", purchase=Purchase.objects.get(pk=copies[name].pk),
                          amount=amount, refunded_at=at, source=Source.API, now=at)


def replay_bulk(loader, member, store, events, *, in_database=()):
    added = {}
    for kind, name, hours, amount in events:
        at = T0 + dt.timedelta(hours=hours)
        if kind == "p":
            added[name] = loader.purchase_add(external_id=f"bulk-{name}", store_id=store.pk, member_id=member.pk,
                                              purchased_at=at, amount=Decimal(amount))
        else:
            purchase = added.get(name) or Purchase.objects.select_for_update().get(external_id=f"bulk-{name}")
            loader.refund_add(external_id=f"bulk-r-{name}", purchase=purchase, amount=Decimal(amount),
                              refunded_at=at)


def tier_history(member):
    return (
        [(purchase.points, purchase.points_kept) for purchase in Purchase.objects.filter(member=member)
         .order_by("purchased_at")],
        list(member.tier_changes.order_by("at", "pk").values_list("from_tier__code", "to_tier__code", "reason", "at")),
        MemberTier.objects.filter(member=member).values_list("tier__code", "since", "grace_until").first(),
    )


@pytest.mark.parametrize("threaded", [False, True])  # the writer's thread: PostgreSQL only
@pytest.mark.parametrize("metric", ["spend", "points"])
@pytest.mark.parametrize("split", [0, 2])  # the first events recorded live before the load (an existing account)
def test_a_tier_reached_mid_history_upgrades_the_load_as_live_use_would(metric, split, threaded):
    ProgramFactory(tier_metric=metric, tier_window_months=12)
    store = StoreFactory()
    TierFactory(code="silver", rank=1, threshold=Decimal("100"), multiplier=Decimal("2"))
    TierFactory(code="gold", rank=2, threshold=Decimal("300"), multiplier=Decimal("3"))
    live, bulk = MemberFactory(), MemberFactory()
    replay_live(live, store, HISTORY)
    replay_live(bulk, store, HISTORY[:split], prefix="bulk")  # an existing account: its window is read back
    with BulkLedger(program=program_get(), source=Source.IMPORT, now=T0 + dt.timedelta(days=30),
                    threaded=threaded) as loader:
        loader.accounts_prepare([bulk.pk])
        replay_bulk(loader, bulk, store, HISTORY[split:])
        loader.account_close(bulk.pk)
        assert loader.stats.tier_upgrades == 2
    expected = tier_history(live)
    assert tier_history(bulk) == expected
    points, changes, status = expected
    # P3 crosses silver (60 - 30 refunded + 50 + 30 = 110, in spend or points), P4 earns double,
    # P5 crosses gold (spend 320; points 130 + 400), P6 earns triple.
    assert points == [(60, 30), (50, 50), (30, 30), (20, 20), (400, 400), (30, 30)]
    assert [(to, at) for _from, to, _reason, at in changes] == [
        ("silver", T0 + dt.timedelta(hours=3)), ("gold", T0 + dt.timedelta(hours=5)),
    ]
    assert status == ("gold", T0 + dt.timedelta(hours=5), None)


def test_the_bulk_path_reads_tier_windows_once_per_chunk(django_assert_max_num_queries):
    """Existing accounts: their tiers and windows are two queries for the chunk, and the
    upgrades during the load none per member or purchase; an account opened again reads
    back what the load wrote for it."""
    ProgramFactory(tier_metric="spend", tier_window_months=12)
    store = StoreFactory()
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("100"), multiplier=Decimal("2"))
    members = MemberFactory.create_batch(10)
    for member in members:
        record(f"old-{member.pk}", member=member, store=store, at=T0 - dt.timedelta(days=400), amount="500.00")
        record(f"in-{member.pk}", member=member, store=store, at=T0 - dt.timedelta(days=1), amount="90.00")
    MemberTier.objects.update(tier=None)  # moved down by a review: 500 left the window, 90 is below silver
    TierChange.objects.all().delete()
    with BulkLedger(program=program_get(), source=Source.IMPORT, now=T0 + dt.timedelta(days=30),
                    threaded=False) as bulk:
        with django_assert_max_num_queries(9):  # lock, lots, standing, tiers, window (ids: no chunk size)
            bulk.accounts_prepare([member.pk for member in members], since=T0)
        with django_assert_max_num_queries(4):  # blocks of ids only, whatever the count
            for hours, amount in ((0, "20.00"), (1, "10.00")):
                for member in members:
                    bulk.purchase_add(external_id=f"b-{member.pk}-{hours}", store_id=store.pk, member_id=member.pk,
                                      purchased_at=T0 + dt.timedelta(hours=hours), amount=Decimal(amount))
        first = members[0]
        bulk.account_close(first.pk)
        bulk.accounts_prepare([first.pk])  # opened again: its tier is read back, not reached twice
        bulk.purchase_add(external_id="b-again", store_id=store.pk, member_id=first.pk,
                          purchased_at=T0 + dt.timedelta(hours=2), amount=Decimal("10.00"))
        assert bulk.stats.tier_upgrades == 10
    assert set(MemberTier.objects.values_list("tier", flat=True)) == {silver.pk}
    assert MemberTier.objects.count() == 10
    assert list(Purchase.objects.filter(external_id__startswith="b-").order_by("external_id").values_list(
        "external_id", "points").distinct()) == sorted(
        [(f"b-{member.pk}-0", 20) for member in members] + [(f"b-{member.pk}-1", 20) for member in members]
        + [("b-again", 20)]
    )
    assert TierChange.objects.filter(to_tier=silver, at=T0).count() == 10


def test_status_actions_apply_only_where_they_make_sense_and_a_copy_starts_paused():
    from loyalty.exceptions import RuleStatusUnchanged
    from loyalty.services.rules import rule_copy, rule_status_change

    ProgramFactory()
    store = StoreFactory()
    rule = make_rule(name="Weekend", stores=[store])
    assert rule_status_change(rule=rule, action="pause").status == EarnRule.Status.PAUSED
    assert not active_rules().rules
    rule_status_change(rule=rule, action="archive")
    with pytest.raises(RuleStatusUnchanged):
        rule_status_change(rule=rule, action="resume")
    copy = rule_copy(rule=rule, name="Weekend 2")
    assert (copy.status, list(copy.stores.all()), copy.pk != rule.pk) == (EarnRule.Status.PAUSED, [store], True)
