"""The pure earning-rules engine: every kind, every condition, stacking and the breakdown."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.rules import (
    BEST_OF_GROUP,
    EXCLUSIVE,
    FIXED,
    MULTIPLIER,
    PER_UNIT,
    PERCENT,
    STAMPS,
    Line,
    MemberContext,
    ProgramFacts,
    PurchaseFacts,
    RuleSnapshot,
    evaluate,
    evaluation_capped,
)

PROGRAM = ProgramFacts(earn_rate=Decimal("1"), timezone="Europe/Warsaw")
NOBODY = MemberContext()
# Monday 2 June 2025, 11:30 in Warsaw (CEST, UTC+2)
T0 = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)
LINES = (
    Line(sku="BEANS-1", category="coffee", quantity=Decimal("2"), amount=Decimal("30.00")),
    Line(sku="MUG", category="kitchen", quantity=Decimal("1"), amount=Decimal("15.50")),
)


def purchase(*, amount="45.50", at=T0, store_id=1, store_tz="Europe/Warsaw", lines=LINES):
    return PurchaseFacts(store_id=store_id, store_tz=store_tz, purchased_at=at, amount=Decimal(amount), lines=lines)


def rule(rule_id=1, kind=FIXED, value="10", **kwargs):
    return RuleSnapshot(id=rule_id, name=f"rule {rule_id}", kind=kind, value=Decimal(value), **kwargs)


def bonus(rules, *, p=None, member=NOBODY, program=PROGRAM):
    result = evaluate(purchase=p or purchase(), member=member, program=program, rules=rules)
    return sum(item.points for item in result.applied if item.rule_id != "base")


def test_without_rules_only_the_base_rate_counts():
    result = evaluate(purchase=purchase(), member=NOBODY, program=PROGRAM, rules=())
    assert result.points == 45
    assert result.breakdown == [{"rule": "base", "label": "Base rate", "points": 45}]


@pytest.mark.parametrize(
    ("kind", "value", "kwargs", "expected"),
    [
        (MULTIPLIER, "2", {}, 45),  # doubles floor(45.50) = 45
        (MULTIPLIER, "1.5", {}, 22),  # floor(45 x 0.5)
        (MULTIPLIER, "3", {"categories": frozenset({"coffee"})}, 60),  # base of the coffee lines x 2
        (PER_UNIT, "10", {"categories": frozenset({"coffee"})}, 20),  # 2 bags
        (PER_UNIT, "10", {"skus": frozenset({"MUG"})}, 10),
        (PER_UNIT, "2.5", {}, 7),  # 3 units of every line, floor(7.5)
        (FIXED, "50", {}, 50),
        (FIXED, "12.9", {}, 12),
        (PERCENT, "10", {}, 4),  # floor(4.55)
        (PERCENT, "10", {"skus": frozenset({"MUG"})}, 1),  # floor(1.55)
    ],
)
def test_each_kind_gives_its_points(kind, value, kwargs, expected):
    assert bonus([rule(kind=kind, value=value, **kwargs)]) == expected


def test_the_multiplier_follows_the_earn_rate():
    program = ProgramFacts(earn_rate=Decimal("0.5"), timezone="UTC")
    assert bonus([rule(kind=MULTIPLIER, value="2")], program=program) == 22  # base floor(22.75) = 22


@pytest.mark.parametrize(
    ("kwargs", "applies"),
    [
        ({"starts_at": T0}, True),
        ({"starts_at": T0 + dt.timedelta(seconds=1)}, False),
        ({"ends_at": T0}, False),  # the end is excluded
        ({"ends_at": T0 + dt.timedelta(seconds=1)}, True),
        ({"weekdays": frozenset({0})}, True),  # Monday
        ({"weekdays": frozenset({5, 6})}, False),
        ({"hours_start": dt.time(11), "hours_end": dt.time(12)}, True),  # local time, not 09:30 UTC
        ({"hours_start": dt.time(9), "hours_end": dt.time(10)}, False),
        ({"hours_start": dt.time(11, 30), "hours_end": dt.time(12)}, True),  # the start is included
        ({"hours_start": dt.time(10), "hours_end": dt.time(11, 30)}, False),  # the end is excluded
        ({"hours_start": dt.time(22), "hours_end": dt.time(12)}, True),  # runs past midnight
        ({"hours_start": dt.time(22), "hours_end": dt.time(11)}, False),
        ({"store_ids": frozenset({1, 2})}, True),
        ({"store_ids": frozenset({2})}, False),
        ({"categories": frozenset({"coffee"})}, True),
        ({"categories": frozenset({"tea"})}, False),
        ({"skus": frozenset({"MUG"})}, True),
        ({"skus": frozenset({"MUG-2"})}, False),
        ({"min_spend": Decimal("45.50")}, True),
        ({"min_spend": Decimal("45.51")}, False),
        ({"first_purchase_only": True}, False),
        ({"birthday_week": True}, False),
        ({"weekdays": frozenset({0}), "store_ids": frozenset({1}), "min_spend": Decimal("10")}, True),
        ({"weekdays": frozenset({0}), "store_ids": frozenset({1}), "min_spend": Decimal("100")}, False),
    ],
)
def test_each_condition_decides_whether_a_rule_applies(kwargs, applies):
    assert bonus([rule(**kwargs)]) == (10 if applies else 0)


def test_a_rule_needs_matching_lines_when_it_names_categories():
    assert bonus([rule(categories=frozenset({"coffee"}))], p=purchase(lines=())) == 0


def test_first_purchase_only_follows_the_member_context():
    assert bonus([rule(first_purchase_only=True)], member=MemberContext(is_first_purchase=True)) == 10


@pytest.mark.parametrize(
    ("birth", "applies"),
    [
        (dt.date(1990, 6, 2), True),
        (dt.date(1990, 5, 30), True),  # three days before
        (dt.date(1990, 6, 5), True),  # three days after
        (dt.date(1990, 6, 6), False),
        (dt.date(1990, 5, 29), False),
        (None, False),
    ],
)
def test_birthday_week_is_three_days_either_side(birth, applies):
    assert bonus([rule(birthday_week=True)], member=MemberContext(birth_date=birth)) == (10 if applies else 0)


def test_birthday_week_crosses_the_new_year_and_uses_the_program_time_zone():
    new_year = dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)  # already 1 January in Warsaw
    member = MemberContext(birth_date=dt.date(1990, 1, 4))
    assert bonus([rule(birthday_week=True)], p=purchase(at=new_year), member=member) == 10
    utc = ProgramFacts(earn_rate=Decimal("1"), timezone="UTC")  # still 31 December: 4 days before
    assert bonus([rule(birthday_week=True)], p=purchase(at=new_year), member=member, program=utc) == 0


def test_a_29_february_birthday_counts_as_28_february_in_common_years():
    at = dt.datetime(2025, 3, 3, 12, tzinfo=dt.UTC)
    leapling = MemberContext(birth_date=dt.date(2000, 2, 29))
    assert bonus([rule(birthday_week=True)], p=purchase(at=at), member=leapling) == 10


@pytest.mark.parametrize(
    ("at", "applies"),
    [
        # Happy hour 18:00-19:00 in New York, on both sides of the switch to daylight time (9 March 2025).
        (dt.datetime(2025, 3, 8, 23, 30, tzinfo=dt.UTC), True),  # 18:30 EST (UTC-5)
        (dt.datetime(2025, 3, 9, 23, 30, tzinfo=dt.UTC), False),  # 19:30 EDT (UTC-4)
        (dt.datetime(2025, 3, 9, 22, 30, tzinfo=dt.UTC), True),  # 18:30 EDT
        (dt.datetime(2025, 3, 8, 22, 30, tzinfo=dt.UTC), False),  # 17:30 EST
        # and back to standard time (2 November 2025)
        (dt.datetime(2025, 11, 1, 22, 30, tzinfo=dt.UTC), True),  # 18:30 EDT
        (dt.datetime(2025, 11, 2, 23, 30, tzinfo=dt.UTC), True),  # 18:30 EST
        (dt.datetime(2025, 11, 2, 22, 30, tzinfo=dt.UTC), False),  # 17:30 EST
    ],
)
def test_hours_are_the_store_local_time_across_daylight_saving(at, applies):
    happy_hour = rule(hours_start=dt.time(18), hours_end=dt.time(19))
    assert bonus([happy_hour], p=purchase(at=at, store_tz="America/New_York")) == (10 if applies else 0)


def test_weekdays_are_the_store_local_day():
    late_sunday_utc = dt.datetime(2025, 6, 1, 23, 30, tzinfo=dt.UTC)  # Monday 01:30 in Warsaw
    assert bonus([rule(weekdays=frozenset({0}))], p=purchase(at=late_sunday_utc)) == 10
    assert bonus([rule(weekdays=frozenset({0}))], p=purchase(at=late_sunday_utc, store_tz="UTC")) == 0


def ids(rules, **kw):
    result = evaluate(purchase=purchase(), member=NOBODY, program=PROGRAM, rules=rules, **kw)
    return [item.rule_id for item in result.applied]


def test_stacking_rules_all_apply_in_priority_order():
    assert ids([rule(1, priority=0), rule(2, priority=5), rule(3, priority=5)]) == ["base", 2, 3, 1]


def test_an_exclusive_rule_that_applies_shuts_out_lower_priorities_only():
    rules = [rule(1, priority=9), rule(2, priority=5, mode=EXCLUSIVE), rule(3, priority=1), rule(4, priority=5)]
    assert ids(rules) == ["base", 1, 2]  # rule 4 has the same priority but a higher id


def test_an_exclusive_rule_whose_conditions_fail_shuts_out_nothing():
    rules = [rule(2, priority=5, mode=EXCLUSIVE, min_spend=Decimal("100")), rule(3, priority=1)]
    assert ids(rules) == ["base", 3]


def test_of_a_group_only_the_rule_giving_most_points_applies():
    rules = [
        rule(1, FIXED, "20", priority=9, mode=BEST_OF_GROUP, group="coffee"),
        rule(2, PER_UNIT, "15", priority=1, mode=BEST_OF_GROUP, group="coffee", categories=frozenset({"coffee"})),
        rule(3, FIXED, "5", mode=BEST_OF_GROUP, group="other"),
        rule(4, FIXED, "1"),
    ]
    result = evaluate(purchase=purchase(), member=NOBODY, program=PROGRAM, rules=rules)
    assert result.breakdown == [
        {"rule": "base", "label": "Base rate", "points": 45},
        {"rule": 2, "label": "rule 2", "points": 30},  # beats rule 1's 20 despite its lower priority
        {"rule": 3, "label": "rule 3", "points": 5},
        {"rule": 4, "label": "rule 4", "points": 1},
    ]
    assert result.points == 45 + 30 + 5 + 1


def test_a_tie_in_a_group_goes_to_the_higher_priority():
    rules = [rule(1, priority=1, mode=BEST_OF_GROUP, group="g"), rule(2, priority=2, mode=BEST_OF_GROUP, group="g")]
    assert ids(rules) == ["base", 2]


def test_a_rule_giving_no_points_is_left_out_of_the_breakdown():
    assert ids([rule(1, PER_UNIT, "0.1", skus=frozenset({"MUG"}))]) == ["base"]  # floor(0.1)


def test_rule_bonuses_apply_even_when_the_base_gives_nothing():
    result = evaluate(purchase=purchase(amount="0.50"), member=NOBODY, program=PROGRAM, rules=[rule(1, FIXED, "50")])
    assert (result.points, result.breakdown) == (50, [{"rule": 1, "label": "rule 1", "points": 50}])


@pytest.mark.parametrize(
    ("kwargs", "member", "applies"),
    [
        ({"tier_ids": frozenset({7})}, MemberContext(tier_id=7), True),
        ({"tier_ids": frozenset({7, 8})}, MemberContext(tier_id=8), True),
        ({"tier_ids": frozenset({7})}, MemberContext(tier_id=8), False),
        ({"tier_ids": frozenset({7})}, NOBODY, False),  # no tier
        ({}, MemberContext(tier_id=8), True),  # no tiers named: everyone
        ({"segment_ids": frozenset({3})}, MemberContext(segment_ids=frozenset({3, 4})), True),
        ({"segment_ids": frozenset({3, 5})}, MemberContext(segment_ids=frozenset({5})), True),  # any of them
        ({"segment_ids": frozenset({3})}, MemberContext(segment_ids=frozenset({4})), False),
        ({"segment_ids": frozenset({3})}, NOBODY, False),
        ({}, MemberContext(segment_ids=frozenset({4})), True),
        ({"tier_ids": frozenset({7}), "segment_ids": frozenset({3})},
         MemberContext(tier_id=7, segment_ids=frozenset({3})), True),
        ({"tier_ids": frozenset({7}), "segment_ids": frozenset({3})},
         MemberContext(tier_id=7, segment_ids=frozenset({4})), False),
    ],
)
def test_tiers_and_segments_decide_whether_a_rule_applies(kwargs, member, applies):
    assert bonus([rule(**kwargs)], member=member) == (10 if applies else 0)


def gold(multiplier="1.5", tier_id=7):
    return MemberContext(tier_id=tier_id, tier_code="gold", tier_multiplier=Decimal(multiplier))


@pytest.mark.parametrize(
    ("multiplier", "amount", "tier_points"),
    [("1.5", "45.50", 22), ("2", "45.50", 45), ("1.25", "3.99", 0), ("1", "45.50", 0), ("1.01", "45.50", 0)],
)
def test_the_tier_multiplier_is_an_item_right_after_the_base(multiplier, amount, tier_points):
    result = evaluate(purchase=purchase(amount=amount), member=gold(multiplier), program=PROGRAM,
                      rules=[rule(1, FIXED, "5")])
    base = int(Decimal(amount))
    expected = [{"rule": "base", "label": "Base rate", "points": base}]
    if tier_points:
        expected.append({"rule": "tier", "tier": 7, "label": "gold", "points": tier_points})
    expected.append({"rule": 1, "label": "rule 1", "points": 5})
    assert result.breakdown == expected
    assert result.points == base + tier_points + 5


def test_the_tier_multiplies_the_base_only_never_a_bonus():
    double = rule(1, MULTIPLIER, "2")
    result = evaluate(purchase=purchase(), member=gold("2"), program=PROGRAM, rules=[double, rule(2, FIXED, "10")])
    assert [item["points"] for item in result.breakdown] == [45, 45, 45, 10]  # base, tier, x2, fixed


def stamp_rule(rule_id=50, needed=10, value="100", **kwargs):
    return rule(rule_id, STAMPS, value, stamps_needed=needed, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "lines", "current", "stamps", "cards", "points"),
    [
        ({}, LINES, 0, 1, 0, 0),  # a visit
        ({}, (), 9, 1, 1, 100),  # the visit that fills the card
        ({}, (), 19, 1, 2, 200),  # more on the card than needed (the rule was edited): total // needed
        ({"categories": frozenset({"coffee"})}, LINES, 0, 2, 0, 0),  # 2 bags
        ({"categories": frozenset({"coffee"})}, LINES, 8, 2, 1, 100),
        ({"categories": frozenset({"coffee"}), "needed": 2}, LINES, 1, 2, 1, 100),  # 3 stamps: one card, 1 left
        ({"skus": frozenset({"BEANS-1", "MUG"}), "needed": 2}, LINES, 1, 3, 2, 200),  # 4 stamps: two cards
        ({"categories": frozenset({"coffee"}), "value": "12.5", "needed": 2}, LINES, 0, 2, 1, 12),
        ({"categories": frozenset({"loose"})},
         (Line(sku="TEA", category="loose", quantity=Decimal("2.75"), amount=Decimal("9")),), 0, 2, 0, 0),
    ],
)
def test_a_stamp_card_counts_stamps_and_fills_cards(kwargs, lines, current, stamps, cards, points):
    kwargs = dict(kwargs)
    needed = kwargs.pop("needed", 10)
    value = kwargs.pop("value", "100")
    card = stamp_rule(needed=needed, value=value, **kwargs)
    result = evaluate(purchase=purchase(lines=lines), member=MemberContext(stamps={50: current}), program=PROGRAM,
                      rules=[card])
    item = result.breakdown[-1]
    assert item == {"rule": 50, "label": "rule 50", "points": points, "stamps": stamps, "cards": cards}
    assert result.stamps == {50: (stamps, cards)}
    assert result.points == 45 + points


def test_a_stamp_card_gives_nothing_without_matching_whole_units():
    half = (Line(sku="TEA", category="loose", quantity=Decimal("0.5"), amount=Decimal("9")),)
    card = stamp_rule(categories=frozenset({"loose"}))
    result = evaluate(purchase=purchase(lines=half), member=NOBODY, program=PROGRAM, rules=[card])
    assert result.stamps == {} and [item["rule"] for item in result.breakdown] == ["base"]
    coffee_card = stamp_rule(categories=frozenset({"coffee"}))
    result = evaluate(purchase=purchase(lines=half), member=NOBODY, program=PROGRAM, rules=[coffee_card])
    assert result.stamps == {}  # no coffee at all


def test_a_stamp_cards_conditions_hold_like_any_rule():
    card = stamp_rule(min_spend=Decimal("50"))
    assert evaluate(purchase=purchase(), member=NOBODY, program=PROGRAM, rules=[card]).stamps == {}
    card = stamp_rule(tier_ids=frozenset({7}))
    assert evaluate(purchase=purchase(), member=gold(), program=PROGRAM, rules=[card]).stamps == {50: (1, 0)}


def test_stamp_cards_stand_outside_exclusive_and_best_of_group_stacking():
    rules = [
        rule(1, FIXED, "30", priority=9, mode=EXCLUSIVE),
        rule(2, FIXED, "5", priority=1),
        stamp_rule(60, needed=2, priority=0, mode=EXCLUSIVE),
        stamp_rule(61, needed=5, priority=0, mode=BEST_OF_GROUP, group="g"),
        rule(3, FIXED, "500", priority=0, mode=BEST_OF_GROUP, group="g"),
    ]
    result = evaluate(purchase=purchase(), member=MemberContext(stamps={60: 1}), program=PROGRAM, rules=rules)
    assert [(item["rule"], item["points"]) for item in result.breakdown] == [
        ("base", 45), (1, 30), (60, 100), (61, 0),  # the exclusive rule shuts out 2 and 3, not the cards
    ]


@pytest.mark.parametrize(
    ("left", "expected", "total"),
    [
        ({}, [("base", 45, False), (1, 30, False), (2, 10, False)], 85),
        ({1: 30}, [("base", 45, False), (1, 30, False), (2, 10, False)], 85),  # exactly enough
        ({1: 12}, [("base", 45, False), (1, 12, True), (2, 10, False)], 67),
        ({1: 0}, [("base", 45, False), (2, 10, False)], 55),  # dropped
        ({1: -5}, [("base", 45, False), (2, 10, False)], 55),  # overspent earlier: nothing, never negative
        ({1: 3, 2: 4}, [("base", 45, False), (1, 3, True), (2, 4, True)], 52),
        ({50: 0}, [("base", 45, False), (1, 30, False), (2, 10, False), (50, 0, True)], 85),  # the card stays
    ],
)
def test_caps_reduce_items_and_the_total_follows(left, expected, total):
    rules = [rule(1, FIXED, "30", priority=2), rule(2, FIXED, "10", priority=1), stamp_rule(needed=2, value="40")]
    result = evaluate(purchase=purchase(), member=MemberContext(stamps={50: 1}) if 50 in left else NOBODY,
                      program=PROGRAM, rules=rules if 50 in left else rules[:2])
    capped = evaluation_capped(result, left=left)
    assert [(item.rule_id, item.points, item.capped) for item in capped.applied] == expected
    assert capped.points == total == sum(item["points"] for item in capped.breakdown)
    assert all(item.get("capped") is True for item in capped.breakdown if (item["rule"], True) in
               {(rule_id, flag) for rule_id, _points, flag in expected})


rule_strategy = st.builds(
    RuleSnapshot,
    id=st.integers(1, 10_000),
    name=st.just("r"),
    kind=st.sampled_from([MULTIPLIER, PER_UNIT, FIXED, PERCENT, STAMPS]),
    value=st.decimals(min_value=Decimal("1"), max_value=Decimal("50"), places=2),
    priority=st.integers(0, 3),
    mode=st.sampled_from(["stack", EXCLUSIVE, BEST_OF_GROUP]),
    group=st.sampled_from(["a", "b"]),
    categories=st.sampled_from([frozenset(), frozenset({"coffee"})]),
    min_spend=st.sampled_from([None, Decimal("10"), Decimal("1000")]),
    tier_ids=st.sampled_from([frozenset(), frozenset({1}), frozenset({1, 2})]),
    segment_ids=st.sampled_from([frozenset(), frozenset({5}), frozenset({5, 6})]),
    stamps_needed=st.integers(2, 12),
)
member_strategy = st.builds(
    MemberContext,
    is_first_purchase=st.booleans(),
    tier_id=st.sampled_from([None, 1, 2]),
    tier_code=st.just("t"),
    tier_multiplier=st.decimals(min_value=Decimal("1"), max_value=Decimal("3"), places=2),
    segment_ids=st.sampled_from([frozenset(), frozenset({5}), frozenset({6, 7})]),
    stamps=st.dictionaries(st.integers(1, 10_000), st.integers(0, 30), max_size=3),
)
lines_strategy = st.lists(
    st.builds(
        Line, sku=st.sampled_from(["A", "B"]), category=st.sampled_from(["coffee", "tea"]),
        quantity=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("20"), places=3),
        amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2),
    ),
    max_size=4,
).map(tuple)


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(rule_strategy, max_size=8, unique_by=lambda r: r.id),
    member=member_strategy,
    lines=lines_strategy,
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("10"), places=2),
    left=st.dictionaries(st.integers(1, 10_000), st.integers(-10, 200), max_size=4),
)
def test_the_breakdown_sums_to_the_total_and_nothing_is_negative(rules, member, lines, amount, rate, left):
    program = ProgramFacts(earn_rate=rate, timezone="UTC")
    result = evaluate(purchase=purchase(amount=str(amount), lines=lines), member=member, program=program, rules=rules)
    limits = {**left, **{r.id: left.get(r.id, 0) for r in rules[:2]}}  # some rules that may apply are capped
    capped = evaluation_capped(result, left=limits)
    for outcome in (result, capped):
        assert outcome.points == sum(item["points"] for item in outcome.breakdown) >= 0
        assert all(item["points"] > 0 or item.get("stamps", 0) > 0 for item in outcome.breakdown)
        applied = {item.rule_id for item in outcome.applied}
        stacked = [r for r in rules if r.id in applied and r.kind != STAMPS]
        groups = [r.group for r in stacked if r.mode == BEST_OF_GROUP]
        assert len(groups) == len(set(groups))  # at most one rule of each group
        assert sum(1 for r in stacked if r.mode == EXCLUSIVE) <= 1
    order = [item.rule_id for item in result.applied]
    if "tier" in order:
        assert member.tier_id is not None and order.index("tier") == order.count("base")  # right after the base
    for item in capped.applied:
        if item.rule_id in limits:
            assert item.points <= max(0, limits[item.rule_id])
    for rule_id, (stamps, cards) in result.stamps.items():
        card = next(r for r in rules if r.id == rule_id)
        assert stamps > 0 and cards == (member.stamps.get(rule_id, 0) + stamps) // card.stamps_needed
