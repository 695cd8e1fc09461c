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
    Line,
    MemberContext,
    ProgramFacts,
    PurchaseFacts,
    RuleSnapshot,
    evaluate,
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


rule_strategy = st.builds(
    RuleSnapshot,
    id=st.integers(1, 10_000),
    name=st.just("r"),
    kind=st.sampled_from([MULTIPLIER, PER_UNIT, FIXED, PERCENT]),
    value=st.decimals(min_value=Decimal("1"), max_value=Decimal("50"), places=2),
    priority=st.integers(0, 3),
    mode=st.sampled_from(["stack", EXCLUSIVE, BEST_OF_GROUP]),
    group=st.sampled_from(["a", "b"]),
    categories=st.sampled_from([frozenset(), frozenset({"coffee"})]),
    min_spend=st.sampled_from([None, Decimal("10"), Decimal("1000")]),
)


@settings(max_examples=200, deadline=None)
@given(
    rules=st.lists(rule_strategy, max_size=8, unique_by=lambda r: r.id),
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("10"), places=2),
)
def test_the_breakdown_sums_to_the_total_and_nothing_is_negative(rules, amount, rate):
    program = ProgramFacts(earn_rate=rate, timezone="UTC")
    result = evaluate(purchase=purchase(amount=str(amount)), member=NOBODY, program=program, rules=rules)
    assert result.points == sum(item["points"] for item in result.breakdown) >= 0
    assert all(item["points"] > 0 for item in result.breakdown)
    groups = [r.group for r in rules if r.mode == BEST_OF_GROUP and r.id in {i.rule_id for i in result.applied}]
    assert len(groups) == len(set(groups))  # at most one rule of each group
    assert sum(1 for r in rules if r.mode == EXCLUSIVE and r.id in {i.rule_id for i in result.applied}) <= 1
